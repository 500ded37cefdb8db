"""The scheduler against a real store, on a fake clock: each test moves time itself and runs the
scheduler's turns (``tick()``), so nothing sleeps and nothing depends on the wall clock."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from clock import FakeClock
from cryptography.fernet import Fernet

from pdsearch.scheduler import (
    LEASE_NAME,
    SKIPPED_ERROR,
    ScheduleError,
    SyncAlreadyRunning,
    SyncScheduler,
)
from pdsearch.store import Connector, NotFoundError, Store

START = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


class RecordingTrigger:
    """Stands in for the connector service: records each start and creates its job, like it
    does. With ``error`` set it fails to start with that exception instead."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.calls: list[tuple[str, str, str]] = []
        self.error: Exception | None = None

    async def __call__(self, connector_id: str, trigger: str, mode: str) -> str:
        self.calls.append((connector_id, trigger, mode))
        if self.error is not None:
            raise self.error
        return self.store.jobs.create(connector_id, trigger, status="succeeded", mode=mode).id


# Fixtures live here, not in a conftest.py: other test directories import helpers with
# ``from conftest import``, which a second conftest.py breaks.
@pytest.fixture
def key() -> bytes:
    return Fernet.generate_key()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def location(request: pytest.FixtureRequest, tmp_path: Path) -> str | Path:
    """A real SQLite file, or a fresh schema of the session's PostgreSQL server."""
    if request.param == "sqlite":
        return tmp_path / "state.db"
    url = request.getfixturevalue("postgres_schema_url")
    assert isinstance(url, str)
    return url


@pytest.fixture
def store(location: str | Path, key: bytes) -> Iterator[Store]:
    with Store(location, key) as s:
        yield s


@pytest.fixture
def connector(store: Store) -> Connector:
    return store.connectors.create("Acme", "api_key", "us", {"api_key": "k"})


@pytest.fixture
def recorder(store: Store) -> RecordingTrigger:
    return RecordingTrigger(store)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START, waits=True)


def scheduler(store: Store, trigger: RecordingTrigger, clock: FakeClock, *,
              already_running: tuple[type[BaseException], ...] = ()) -> SyncScheduler:
    return SyncScheduler(store, trigger, clock=clock, already_running=already_running)


def iso_in(clock: FakeClock, seconds: float) -> str:
    return (clock.now() + timedelta(seconds=seconds)).isoformat()


async def test_run_at_fires_once_and_is_cleared(
    store: Store, connector: Connector, recorder: RecordingTrigger, clock: FakeClock
) -> None:
    sched = scheduler(store, recorder, clock)
    described = sched.set(connector.id, {"run_at": iso_in(clock, 60)})
    assert described["run_at"] == "2030-01-01T12:01:00Z"
    assert described["next_run_at"] == "2030-01-01T12:01:00Z"
    assert await sched.tick() == 0
    clock.advance(59)
    assert await sched.tick() == 0
    assert recorder.calls == []
    clock.advance(1)
    assert await sched.tick() == 1
    clock.advance(600)
    assert await sched.tick() == 0
    assert recorder.calls == [(connector.id, "scheduled", "full")]
    assert store.schedules.get(connector.id) is None
    assert sched.describe(connector.id) is None
    jobs, total = store.jobs.list(connector.id)
    assert total == 1
    assert jobs[0].trigger == "scheduled"


async def test_interval_keeps_its_rhythm_across_a_restart(
    location: str | Path, key: bytes, store: Store, connector: Connector,
    recorder: RecordingTrigger, clock: FakeClock,
) -> None:
    first = scheduler(store, recorder, clock)
    before = first.set(connector.id, {"interval_minutes": 30})
    assert before["next_run_at"] == "2030-01-01T12:30:00Z"
    assert before["last_run_at"] is None
    await first.tick()
    first.shutdown()
    clock.advance(600)
    with Store(location, key) as again:
        second = scheduler(again, RecordingTrigger(again), clock)
        after = second.describe(connector.id)
        assert after is not None
        assert after["next_run_at"] == before["next_run_at"]
        assert await second.tick() == 0  # nothing was missed, nothing fires
        clock.advance(20 * 60)
        assert await second.tick() == 1
        fired = second.describe(connector.id)
        assert fired is not None
        assert (fired["last_run_at"], fired["next_run_at"]) == (
            "2030-01-01T12:30:00Z", "2030-01-01T13:00:00Z")
        second.shutdown()


