"""Fixtures for the scheduler's tests: a real store in tmp_path and a recording trigger."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from pdsearch.store import Connector, Store


class RecordingTrigger:
    """Stands in for the sync service: records each start and creates its job, like it does.

    ``busy`` makes it refuse as the sync service does while a sync runs; ``error`` makes it
    fail to start with that exception.
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        self.calls: list[tuple[str, str]] = []
        self.error: Exception | None = None

    async def __call__(self, connector_id: str, trigger: str) -> str:
        self.calls.append((connector_id, trigger))
        if self.error is not None:
            raise self.error
        job = self.store.create_job(connector_id, trigger, status="succeeded")
        return job.id


@pytest.fixture
def key() -> bytes:
    return Fernet.generate_key()


@pytest.fixture
def state_path(tmp_path: Path) -> Path:
    return tmp_path / "state.db"


@pytest.fixture
def store(state_path: Path, key: bytes) -> Iterator[Store]:
    s = Store(state_path, key)
    yield s
    s.close()


@pytest.fixture
def connector(store: Store) -> Connector:
    return store.create_connector("Acme", "api_key", "us", {"api_key": "k"})


@pytest.fixture
def recorder(store: Store) -> RecordingTrigger:
    return RecordingTrigger(store)
