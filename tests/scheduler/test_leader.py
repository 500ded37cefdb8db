"""One scheduler leader at a time: two schedulers on one store stand for two replicas."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from clock import FakeClock
from cryptography.fernet import Fernet
from test_scheduler import RecordingTrigger

from pdsearch.scheduler import LEASE_NAME, SyncScheduler
from pdsearch.store import Connector, Store

START = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


class Replica:
    """A replica's view: its own store connection and scheduler, one shared clock."""

    def __init__(self, location: str | Path, key: bytes, clock: FakeClock, name: str) -> None:
        self.store = Store(location, key)
        self.trigger = RecordingTrigger(self.store)
        self.scheduler = SyncScheduler(self.store, self.trigger, clock=clock, holder=name)

    def close(self) -> None:
        self.scheduler.shutdown()
        self.store.close()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def location(request: pytest.FixtureRequest, tmp_path: Path) -> str | Path:
    if request.param == "sqlite":
        return tmp_path / "state.db"
    url = request.getfixturevalue("postgres_schema_url")
    assert isinstance(url, str)
    return url


@pytest.fixture
def key() -> bytes:
    return Fernet.generate_key()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START, waits=True)


@pytest.fixture
def replicas(location: str | Path, key: bytes, clock: FakeClock) -> Iterator[list[Replica]]:
    pair = [Replica(location, key, clock, "replica-a"), Replica(location, key, clock, "replica-b")]
    yield pair
    for replica in pair:
        replica.close()


@pytest.fixture
def connector(replicas: list[Replica]) -> Connector:
    return replicas[0].store.connectors.create("Acme", "api_key", "us", {"api_key": "k"})


def calls(replicas: list[Replica]) -> list[tuple[str, str, str]]:
    return [c for r in replicas for c in r.trigger.calls]


async def test_only_the_lease_holder_fires(
    replicas: list[Replica], connector: Connector, clock: FakeClock
) -> None:
    a, b = replicas
    a.scheduler.set(connector.id, {"interval_minutes": 1})
    await a.scheduler.tick()
    await b.scheduler.tick()
    assert a.scheduler.is_leader
    assert not b.scheduler.is_leader
    assert a.store.leases.holder(LEASE_NAME) == "replica-a"
    for _ in range(10):  # ten minutes, a turn of each every ten seconds
        for _ in range(6):
            clock.advance(10)
            await a.scheduler.tick()
            await b.scheduler.tick()
    assert len(a.trigger.calls) == 10
    assert b.trigger.calls == []
    jobs, total = a.store.jobs.list(connector.id)
    assert total == 10
    assert all(j.trigger == "scheduled" for j in jobs)


async def test_a_clean_stop_hands_over_at_the_next_turn(
    replicas: list[Replica], connector: Connector, clock: FakeClock
) -> None:
    a, b = replicas
    a.scheduler.set(connector.id, {"interval_minutes": 1})
    await a.scheduler.tick()
    await b.scheduler.tick()
    a.scheduler.shutdown()
    clock.advance(5)  # b's next attempt at the lease
    await b.scheduler.tick()
    assert b.scheduler.is_leader
    clock.advance(55)
    assert await b.scheduler.tick() == 1
    assert await a.scheduler.tick() == 0
    assert calls(replicas) == [(connector.id, "scheduled", "full")]


async def test_a_replica_that_lost_the_lease_fires_nothing(
    replicas: list[Replica], connector: Connector, clock: FakeClock
) -> None:
    a, b = replicas
    a.scheduler.set(connector.id, {"run_at": (START + timedelta(seconds=3)).isoformat()})
    await a.scheduler.tick()  # a takes the lease at 12:00:00 and renews next at 12:00:05
    assert a.scheduler.is_leader
    # a's lease ends behind its back (say it paused longer than the ttl) and b takes it, all
    # before a's next renewal: a still believes it leads.
    assert a.store.leases.release(LEASE_NAME, "replica-a")
    clock.advance(1)
    await b.scheduler.tick()
    assert b.scheduler.is_leader
    clock.advance(2)  # 12:00:03, the schedule is due
    assert a.scheduler.is_leader
    assert await a.scheduler.tick() == 0  # the claim needs the lease: refused
    assert await b.scheduler.tick() == 1
    # At its next renewal a learns it lost the lease and stops acting as leader.
    clock.advance(2)
    await a.scheduler.tick()
    assert not a.scheduler.is_leader
    assert calls(replicas) == [(connector.id, "scheduled", "full")]


async def test_one_firing_is_claimed_once_even_by_two_leaders_reading_the_same_row(
    replicas: list[Replica], connector: Connector, clock: FakeClock
) -> None:
    a, b = replicas
    a.scheduler.set(connector.id, {"run_at": (START + timedelta(minutes=1)).isoformat()})
    await a.scheduler.tick()
    seen = a.store.schedules.get_record(connector.id)  # what both read before either claims
    assert seen is not None
    clock.advance(60)
    assert await a.scheduler.tick() == 1
    assert not b.store.schedules.claim(seen, clock.now(), lease=(LEASE_NAME, "replica-a"))
    assert calls(replicas) == [(connector.id, "scheduled", "full")]


async def test_a_leader_that_cannot_renew_stops_before_the_lease_can_pass(
    replicas: list[Replica], connector: Connector, clock: FakeClock
) -> None:
    a, _ = replicas
    await a.scheduler.tick()
    assert a.scheduler.is_leader
    a.store.close()  # the database is unreachable from a: renewals fail
    clock.advance(5)
    await a.scheduler.tick()
    assert a.scheduler.is_leader  # within its margin (ttl 15 s - renew 5 s)
    clock.advance(5)
    assert not a.scheduler.is_leader
