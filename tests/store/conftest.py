"""Fixtures of the store's tests: a real SQLite file per test and one connector in it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from pdsearch.store import Connector, Store

CONNECTOR_API_KEY = "u+sEcReT-KeY-123"


@pytest.fixture
def secret_key() -> bytes:
    return Fernet.generate_key()


@pytest.fixture
def store(tmp_path: Path, secret_key: bytes) -> Iterator[Store]:
    with Store(tmp_path / "state.db", secret_key) as s:
        yield s


@pytest.fixture
def connector(store: Store) -> Connector:
    return store.create_connector("Acme", "api_key", "us", {"api_key": CONNECTOR_API_KEY})
