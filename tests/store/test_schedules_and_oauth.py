from __future__ import annotations

import time

import pytest

from pdsearch.store import Connector, NotFoundError, Store


def test_schedule_crud(store: Store, connector: Connector) -> None:
    assert store.get_schedule(connector.id) is None
    store.set_schedule(connector.id, {"interval_minutes": 15})
    store.set_schedule(connector.id, {"cron": "0 3 * * *"})
    assert store.get_schedule(connector.id) == {"cron": "0 3 * * *"}
    other = store.create_connector("Other", "api_key", "us", {"api_key": "k"})
    store.set_schedule(other.id, {"run_at": "2030-01-01T00:00:00+00:00"})
    assert sorted(store.list_schedules()) == sorted(
        [(connector.id, {"cron": "0 3 * * *"}), (other.id, {"run_at": "2030-01-01T00:00:00+00:00"})]
    )
    assert store.delete_schedule(connector.id) is True
    assert store.delete_schedule(connector.id) is False
    assert store.get_schedule(connector.id) is None
    with pytest.raises(NotFoundError):
        store.set_schedule("nope", {"interval_minutes": 1})


def test_oauth_state_single_use(store: Store, connector: Connector) -> None:
    state = store.create_oauth_state(connector.id, "VeRiFiEr-123", "http://localhost/oauth/callback")
    assert len(state) >= 40
    assert store.create_oauth_state(connector.id, "v", "r") != state
    assert store.consume_oauth_state(state) == (
        connector.id, "VeRiFiEr-123", "http://localhost/oauth/callback"
    )
    assert store.consume_oauth_state(state) is None
    assert store.consume_oauth_state("forged") is None
    assert store.consume_oauth_state("") is None


def test_oauth_state_expires(store: Store, connector: Connector) -> None:
    state = store.create_oauth_state(connector.id, "v", "r", ttl_seconds=0.2)
    time.sleep(0.25)
    assert store.consume_oauth_state(state) is None


def test_oauth_state_secrets_not_stored_in_clear(store: Store, connector: Connector) -> None:
    state = store.create_oauth_state(connector.id, "VeRiFiEr-SECRET-42", "r")
    files = sorted(store.path.parent.glob("state.db*"))
    raw = b"".join(p.read_bytes() for p in files)  # WAL included, before the checkpoint
    store.close()
    raw += store.path.read_bytes()
    assert b"VeRiFiEr-SECRET-42" not in raw and state.encode() not in raw


def test_oauth_state_needs_connector(store: Store) -> None:
    with pytest.raises(NotFoundError):
        store.create_oauth_state("nope", "v", "r")
