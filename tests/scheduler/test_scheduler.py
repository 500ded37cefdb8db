"""The scheduler running on the event loop against a real store file."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from pdsearch.scheduler import SKIPPED_ERROR, ScheduleError, SyncAlreadyRunning, SyncScheduler
from pdsearch.store import Connector, NotFoundError, Store


class RecordingTrigger:
    """Stands in for the sync service: records each start and creates its job, like it does.
    With ``error`` set it fails to start with that exception instead."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.calls: list[tuple[str, str]] = []
        self.error: Exception | None = None

    async def __call__(self, connector_id: str, trigger: str) -> str:
        self.calls.append((connector_id, trigger))
        if self.error is not None:
            raise self.error
        return self.store.create_job(connector_id, trigger, status="succeeded").id


# Fixtures live here, not in a conftest.py: other test directories import helpers with
# ``from conftest import``, which a second conftest.py breaks.
@pytest.fixture
def key() -> bytes:
    return Fernet.generate_key()


@pytest.fixture
def state_path(tmp_path: Path) -> Path:
    return tmp_path / "state.db"


@pytest.fixture
def store(state_path: Path, key: bytes) -> Iterator[Store]:
    with Store(state_path, key) as s:
        yield s


@pytest.fixture
def connector(store: Store) -> Connector:
    return store.create_connector("Acme", "api_key", "us", {"api_key": "k"})


@pytest.fixture
def recorder(store: Store) -> RecordingTrigger:
    return RecordingTrigger(store)


