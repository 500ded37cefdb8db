from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from pdsearch.store import (
    INTERRUPTED_ERROR,
    MAX_FAILURES,
    ConflictError,
    Connector,
    InvalidValueError,
    NotFoundError,
    Store,
)


def test_job_lifecycle(store: Store, connector: Connector) -> None:
    job = store.jobs.create(connector.id, "manual")
    assert job.status == "queued"
    assert job.trigger == "manual"
    assert job.counts == {"added": 0, "updated": 0, "deleted": 0, "unchanged": 0, "failed": 0}
    assert job.started_at is None
    assert job.duration_seconds is None
    assert store.jobs.running(connector.id) == job

    job = store.jobs.update(job.id, status="running",
                            progress={"phase": "users", "done": 3, "total": 10})
    assert job.started_at is not None
    assert job.finished_at is None
    assert job.progress == {"phase": "users", "done": 3, "total": 10}
    assert job.duration_seconds is not None
    assert job.duration_seconds >= 0
    started = job.started_at
    job = store.jobs.update(job.id, status="running")  # a second "running" keeps the start
    assert job.started_at == started

    job = store.jobs.update(
        job.id, status="succeeded", counts={"added": 5, "unchanged": 2}, requests=7,
        failures=[{"id": "P1", "reason": "unmappable"}],
    )
    assert job.finished_at is not None
    assert job.finished
    assert job.counts["added"] == 5
    assert job.counts["deleted"] == 0
    assert job.failures == [{"id": "P1", "reason": "unmappable"}]
    assert store.jobs.running(connector.id) is None
    assert store.jobs.get(job.id) == job
    d = job.to_dict()
    assert d["status"] == "succeeded"
    assert d["requests"] == 7
    for key in ("created_at", "started_at", "finished_at"):
        assert d[key].endswith("Z")
        datetime.fromisoformat(d[key])
    assert d["duration_seconds"] == job.duration_seconds


def test_explicit_times_and_duration(store: Store, connector: Connector) -> None:
    job = store.jobs.create(connector.id, "scheduled")
    start = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    job = store.jobs.update(job.id, started_at=start, finished_at=start + timedelta(seconds=90),
                            status="failed", error="PagerDuty answered 500 three times.")
    assert job.duration_seconds == 90.0
    assert job.error
    assert "500" in job.error
    assert job.to_dict()["started_at"] == "2026-01-01T12:00:00Z"
    other_zone = datetime(2026, 1, 1, 14, 0, tzinfo=timezone(timedelta(hours=2)))
    stored = store.jobs.update(job.id, started_at=other_zone).started_at
    assert stored == other_zone
    assert stored is not None
    assert stored.utcoffset() == timedelta(0)
    with pytest.raises(ValueError, match="time zone"):
        store.jobs.update(job.id, started_at=datetime(2026, 1, 1))


def test_skipped_job_is_finished_at_creation(store: Store, connector: Connector) -> None:
    job = store.jobs.create(connector.id, "scheduled", status="skipped")
    assert job.finished_at is not None
    assert job.finished
    assert store.jobs.running(connector.id) is None


def test_failures_are_capped(store: Store, connector: Connector) -> None:
    job = store.jobs.create(connector.id, "manual")
    many = [{"id": f"P{i}", "reason": "bad"} for i in range(MAX_FAILURES + 50)]
    job = store.jobs.update(job.id, failures=many, counts={"failed": len(many)})
    assert len(job.failures) == MAX_FAILURES
    assert job.counts["failed"] == MAX_FAILURES + 50


def test_list_newest_first_with_paging(store: Store, connector: Connector) -> None:
    ids = [store.jobs.create(connector.id, "manual", status="succeeded").id for _ in range(5)]
    other = store.connectors.create("Other", "api_key", "us", {"api_key": "k"})
    store.jobs.create(other.id, "manual")
    jobs, total = store.jobs.list(connector.id)
    assert total == 5
    assert [j.id for j in jobs] == ids[::-1]
    jobs, total = store.jobs.list(connector.id, skip=1, limit=2)
    assert total == 5
    assert [j.id for j in jobs] == [ids[3], ids[2]]


