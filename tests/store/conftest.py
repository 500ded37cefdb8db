"""Fixtures of the store's tests: every test that takes ``store`` (or ``location``) runs twice,
on a real SQLite file in tmp_path and on a fresh schema of a real PostgreSQL server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from pdsearch.store import Connector, Store

CONNECTOR_API_KEY = "u+sEcReT-KeY-123"

ENGINES = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
]


@pytest.fixture
def secret_key() -> bytes:
    return Fernet.generate_key()


@pytest.fixture(params=ENGINES)
def location(request: pytest.FixtureRequest, tmp_path: Path) -> str | Path:
    """Where a store lives: a file path (SQLite) or a URL (PostgreSQL); open it as often as a
    test likes, like two processes would."""
    if request.param == "sqlite":
        return tmp_path / "state.db"
    url = request.getfixturevalue("postgres_schema_url")
    assert isinstance(url, str)
    return url


@pytest.fixture
def store(location: str | Path, secret_key: bytes) -> Iterator[Store]:
    with Store(location, secret_key) as s:
        yield s


@pytest.fixture
def connector(store: Store) -> Connector:
    return store.connectors.create("Acme", "api_key", "us", {"api_key": CONNECTOR_API_KEY})