async def test_missed_interval_runs_are_coalesced_into_one(
    store: Store, connector: Connector, recorder: RecordingTrigger, clock: FakeClock
) -> None:
    store.schedules.set(connector.id, {"interval_minutes": 10}, at=START - timedelta(hours=6))
    # No leader for five hours: thirty runs were missed.
    store.schedules.record_fired(connector.id, START - timedelta(hours=5))
    sched = scheduler(store, recorder, clock)
    assert await sched.tick() == 1
    clock.advance(1)
    assert await sched.tick() == 0
    assert len(recorder.calls) == 1
    described = sched.describe(connector.id)
    assert described is not None
    assert described["last_run_at"] == "2030-01-01T12:00:00Z"
    assert described["next_run_at"] == "2030-01-01T12:10:00Z"


async def test_missed_cron_run_fires_once(
    store: Store, connector: Connector, recorder: RecordingTrigger, clock: FakeClock
) -> None:
    store.schedules.set(connector.id, {"cron": "0 * * * *"}, at=START - timedelta(hours=4))
    store.schedules.record_fired(connector.id, START - timedelta(hours=3))
    sched = scheduler(store, recorder, clock)
    assert await sched.tick() == 1
    assert await sched.tick() == 0
    assert store.schedules.get(connector.id) == {"cron": "0 * * * *"}
    described = sched.describe(connector.id)
    assert described is not None
    assert described["next_run_at"] == "2030-01-01T13:00:00Z"
    clock.set(datetime(2030, 1, 1, 13, 0, 0, tzinfo=UTC))
    assert await sched.tick() == 1
    assert len(recorder.calls) == 2


async def test_past_run_at_fires_once_after_a_restart(
    store: Store, connector: Connector, recorder: RecordingTrigger, clock: FakeClock
) -> None:
    # Set while a service ran; its time passed while no service was up.
    store.schedules.set(connector.id, {"run_at": "2029-06-01T00:00:00Z"},
                        at=datetime(2029, 1, 1, tzinfo=UTC))
    sched = scheduler(store, recorder, clock)
    assert await sched.tick() == 1
    assert await sched.tick() == 0
    assert len(recorder.calls) == 1
    assert store.schedules.get(connector.id) is None


async def test_overlapping_run_is_recorded_as_skipped(
    store: Store, connector: Connector, recorder: RecordingTrigger, clock: FakeClock
) -> None:
    recorder.error = SyncAlreadyRunning("busy")
    sched = scheduler(store, recorder, clock)
    sched.set(connector.id, {"interval_minutes": 5}, mode="incremental")
    clock.advance(300)
    assert await sched.tick() == 1
    job = store.jobs.list(connector.id)[0][0]
    assert (job.status, job.trigger, job.mode, job.error) == (
        "skipped", "scheduled", "incremental", SKIPPED_ERROR)
    assert job.finished_at is not None


class ServiceBusy(Exception):
    """Like the sync service's own "already running" exception."""


async def test_callers_exception_types_and_store_state_mean_skipped(
    store: Store, connector: Connector, recorder: RecordingTrigger, clock: FakeClock
) -> None:
    recorder.error = ServiceBusy("a sync is running")
    sched = scheduler(store, recorder, clock, already_running=(ServiceBusy,))
    sched.set(connector.id, {"run_at": iso_in(clock, 1)})
    clock.advance(1)
    await sched.tick()
    assert store.jobs.list(connector.id)[0][0].status == "skipped"
    sched.shutdown()

    # Without the type, a queued or running job in the store also says "overlap".
    running = store.jobs.create(connector.id, "manual", status="running")
    recorder.error = RuntimeError("refused")
    sched = scheduler(store, recorder, clock)
    sched.set(connector.id, {"run_at": iso_in(clock, 1)})
    clock.advance(1)
    await sched.tick()
    newest = store.jobs.list(connector.id)[0][0]
    assert newest.status == "skipped"
    assert newest.id != running.id


async def test_failure_to_start_is_recorded(
    store: Store, connector: Connector, recorder: RecordingTrigger, clock: FakeClock
) -> None:
    recorder.error = RuntimeError("The connector has no credentials; add an API key.")
    sched = scheduler(store, recorder, clock)
    sched.set(connector.id, {"run_at": iso_in(clock, 1)})
    clock.advance(1)
    await sched.tick()
    job = store.jobs.list(connector.id)[0][0]
    assert job.status == "failed"
    assert job.error
    assert "no credentials" in job.error