def test_bad_job_input(store: Store, connector: Connector) -> None:
    with pytest.raises(NotFoundError):
        store.jobs.create("nope", "manual")
    with pytest.raises(InvalidValueError):
        store.jobs.create(connector.id, "cron")
    job = store.jobs.create(connector.id, "manual")
    with pytest.raises(InvalidValueError):
        store.jobs.update(job.id, status="exploded")
    with pytest.raises(InvalidValueError):
        store.jobs.update(job.id, connector_id="x")
    with pytest.raises(NotFoundError):
        store.jobs.update("nope", status="running")
    with pytest.raises(NotFoundError):
        store.jobs.get("nope")


def test_interrupted_jobs_fail_on_restart(
    location: str | Path, secret_key: bytes, store: Store, connector: Connector
) -> None:
    other = store.connectors.create("Other", "api_key", "us", {"api_key": "k"})
    queued = store.jobs.create(connector.id, "manual")
    running = store.jobs.create(other.id, "scheduled", status="running")
    done = store.jobs.create(connector.id, "manual", status="succeeded")
    store.close()
    with Store(location, secret_key) as again:
        assert again.jobs.fail_interrupted() == 2
        for job_id in (queued.id, running.id):
            job = again.jobs.get(job_id)
            assert job.status == "failed"
            assert job.error == INTERRUPTED_ERROR
            assert job.finished_at is not None
        assert again.jobs.get(done.id).status == "succeeded"
        assert again.jobs.fail_interrupted() == 0


def test_interrupted_jobs_spares_a_live_one(store: Store, connector: Connector) -> None:
    now = datetime.now(UTC)
    live = store.jobs.create(connector.id, "manual", status="running")
    store.jobs.update(live.id, progress={"phase": "users", "updated_at": now.isoformat()})
    other = store.connectors.create("Other", "api_key", "us", {"api_key": "k"})
    dead = store.jobs.create(other.id, "manual", status="running")
    store.jobs.update(dead.id, started_at=now - timedelta(minutes=10),
                      progress={"updated_at": (now - timedelta(minutes=9)).isoformat()})
    third = store.connectors.create("Third", "api_key", "us", {"api_key": "k"})
    spared = store.jobs.create(third.id, "manual", status="running")
    store.jobs.update(spared.id, started_at=now - timedelta(minutes=10),
                      progress={"updated_at": (now - timedelta(minutes=9)).isoformat()})
    marked = store.jobs.fail_interrupted(older_than=timedelta(minutes=2),
                                         spare=lambda job: job.id == spared.id)
    assert marked == 1
    assert store.jobs.get(live.id).status == "running"
    assert store.jobs.get(dead.id).status == "failed"
    assert store.jobs.get(spared.id).status == "running"


def test_old_finished_jobs_are_pruned(location: str | Path, secret_key: bytes) -> None:
    with Store(location, secret_key, job_history=3) as s:
        c = s.connectors.create("a", "api_key", "us", {"api_key": "k"})
        running = s.jobs.create(c.id, "manual", status="running")
        done = [s.jobs.create(c.id, "manual", status="succeeded").id for _ in range(5)]
        jobs, total = s.jobs.list(c.id)
        # The three newest are kept, and the running job however old it is.
        assert [j.id for j in jobs] == [*done[::-1][:3], running.id]
        assert total == 4


# --- one sync of a connector at a time, across processes and replicas --------------------------


def test_a_second_active_job_is_refused(store: Store, connector: Connector) -> None:
    first = store.jobs.create(connector.id, "manual")
    with pytest.raises(ConflictError, match=first.id):
        store.jobs.create(connector.id, "scheduled")
    with pytest.raises(ConflictError):
        store.jobs.create(connector.id, "manual", status="running")
    # A skipped run is recorded beside it, and another connector is free.
    assert store.jobs.create(connector.id, "scheduled", status="skipped").finished
    other = store.connectors.create("Other", "api_key", "us", {"api_key": "k"})
    assert store.jobs.create(other.id, "manual").status == "queued"
    # Once the first finishes, the connector can be claimed again; a finished job cannot
    # come back to life beside the new one.
    store.jobs.update(first.id, status="succeeded")
    second = store.jobs.create(connector.id, "manual")
    with pytest.raises(ConflictError, match=second.id):
        store.jobs.update(first.id, status="running")
    assert store.jobs.running(connector.id) == second


