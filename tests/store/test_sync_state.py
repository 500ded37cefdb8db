"""The incremental sync's state: cursor, availability, kept objects (issue 15)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from pdsearch.store import Connector, Cursor, InvalidValueError, NotFoundError, Store

T0 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def test_a_new_connector_has_no_cursor_and_unknown_availability(
    store: Store, connector: Connector
) -> None:
    state = store.sync_state.get(connector.id)
    assert state.audit_cursor is None
    assert state.incremental_available is None
    assert state.to_dict() == {"available": None, "reason": None, "cursor": None,
                               "last_record_at": None}
    assert store.sync_state.objects(connector.id) == {}


def test_full_then_changes_keep_objects_and_move_the_cursor(
    store: Store, connector: Connector
) -> None:
    repo = store.sync_state
    objects = {"users": {"U1": {"id": "U1", "name": "Ann"}, "U2": {"id": "U2", "name": "Bo"}},
               "teams": {"T1": {"id": "T1", "name": "Ops"}}}
    repo.save_full(connector.id, objects, Cursor(T0, ("R1",), T0))
    assert repo.objects(connector.id) == objects
    raw = repo.objects(connector.id, raw=True)  # JSON text, for parsing and validating at once
    assert {k: {i: json.loads(t) for i, t in v.items()} for k, v in raw.items()} == objects
    state = repo.get(connector.id)
    assert (state.audit_cursor, state.seen_records, state.last_record_at) == (T0, ["R1"], T0)

    later = T0 + timedelta(minutes=5)
    repo.save_changes(connector.id, {"users": {"U1": {"id": "U1", "name": "Ann B"}}},
                      [("teams", "T1")], Cursor(later, ("R2", "R3")))
    assert repo.objects(connector.id) == {
        "users": {"U1": {"id": "U1", "name": "Ann B"}, "U2": {"id": "U2", "name": "Bo"}}}
    state = repo.get(connector.id)
    assert state.audit_cursor == later
    assert state.seen_records == ["R2", "R3"]
    assert state.last_record_at == T0  # kept: no newer record was seen

    # A full sync replaces everything; forgetting leaves nothing to be incremental from.
    repo.save_full(connector.id, {"teams": {"T9": {"id": "T9"}}}, None)
    assert repo.objects(connector.id) == {"teams": {"T9": {"id": "T9"}}}
    assert repo.get(connector.id).audit_cursor is None
    repo.save_full(connector.id, objects, Cursor(T0))
    repo.forget(connector.id)
    assert repo.objects(connector.id) == {}
    assert repo.get(connector.id).audit_cursor is None


def test_unavailable_says_why_and_forgets_the_cursor(store: Store, connector: Connector) -> None:
    repo = store.sync_state
    repo.save_full(connector.id, {}, Cursor(T0))
    repo.set_availability(connector.id, False, "no Audit Trail feature (402)")
    state = repo.get(connector.id)
    assert state.incremental_available is False
    assert state.incremental_reason == "no Audit Trail feature (402)"
    assert state.audit_cursor is None
    repo.set_availability(connector.id, True, "ignored when available")
    state = repo.get(connector.id)
    assert (state.incremental_available, state.incremental_reason) == (True, None)


def test_state_goes_with_its_connector(store: Store, connector: Connector) -> None:
    store.sync_state.save_full(connector.id, {"users": {"U1": {}}}, Cursor(T0))
    store.connectors.delete(connector.id)
    assert store.sync_state.objects(connector.id) == {}
    assert store.sync_state.get(connector.id).audit_cursor is None
    with pytest.raises(NotFoundError):
        store.sync_state.set_availability("nosuch", True, None)


def test_a_job_mode_can_change_to_a_known_mode_only(store: Store, connector: Connector) -> None:
    job = store.jobs.create(connector.id, "manual", mode="incremental")
    assert store.jobs.update(job.id, mode="full").mode == "full"
    with pytest.raises(InvalidValueError, match="mode must be one of"):
        store.jobs.update(job.id, mode="partial")