async def test_deleted_connector_drops_its_schedules(
    store: Store, connector: Connector, recorder: RecordingTrigger, clock: FakeClock
) -> None:
    recorder.error = NotFoundError("gone")
    sched = scheduler(store, recorder, clock)
    sched.set(connector.id, {"interval_minutes": 5})
    sched.set(connector.id, {"interval_minutes": 60}, mode="incremental")
    clock.advance(300)
    assert await sched.tick() == 1
    assert store.schedules.list_records(connector.id) == []
    assert store.jobs.list(connector.id)[1] == 0


async def test_set_describe_remove(
    store: Store, connector: Connector, recorder: RecordingTrigger, clock: FakeClock
) -> None:
    sched = scheduler(store, recorder, clock)
    assert sched.describe(connector.id) is None
    d = sched.set(connector.id, {"cron": "0 3 * * *"})
    assert d["cron"] == "0 3 * * *"
    assert d["next_run_at"] == "2030-01-02T03:00:00Z"
    d = sched.set(connector.id, {"interval_minutes": 60})
    assert set(d) == {"interval_minutes", "mode", "next_run_at", "last_run_at"}
    assert (d["mode"], d["next_run_at"], d["last_run_at"]) == (
        "full", "2030-01-01T13:00:00Z", None)
    inc = sched.set(connector.id, {"interval_minutes": 5}, mode="incremental")
    assert inc["mode"] == "incremental"
    assert inc["next_run_at"] == "2030-01-01T12:05:00Z"
    assert [s["mode"] for s in sched.describe_all(connector.id)] == ["full", "incremental"]
    with pytest.raises(ScheduleError):
        sched.set(connector.id, {"interval_minutes": 0})
    with pytest.raises(ScheduleError):
        sched.set(connector.id, {"run_at": (START - timedelta(minutes=1)).isoformat()})
    assert store.schedules.get(connector.id) == {"interval_minutes": 60}
    with pytest.raises(NotFoundError):
        sched.set("nope", {"interval_minutes": 5})
    assert sched.remove(connector.id) is True
    assert sched.remove(connector.id) is False
    assert sched.describe(connector.id) is None
    assert sched.describe(connector.id, "incremental") is not None
    assert await sched.tick() == 0
    assert recorder.calls == []


async def test_invalid_stored_schedule_is_ignored(
    store: Store, connector: Connector, recorder: RecordingTrigger, clock: FakeClock
) -> None:
    other = store.connectors.create("Other", "api_key", "us", {"api_key": "k"})
    store.schedules.set(connector.id, {"cron": "not a cron"}, at=START)
    store.schedules.set(other.id, {"interval_minutes": 15}, at=START)
    sched = scheduler(store, recorder, clock)
    clock.advance(15 * 60)
    assert await sched.tick() == 1
    assert recorder.calls == [(other.id, "scheduled", "full")]
    described = sched.describe(connector.id)
    assert described is not None
    assert described["next_run_at"] is None


async def test_follows_schedules_changed_by_another_process(
    location: str | Path, key: bytes, store: Store, connector: Connector,
    recorder: RecordingTrigger, clock: FakeClock,
) -> None:
    other = store.connectors.create("Other", "api_key", "us", {"api_key": "k"})
    sched = scheduler(store, recorder, clock)
    sched.set(other.id, {"run_at": iso_in(clock, 80)})
    await sched.tick()
    with Store(location, key) as elsewhere:  # e.g. the CLI, or another replica's API
        elsewhere.schedules.set(connector.id, {"run_at": iso_in(clock, 60)}, at=clock.now())
        elsewhere.schedules.delete(other.id)
    clock.advance(90)
    await sched.tick()
    # The schedule set elsewhere fired; the one removed elsewhere did not.
    assert recorder.calls == [(connector.id, "scheduled", "full")]


async def test_the_loop_fires_as_the_clock_moves_and_stops_on_shutdown(
    store: Store, connector: Connector, recorder: RecordingTrigger, clock: FakeClock
) -> None:
    sched = scheduler(store, recorder, clock)
    sched.set(connector.id, {"interval_minutes": 1})
    sched.start()
    try:
        await settle()
        assert sched.running
        assert sched.is_leader
        clock.advance(30)
        await settle()
        assert recorder.calls == []
        clock.advance(30)
        await settle()
        assert len(recorder.calls) == 1
    finally:
        sched.shutdown()
    assert not sched.running
    assert not sched.is_leader
    assert store.leases.holder(LEASE_NAME) is None  # given up for the next replica
    clock.advance(3600)
    await settle()
    assert len(recorder.calls) == 1


async def settle() -> None:
    """Let the scheduler's task run until it waits on the clock again (no time passes)."""
    for _ in range(50):
        await asyncio.sleep(0)