def test_concurrent_claims_from_two_stores_admit_exactly_one(
    location: str | Path, secret_key: bytes, store: Store, connector: Connector
) -> None:
    # Two processes (or replicas) racing to start a sync of one connector, round after round.
    with Store(location, secret_key) as second:
        for _round in range(10):
            won, lost = _claim_race(connector.id, (store, second, store, second))
            assert len(won) == 1
            assert lost == 3
            store.jobs.update(won[0], status="succeeded")
        assert store.jobs.list(connector.id)[1] == 10


def _claim_race(connector_id: str, stores: tuple[Store, ...]) -> tuple[list[str], int]:
    """Each store tries to claim the connector at the same moment: the jobs made, and how
    many claims were refused."""
    won: list[str] = []
    lost: list[str] = []
    gate = threading.Barrier(len(stores))

    def claim(s: Store) -> None:
        gate.wait()
        try:
            won.append(s.jobs.create(connector_id, "manual").id)
        except ConflictError:
            lost.append("conflict")

    threads = [threading.Thread(target=claim, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return won, len(lost)


def test_cancel_requested_from_another_store(
    location: str | Path, secret_key: bytes, store: Store, connector: Connector
) -> None:
    job = store.jobs.create(connector.id, "manual", status="running")
    assert store.jobs.cancel_requested(job.id) is False
    assert store.jobs.get(job.id).cancel_requested is False
    with Store(location, secret_key) as elsewhere:
        assert elsewhere.jobs.request_cancel(job.id) is True
        assert elsewhere.jobs.request_cancel(job.id) is True  # asking twice is harmless
    assert store.jobs.cancel_requested(job.id) is True
    assert store.jobs.get(job.id).cancel_requested is True
    done = store.jobs.update(job.id, status="canceled")
    assert done.cancel_requested
    assert "cancel_requested" not in done.to_dict()
    assert store.jobs.request_cancel(job.id) is False  # finished: nothing to stop
    with pytest.raises(NotFoundError):
        store.jobs.request_cancel("nope")
    with pytest.raises(NotFoundError):
        store.jobs.cancel_requested("nope")


def test_concurrent_writers_from_threads(store: Store, connector: Connector) -> None:
    job = store.jobs.create(connector.id, "manual", status="running")
    others = [store.connectors.create(f"c{n}", "api_key", "us", {"api_key": "k"})
              for n in range(4)]
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(30):
                store.jobs.update(job.id, progress={"phase": "x", "done": i, "total": 30})
                store.jobs.create(connector.id, "manual", status="succeeded")
                store.jobs.list(connector.id, limit=5)
                store.connectors.update_credentials(connector.id, **{f"k{n}": str(i)})
                claim = store.jobs.create(others[n].id, "manual")
                store.jobs.update(claim.id, status="succeeded")
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert store.jobs.list(connector.id)[1] == 1 + 4 * 30
    creds = store.connectors.get_credentials(connector.id)
    assert all(creds[f"k{n}"] == "29" for n in range(4))  # no lost updates


def test_two_stores_writing_at_once(
    location: str | Path, secret_key: bytes, store: Store, connector: Connector
) -> None:
    # Like the CLI next to a running service: two connections writing at once wait for each
    # other instead of failing with "database is locked".
    with Store(location, secret_key) as second:
        job = second.jobs.create(connector.id, "manual", status="succeeded")
        assert store.jobs.get(job.id).id == job.id
        errors: list[BaseException] = []

        def work(s: Store) -> None:
            try:
                for _ in range(25):
                    j = s.jobs.create(connector.id, "manual", status="succeeded")
                    s.jobs.update(j.id, counts={"added": 1})
                    s.connectors.update_credentials(connector.id, last=j.id)
            except BaseException as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(s,)) for s in (store, second) * 2]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert store.jobs.list(connector.id)[1] == 1 + 4 * 25
