from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pdsearch.store import (
    INTERRUPTED_ERROR,
    MAX_FAILURES,
    Connector,
    InvalidValueError,
    NotFoundError,
    Store,
)


def test_job_lifecycle(store: Store, connector: Connector) -> None:
    job = store.create_job(connector.id, "manual")
    assert job.status == "queued" and job.trigger == "manual"
    assert job.counts == {"added": 0, "updated": 0, "deleted": 0, "unchanged": 0, "failed": 0}
    assert job.started_at is None and job.duration_seconds is None
    assert store.running_job(connector.id) == job

    job = store.update_job(job.id, status="running", progress={"phase": "users", "done": 3,
                                                               "total": 10})
    assert job.started_at is not None and job.finished_at is None
    assert job.progress == {"phase": "users", "done": 3, "total": 10}
    assert job.duration_seconds is not None and job.duration_seconds >= 0

    job = store.update_job(
        job.id, status="succeeded", counts={"added": 5, "unchanged": 2}, requests=7,
        failures=[{"id": "P1", "reason": "unmappable"}],
    )
    assert job.finished_at is not None and job.finished
    assert job.counts["added"] == 5 and job.counts["deleted"] == 0
    assert job.failures == [{"id": "P1", "reason": "unmappable"}]
    assert store.running_job(connector.id) is None
    d = job.to_dict()
    assert d["status"] == "succeeded" and d["requests"] == 7
    for key in ("created_at", "started_at", "finished_at"):
        assert d[key].endswith("Z")
        datetime.fromisoformat(d[key])
    assert d["duration_seconds"] == job.duration_seconds


def test_explicit_times_and_duration(store: Store, connector: Connector) -> None:
    job = store.create_job(connector.id, "scheduled")
    start = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    job = store.update_job(job.id, started_at=start, finished_at=start + timedelta(seconds=90),
                           status="failed", error="PagerDuty answered 500 three times.")
    assert job.duration_seconds == 90.0 and job.error and "500" in job.error
    assert job.to_dict()["started_at"] == "2026-01-01T12:00:00Z"


def test_skipped_job_is_finished_at_creation(store: Store, connector: Connector) -> None:
    job = store.create_job(connector.id, "scheduled", status="skipped")
    assert job.finished_at is not None and job.finished
    assert store.running_job(connector.id) is None


def test_failures_are_capped(store: Store, connector: Connector) -> None:
    job = store.create_job(connector.id, "manual")
    many = [{"id": f"P{i}", "reason": "bad"} for i in range(MAX_FAILURES + 50)]
    job = store.update_job(job.id, failures=many, counts={"failed": len(many)})
    assert len(job.failures) == MAX_FAILURES and job.counts["failed"] == MAX_FAILURES + 50


def test_list_newest_first_with_paging(store: Store, connector: Connector) -> None:
    ids = [store.create_job(connector.id, "manual", status="succeeded").id for _ in range(5)]
    other = store.create_connector("Other", "api_key", "us", {"api_key": "k"})
    store.create_job(other.id, "manual")
    jobs, total = store.list_jobs(connector.id)
    assert total == 5 and [j.id for j in jobs] == ids[::-1]
    jobs, total = store.list_jobs(connector.id, skip=1, limit=2)
    assert total == 5 and [j.id for j in jobs] == [ids[3], ids[2]]


def test_bad_job_input(store: Store, connector: Connector) -> None:
    with pytest.raises(NotFoundError):
        store.create_job("nope", "manual")
    with pytest.raises(InvalidValueError):
        store.create_job(connector.id, "cron")
    job = store.create_job(connector.id, "manual")
    with pytest.raises(InvalidValueError):
        store.update_job(job.id, status="exploded")
    with pytest.raises(InvalidValueError):
        store.update_job(job.id, connector_id="x")
    with pytest.raises(NotFoundError):
        store.update_job("nope", status="running")
    with pytest.raises(NotFoundError):
        store.get_job("nope")


def test_interrupted_jobs_fail_on_restart(
    tmp_path: Path, secret_key: bytes, store: Store, connector: Connector
) -> None:
    queued = store.create_job(connector.id, "manual")
    running = store.create_job(connector.id, "scheduled", status="running")
    done = store.create_job(connector.id, "manual", status="succeeded")
    store.close()
    with Store(tmp_path / "state.db", secret_key) as again:
        assert again.fail_interrupted_jobs() == 2
        for job_id in (queued.id, running.id):
            job = again.get_job(job_id)
            assert job.status == "failed" and job.error == INTERRUPTED_ERROR
            assert job.finished_at is not None
        assert again.get_job(done.id).status == "succeeded"
        assert again.fail_interrupted_jobs() == 0


def test_concurrent_writers_from_threads(store: Store, connector: Connector) -> None:
    job = store.create_job(connector.id, "manual", status="running")
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(30):
                store.update_job(job.id, progress={"phase": "x", "done": i, "total": 30})
                store.create_job(connector.id, "manual", status="succeeded")
                store.list_jobs(connector.id, limit=5)
                store.update_credentials(connector.id, **{f"k{n}": str(i)})
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert store.list_jobs(connector.id)[1] == 1 + 4 * 30
    creds = store.get_credentials(connector.id)
    assert all(creds[f"k{n}"] == "29" for n in range(4))  # no lost updates


def test_two_stores_on_one_file(tmp_path: Path, secret_key: bytes, store: Store,
                                connector: Connector) -> None:
    # Like the CLI next to a running service: two connections writing at once wait for each
    # other (busy_timeout, BEGIN IMMEDIATE) instead of failing with "database is locked".
    with Store(tmp_path / "state.db", secret_key) as second:
        job = second.create_job(connector.id, "manual")
        assert store.get_job(job.id).id == job.id
        errors: list[BaseException] = []

        def work(s: Store) -> None:
            try:
                for _ in range(25):
                    j = s.create_job(connector.id, "manual", status="running")
                    s.update_job(j.id, status="succeeded", counts={"added": 1})
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(s,)) for s in (store, second) * 2]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert store.list_jobs(connector.id)[1] == 1 + 4 * 25


def test_old_finished_jobs_are_pruned(tmp_path: Path, secret_key: bytes) -> None:
    with Store(tmp_path / "s.db", secret_key, job_history=3) as s:
        c = s.create_connector("a", "api_key", "us", {"api_key": "k"})
        running = s.create_job(c.id, "manual", status="running")
        done = [s.create_job(c.id, "manual", status="succeeded").id for _ in range(5)]
        jobs, total = s.list_jobs(c.id)
        # The three newest are kept, and the running job however old it is.
        assert [j.id for j in jobs] == [*done[::-1][:3], running.id] and total == 4


def test_interrupted_jobs_spares_a_live_one(store: Store, connector: Connector) -> None:
    now = datetime.now(UTC)
    live = store.create_job(connector.id, "manual", status="running")
    store.update_job(live.id, progress={"phase": "users", "updated_at": now.isoformat()})
    other = store.create_connector("Other", "api_key", "us", {"api_key": "k"})
    dead = store.create_job(other.id, "manual", status="running")
    store.update_job(dead.id, started_at=now - timedelta(minutes=10),
                     progress={"updated_at": (now - timedelta(minutes=9)).isoformat()})
    assert store.fail_interrupted_jobs(older_than=timedelta(minutes=2)) == 1
    assert store.get_job(live.id).status == "running"
    assert store.get_job(dead.id).status == "failed"
