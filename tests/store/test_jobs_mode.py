"""A job's mode: recorded, shown, checked."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from pdsearch.store import InvalidValueError, Store


def _connector(store: Store) -> str:
    return store.connectors.create("acme", "api_key", "us", {"api_key": "k"}).id


def test_mode_is_recorded_and_defaults_to_full(tmp_path: Path) -> None:
    with Store(tmp_path / "state.db", Fernet.generate_key()) as store:
        cid = _connector(store)
        first = store.jobs.create(cid, "manual")
        store.jobs.update(first.id, status="succeeded")
        second = store.jobs.create(cid, "scheduled", mode="incremental")
        if first.mode != "full" or store.jobs.get(first.id).to_dict()["mode"] != "full":
            pytest.fail("a job created without a mode is a full sync")
        if store.jobs.get(second.id).mode != "incremental":
            pytest.fail("the mode given is the mode stored")


def test_unknown_mode_is_refused(tmp_path: Path) -> None:
    with Store(tmp_path / "state.db", Fernet.generate_key()) as store:
        cid = _connector(store)
        with pytest.raises(InvalidValueError, match="mode must be one of"):
            store.jobs.create(cid, "manual", mode="partial")
        if store.jobs.list(cid)[1] != 0:
            pytest.fail("a refused job leaves no record")
