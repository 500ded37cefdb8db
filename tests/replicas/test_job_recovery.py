"""A replica starting marks jobs left running by a crash as failed, but never a job another live
replica (on another machine) is running: that one is told by its fresh heartbeat."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from pdsearch.store import INTERRUPTED_ERROR, Store
from pdsearch.sync.service import STALE_AFTER, running_elsewhere


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "state.db", Fernet.generate_key()) as s:
        yield s


def _running_job(store: Store, name: str, host: str, pid: int, beat: datetime) -> str:
    connector = store.connectors.create(name, "api_key", "us", {"api_key": "k"})
    job = store.jobs.create(connector.id, "manual", status="running")
    store.jobs.update(job.id, progress={
        "pid": pid, "host": host, "updated_at": beat.isoformat().replace("+00:00", "Z"),
    })
    return job.id


def _dead_pid() -> int:
    """A process id that no process has now (a child that has exited)."""
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    return pid


def test_a_starting_replica_spares_live_jobs_of_other_machines(store: Store) -> None:
    now = datetime.now(UTC)
    here = socket.gethostname()
    live_elsewhere = _running_job(store, "A", "replica-2.example", 1, now)
    stale_elsewhere = _running_job(
        store, "B", "replica-3.example", 1, now - STALE_AFTER - timedelta(seconds=5))
    dead_here = _running_job(store, "C", here, _dead_pid(), now)

    assert store.jobs.fail_interrupted(spare=running_elsewhere) == 2

    assert store.jobs.get(live_elsewhere).status == "running"
    for job_id in (stale_elsewhere, dead_here):
        job = store.jobs.get(job_id)
        assert (job.status, job.error) == ("failed", INTERRUPTED_ERROR)
