"""Copying the state into another store (what ``pdsearch migrate`` does), into either engine."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet
from legacy_state import ACME, API_KEY, GLOBEX, REFRESH, build_legacy_file

from pdsearch.store import INTERRUPTED_ERROR, ConflictError, Store, StoreError
from pdsearch.store.transfer import copy_state


def _blobs(store: Store) -> dict[str, bytes]:
    with store._db.read() as conn:
        rows = conn.execute(sa.text("SELECT id, credentials FROM connectors")).all()
    return {r[0]: bytes(r[1]) for r in rows}


def test_a_file_of_the_old_version_copied_whole(location: str | Path, tmp_path: Path) -> None:
    key = Fernet.generate_key()
    build_legacy_file(tmp_path / "old.db", key)
    with Store(tmp_path / "old.db", key) as source, Store(location, key) as target:
        report = copy_state(source, target)
        assert (report.connectors, report.schedules, report.entities, report.members,
                report.jobs) == (2, 1, 3, 5, 4)
        assert report.interrupted_jobs == 1
        assert not report.reencrypted
        assert not report.replaced
        # Same key: the encrypted blobs arrive byte for byte, never decrypted on the way.
        assert _blobs(target) == _blobs(source)
        assert target.connectors.get_credentials(ACME) == {"api_key": API_KEY}
        assert target.connectors.get(GLOBEX) == source.connectors.get(GLOBEX)
        assert target.schedules.list_records() == source.schedules.list_records()
        for cid in (ACME, GLOBEX):
            assert target.entities.list(cid) == source.entities.list(cid)
        assert target.entities.memberships("bob@acme.io") == {(ACME, "PT1")}
        source_jobs, target_jobs = source.jobs.list(ACME)[0], target.jobs.list(ACME)[0]
        assert [j.id for j in target_jobs] == [j.id for j in source_jobs]  # same order
        assert target.jobs.get("j-done") == source.jobs.get("j-done")
        # The job still queued in the old file cannot be running any more.
        moved = target.jobs.get("j-newest")
        assert moved.status == "failed"
        assert moved.error == INTERRUPTED_ERROR
        assert target.jobs.running(ACME) is None
        assert target.jobs.create(ACME, "manual").status == "queued"  # and jobs go on


def test_secrets_re_encrypted_when_the_keys_differ(location: str | Path, tmp_path: Path) -> None:
    old, new = Fernet.generate_key(), Fernet.generate_key()
    build_legacy_file(tmp_path / "old.db", old)
    with Store(tmp_path / "old.db", old) as source, Store(location, new) as target:
        report = copy_state(source, target)
        assert report.reencrypted
        assert target.connectors.get_credentials(GLOBEX)["refresh_token"] == REFRESH
    with Store(location, old) as with_old_key, pytest.raises(StoreError, match="decrypted"):
        with_old_key.connectors.get_credentials(ACME)


def test_a_target_holding_state_is_refused_unless_replaced(
    location: str | Path, tmp_path: Path
) -> None:
    key = Fernet.generate_key()
    build_legacy_file(tmp_path / "old.db", key)
    with Store(tmp_path / "old.db", key) as source, Store(location, key) as target:
        mine = target.connectors.create("Already here", "api_key", "us", {"api_key": "k"})
        with pytest.raises(ConflictError, match=r"already holds state \(1 connectors\).*--force"):
            copy_state(source, target)
        assert target.connectors.list()[0] == [mine]  # untouched
        report = copy_state(source, target, replace=True)
        assert report.replaced
        assert sorted(c.name for c in target.connectors.list()[0]) == ["Acme", "Globex"]


def test_a_store_is_not_copied_into_itself(tmp_path: Path) -> None:
    key = Fernet.generate_key()
    with Store(tmp_path / "s.db", key) as a, Store(tmp_path / "s.db", key) as b, pytest.raises(
        StoreError, match="same database"
    ):
        copy_state(a, b)