async def wait_for(condition: Callable[[], bool], within: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


def iso_in(seconds: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat()


async def test_run_at_fires_once_and_is_cleared(
    store: Store, connector: Connector, recorder: RecordingTrigger
) -> None:
    sched = SyncScheduler(store, recorder)
    sched.start()
    try:
        described = sched.set(connector.id, {"run_at": iso_in(1.2)})
        assert described["run_at"].endswith("Z") and described["next_run_at"] is not None
        await wait_for(lambda: len(recorder.calls) == 1)
        await asyncio.sleep(0.5)
        assert recorder.calls == [(connector.id, "scheduled")]
        assert store.get_schedule(connector.id) is None
        assert sched.describe(connector.id) is None
        jobs, total = store.list_jobs(connector.id)
        assert total == 1 and jobs[0].trigger == "scheduled"
    finally:
        sched.shutdown()


async def test_interval_survives_restart(
    state_path: Path, key: bytes, store: Store, connector: Connector, recorder: RecordingTrigger
) -> None:
    first = SyncScheduler(store, recorder)
    first.start()
    before = first.set(connector.id, {"interval_minutes": 30})
    first.shutdown()
    store.close()

    with Store(state_path, key) as again:
        second = SyncScheduler(again, recorder)
        second.start()
        try:
            after = second.describe(connector.id)
            assert after is not None and after["interval_minutes"] == 30
            # Same rhythm as before the restart: the next run is where it was.
            assert after["next_run_at"] == before["next_run_at"]
            await asyncio.sleep(0.2)
            assert recorder.calls == []  # nothing was missed, nothing fires
        finally:
            second.shutdown()


async def test_missed_interval_runs_are_coalesced_into_one(
    state_path: Path, key: bytes, store: Store, connector: Connector, recorder: RecordingTrigger
) -> None:
    store.set_schedule(connector.id, {"interval_minutes": 10})
    # The service was down for five hours: thirty runs were missed.
    store.record_schedule_fired(connector.id, datetime.now(UTC) - timedelta(hours=5))
    sched = SyncScheduler(store, recorder)
    sched.start()
    try:
        await wait_for(lambda: len(recorder.calls) >= 1)
        await asyncio.sleep(0.5)
        assert len(recorder.calls) == 1
        described = sched.describe(connector.id)
        assert described is not None and described["next_run_at"] is not None
        last = datetime.fromisoformat(described["last_run_at"])
        assert datetime.now(UTC) - timedelta(seconds=5) < last <= datetime.now(UTC)
        nxt = datetime.fromisoformat(described["next_run_at"])
        assert datetime.now(UTC) < nxt <= datetime.now(UTC) + timedelta(minutes=10)
    finally:
        sched.shutdown()


async def test_missed_cron_run_fires_once_at_start(
    store: Store, connector: Connector, recorder: RecordingTrigger
) -> None:
    store.set_schedule(connector.id, {"cron": "0 * * * *"})
    store.record_schedule_fired(connector.id, datetime.now(UTC) - timedelta(hours=3))
    sched = SyncScheduler(store, recorder)
    sched.start()
    try:
        await wait_for(lambda: len(recorder.calls) >= 1)
        await asyncio.sleep(0.3)
        assert len(recorder.calls) == 1
        assert store.get_schedule(connector.id) == {"cron": "0 * * * *"}
    finally:
        sched.shutdown()


async def test_past_run_at_fires_once_after_restart(
    store: Store, connector: Connector, recorder: RecordingTrigger
) -> None:
    # Set while the service ran; its time passed while the service was down.
    store.set_schedule(connector.id, {"run_at": "2026-01-01T00:00:00Z"})
    sched = SyncScheduler(store, recorder)
    sched.start()
    try:
        await wait_for(lambda: len(recorder.calls) == 1)
        await asyncio.sleep(0.3)
        assert len(recorder.calls) == 1
        assert store.get_schedule(connector.id) is None
    finally:
        sched.shutdown()


async def test_overlapping_run_is_recorded_as_skipped(
    store: Store, connector: Connector, recorder: RecordingTrigger
) -> None:
    recorder.error = SyncAlreadyRunning("busy")
    sched = SyncScheduler(store, recorder)
    sched.start()
    try:
        sched.set(connector.id, {"run_at": iso_in(0.5)})
        await wait_for(lambda: store.list_jobs(connector.id)[1] == 1)
        job = store.list_jobs(connector.id)[0][0]
        assert (job.status, job.trigger, job.error) == ("skipped", "scheduled", SKIPPED_ERROR)
        assert job.finished_at is not None
    finally:
        sched.shutdown()


class ServiceBusy(Exception):
    """Like the sync service's own "already running" exception."""


async def test_callers_exception_types_and_store_state_mean_skipped(
    store: Store, connector: Connector, recorder: RecordingTrigger
) -> None:
    recorder.error = ServiceBusy("a sync is running")
    sched = SyncScheduler(store, recorder, already_running=(ServiceBusy,))
    sched.start()
    try:
        sched.set(connector.id, {"run_at": iso_in(0.3)})
        await wait_for(lambda: store.list_jobs(connector.id)[1] == 1)
        assert store.list_jobs(connector.id)[0][0].status == "skipped"
    finally:
        sched.shutdown()

    # Without the type, a queued or running job in the store also says "overlap".
    running = store.create_job(connector.id, "manual", status="running")
    recorder.error = RuntimeError("refused")
    sched = SyncScheduler(store, recorder)
    sched.start()
    try:
        sched.set(connector.id, {"run_at": iso_in(0.3)})
        await wait_for(lambda: store.list_jobs(connector.id)[1] == 3)
        newest = store.list_jobs(connector.id)[0][0]
        assert newest.status == "skipped" and newest.id != running.id
    finally:
        sched.shutdown()


async def test_failure_to_start_is_recorded(
    store: Store, connector: Connector, recorder: RecordingTrigger
) -> None:
    recorder.error = RuntimeError("The connector has no credentials; add an API key.")
    sched = SyncScheduler(store, recorder)
    sched.start()
    try:
        sched.set(connector.id, {"run_at": iso_in(0.3)})
        await wait_for(lambda: store.list_jobs(connector.id)[1] == 1)
        job = store.list_jobs(connector.id)[0][0]
        assert job.status == "failed" and job.error and "no credentials" in job.error
    finally:
        sched.shutdown()


async def test_deleted_connector_drops_its_schedule(
    store: Store, connector: Connector, recorder: RecordingTrigger
) -> None:
    recorder.error = NotFoundError("gone")
    sched = SyncScheduler(store, recorder)
    sched.start()
    try:
        sched.set(connector.id, {"interval_minutes": 5})
        store.record_schedule_fired(connector.id, datetime.now(UTC) - timedelta(hours=1))
        sched.shutdown()
        sched = SyncScheduler(store, recorder)
        sched.start()
        await wait_for(lambda: len(recorder.calls) == 1)
        await wait_for(lambda: store.get_schedule(connector.id) is None)
        assert store.list_jobs(connector.id)[1] == 0
    finally:
        sched.shutdown()


async def test_set_describe_remove(
    store: Store, connector: Connector, recorder: RecordingTrigger
) -> None:
    sched = SyncScheduler(store, recorder)
    assert sched.describe(connector.id) is None
    # Before start() the schedule is persisted and its next run worked out all the same.
    d = sched.set(connector.id, {"cron": "0 3 * * *"})
    assert d["cron"] == "0 3 * * *" and d["next_run_at"].endswith("03:00:00Z")
    d = sched.set(connector.id, {"interval_minutes": 60})
    in_an_hour = datetime.now(UTC) + timedelta(hours=1)
    nxt = datetime.fromisoformat(d["next_run_at"])
    assert in_an_hour - timedelta(seconds=2) <= nxt <= in_an_hour
    sched.start()
    try:
        d = sched.set(connector.id, {"interval_minutes": 60})
        assert set(d) == {"interval_minutes", "next_run_at", "last_run_at"}
        assert d["last_run_at"] is None
        assert store.get_schedule(connector.id) == {"interval_minutes": 60}
        with pytest.raises(ScheduleError):
            sched.set(connector.id, {"interval_minutes": 0})
        assert store.get_schedule(connector.id) == {"interval_minutes": 60}
        with pytest.raises(NotFoundError):
            sched.set("nope", {"interval_minutes": 5})
        assert sched.remove(connector.id) is True
        assert sched.remove(connector.id) is False
        assert sched.describe(connector.id) is None
        await asyncio.sleep(0.1)
        assert recorder.calls == []
    finally:
        sched.shutdown()


async def test_invalid_stored_schedule_is_ignored_at_start(
    store: Store, connector: Connector, recorder: RecordingTrigger
) -> None:
    other = store.create_connector("Other", "api_key", "us", {"api_key": "k"})
    store.set_schedule(connector.id, {"cron": "not a cron"})
    store.set_schedule(other.id, {"interval_minutes": 15})
    sched = SyncScheduler(store, recorder)
    sched.start()
    try:
        described = sched.describe(other.id)
        assert described is not None and described["next_run_at"] is not None
    finally:
        sched.shutdown()


async def test_nothing_fires_after_shutdown(
    store: Store, connector: Connector, recorder: RecordingTrigger
) -> None:
    sched = SyncScheduler(store, recorder)
    sched.start()
    sched.set(connector.id, {"run_at": iso_in(0.3)})
    sched.shutdown()
    await asyncio.sleep(0.6)
    assert recorder.calls == []
    # The schedule is kept for the next start, which fires it (its time has passed).
    assert store.get_schedule(connector.id) is not None
    again = SyncScheduler(store, recorder)
    again.start()
    try:
        await wait_for(lambda: len(recorder.calls) == 1)
    finally:
        again.shutdown()


async def test_describe_keeps_the_time_zone(
    store: Store, connector: Connector, recorder: RecordingTrigger
) -> None:
    sched = SyncScheduler(store, recorder)
    sched.start()
    try:
        d = sched.set(connector.id, {"cron": "30 9 * * *", "timezone": "Asia/Kolkata"})
        assert d["timezone"] == "Asia/Kolkata"
        assert d["next_run_at"].endswith("04:00:00Z")  # 09:30 IST is 04:00 UTC
    finally:
        sched.shutdown()


async def test_follows_schedules_changed_by_another_process(
    state_path: Path, key: bytes, store: Store, connector: Connector, recorder: RecordingTrigger
) -> None:
    other = store.create_connector("Other", "api_key", "us", {"api_key": "k"})
    sched = SyncScheduler(store, recorder, reconcile_seconds=0.1)
    sched.start()
    try:
        sched.set(other.id, {"run_at": iso_in(0.8)})
        with Store(state_path, key) as elsewhere:  # e.g. the CLI
            elsewhere.set_schedule(connector.id, {"run_at": iso_in(0.6)})
            elsewhere.delete_schedule(other.id)
        await wait_for(lambda: len(recorder.calls) == 1)
        await asyncio.sleep(0.5)
        # The schedule set elsewhere fired; the one removed elsewhere did not.
        assert recorder.calls == [(connector.id, "scheduled")]
    finally:
        sched.shutdown()
