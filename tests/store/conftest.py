"""Fixtures for the store's tests: a real SQLite file in tmp_path."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from pdsearch.store import Connector, Store


@pytest.fixture
def secret_key() -> bytes:
    return Fernet.generate_key()


@pytest.fixture
def store(tmp_path: Path, secret_key: bytes) -> Iterator[Store]:
    s = Store(tmp_path / "state.db", secret_key)
    yield s
    s.close()


@pytest.fixture
def connector(store: Store) -> Connector:
    return store.create_connector("Acme", "api_key", "us", {"api_key": "u+sEcReT-KeY-123"})
