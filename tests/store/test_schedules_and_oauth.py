from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from store_raw import raw_state

from pdsearch.store import Connector, InvalidValueError, NotFoundError, Store


def test_schedule_crud(store: Store, connector: Connector) -> None:
    assert store.schedules.get(connector.id) is None
    store.schedules.set(connector.id, {"interval_minutes": 15})
    store.schedules.set(connector.id, {"cron": "0 3 * * *"})
    assert store.schedules.get(connector.id) == {"cron": "0 3 * * *"}
    other = store.connectors.create("Other", "api_key", "us", {"api_key": "k"})
    store.schedules.set(other.id, {"run_at": "2030-01-01T00:00:00+00:00"})
    assert sorted(store.schedules.list()) == sorted(
        [(connector.id, "full", {"cron": "0 3 * * *"}),
         (other.id, "full", {"run_at": "2030-01-01T00:00:00+00:00"})]
    )
    assert store.schedules.delete(connector.id) is True
    assert store.schedules.delete(connector.id) is False
    assert store.schedules.get(connector.id) is None
    with pytest.raises(NotFoundError):
        store.schedules.set("nope", {"interval_minutes": 1})


def test_schedule_records_remember_when_they_fired(store: Store, connector: Connector) -> None:
    assert store.schedules.get_record(connector.id) is None
    store.schedules.set(connector.id, {"interval_minutes": 15})
    record = store.schedules.get_record(connector.id)
    assert record is not None
    assert record.last_fired_at is None
    assert record.spec == {"interval_minutes": 15}
    assert record.updated_at.tzinfo is not None
    fired = datetime(2026, 3, 1, 8, 30, 15, 250000, tzinfo=UTC)
    store.schedules.record_fired(connector.id, at=fired)
    assert store.schedules.list_records() == [record.__class__(
        connector.id, {"interval_minutes": 15}, record.updated_at, fired
    )]
    store.schedules.set(connector.id, {"interval_minutes": 30})  # a new spec starts afresh
    again = store.schedules.get_record(connector.id)
    assert again is not None
    assert again.last_fired_at is None
    store.schedules.record_fired("nope")  # no schedule: nothing to remember, no error


def test_one_schedule_per_connector_and_mode(store: Store, connector: Connector) -> None:
    store.schedules.set(connector.id, {"cron": "0 3 * * *"})
    store.schedules.set(connector.id, {"interval_minutes": 5}, mode="incremental")
    assert store.schedules.get(connector.id) == {"cron": "0 3 * * *"}
    assert store.schedules.get(connector.id, "incremental") == {"interval_minutes": 5}
    records = store.schedules.list_records(connector.id)
    assert [(r.mode, r.spec) for r in records] == [
        ("full", {"cron": "0 3 * * *"}), ("incremental", {"interval_minutes": 5})
    ]
    # Replacing one mode's schedule leaves the other alone.
    store.schedules.set(connector.id, {"interval_minutes": 10}, mode="incremental")
    assert store.schedules.get(connector.id) == {"cron": "0 3 * * *"}
    assert store.schedules.delete(connector.id, "incremental") is True
    assert store.schedules.get(connector.id) == {"cron": "0 3 * * *"}
    store.schedules.set(connector.id, {"interval_minutes": 5}, mode="incremental")
    assert store.schedules.delete_all(connector.id) == 2
    assert store.schedules.list_records(connector.id) == []
    with pytest.raises(InvalidValueError):
        store.schedules.set(connector.id, {"interval_minutes": 5}, mode="oncall")
    # Removing the connector removes its schedules of every mode.
    store.schedules.set(connector.id, {"interval_minutes": 5}, mode="incremental")
    store.connectors.delete(connector.id)
    assert store.schedules.list() == []


def test_a_firing_is_claimed_once(store: Store, connector: Connector) -> None:
    store.schedules.set(connector.id, {"interval_minutes": 5})
    seen = store.schedules.get_record(connector.id)
    assert seen is not None
    first = datetime(2030, 1, 1, 0, 5, tzinfo=UTC)
    # Two schedulers read the same record; only the first compare-and-set wins.
    assert store.schedules.claim(seen, first) is True
    assert store.schedules.claim(seen, first) is False
    after = store.schedules.get_record(connector.id)
    assert after is not None
    assert after.last_fired_at == first
    # The next firing is claimed from the record as it is now.
    assert store.schedules.claim(after, datetime(2030, 1, 1, 0, 10, tzinfo=UTC)) is True
    # A schedule replaced since it was read is not fired on the strength of the old read.
    stale = store.schedules.get_record(connector.id)
    assert stale is not None
    store.schedules.set(connector.id, {"interval_minutes": 7})
    assert store.schedules.claim(stale, datetime(2030, 1, 1, 0, 15, tzinfo=UTC)) is False


def test_a_claim_under_a_lease_needs_the_lease(store: Store, connector: Connector) -> None:
    store.schedules.set(connector.id, {"interval_minutes": 5})
    record = store.schedules.get_record(connector.id)
    assert record is not None
    at = datetime(2030, 1, 1, tzinfo=UTC)
    assert store.leases.acquire("scheduler", "replica-a", 60) is True
    # Not the holder: refused, and nothing changed.
    assert store.schedules.claim(record, at, lease=("scheduler", "replica-b")) is False
    again = store.schedules.get_record(connector.id)
    assert again is not None
    assert again.last_fired_at is None
    assert store.schedules.claim(record, at, lease=("scheduler", "replica-a")) is True
    # The lease released (or expired): its former holder can claim nothing more.
    assert store.leases.release("scheduler", "replica-a") is True
    now = store.schedules.get_record(connector.id)
    assert now is not None
    assert store.schedules.claim(now, at, lease=("scheduler", "replica-a")) is False


def test_oauth_state_single_use(store: Store, connector: Connector) -> None:
    state = store.oauth.create_state(connector.id, "VeRiFiEr-123", "http://localhost/oauth/callback")
    assert len(state) >= 40
    assert store.oauth.create_state(connector.id, "v", "r") != state
    assert store.oauth.consume_state(state) == (
        connector.id, "VeRiFiEr-123", "http://localhost/oauth/callback"
    )
    assert store.oauth.consume_state(state) is None
    assert store.oauth.consume_state("forged") is None
    assert store.oauth.consume_state("") is None


def test_oauth_state_expires(store: Store, connector: Connector) -> None:
    state = store.oauth.create_state(connector.id, "v", "r", ttl_seconds=0.2)
    time.sleep(0.25)
    assert store.oauth.consume_state(state) is None


def test_oauth_state_secrets_not_stored_in_clear(
    location: str | Path, store: Store, connector: Connector
) -> None:
    state = store.oauth.create_state(connector.id, "VeRiFiEr-SECRET-42", "r")
    raw = raw_state(store, location if isinstance(location, str) else None)  # WAL included
    store.close()
    if store.path is not None:
        raw += store.path.read_bytes()  # after the checkpoint
    assert b"VeRiFiEr-SECRET-42" not in raw
    assert state.encode() not in raw
    assert b"Acme" in raw


def test_oauth_state_needs_connector(store: Store) -> None:
    with pytest.raises(NotFoundError):
        store.oauth.create_state("nope", "v", "r")
