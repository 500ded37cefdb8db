"""``store.oncall``: a connector's shifts replaced whole, read for a page of documents in one
query, windows, people and their time zones; on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from pdsearch.store import Connector, NotFoundError, OnCallShift, Person, Store

T0 = datetime(2026, 12, 5, 8, tzinfo=UTC)


def _shift(
    user: str,
    *,
    policy: str | None = None,
    level: int | None = None,
    schedule: str | None = None,
    hours: tuple[int, int] | None = (0, 8),
) -> OnCallShift:
    start = end = None
    if hours is not None:
        start, end = T0 + timedelta(hours=hours[0]), T0 + timedelta(hours=hours[1])
    return OnCallShift(
        policy, level, schedule, user, f"User {user}", f"{user}@Example.COM", "Europe/Berlin",
        start, end,
    )


def test_replace_is_whole_and_reads_by_document(store: Store, connector: Connector) -> None:
    other = store.connectors.create("Globex", "api_key", "us", {"api_key": "k"})
    assert store.oncall.window(connector.id) is None
    first = [
        _shift("U1", schedule="S1"),
        _shift("U2", schedule="S1", hours=(8, 16)),
        _shift("U1", policy="P1", level=1, schedule="S1"),
        _shift("U3", policy="P1", level=2, hours=None),
        _shift("U4", schedule="S2"),
    ]
    window = store.oncall.replace(
        connector.id, first, T0, T0 + timedelta(days=7), requests=3, unknown=["schedule:S9"]
    )
    assert store.oncall.window(connector.id) == window
    assert window.unknown == {"schedule:S9"}
    assert window.holds(T0 + timedelta(days=2))
    assert not window.holds(T0 - timedelta(seconds=1))
    store.oncall.replace(other.id, [_shift("U9", schedule="S1")], T0, T0 + timedelta(days=1))
    found = store.oncall.shifts_for([(connector.id, ["S1"], ["P1"])])
    assert set(found) == {
        (connector.id, "schedule", "S1"),
        (connector.id, "escalation_policy", "P1"),
    }
    assert [s.user_id for s in found[(connector.id, "schedule", "S1")]] == ["U1", "U2"]
    policy = found[(connector.id, "escalation_policy", "P1")]
    assert [(s.level, s.schedule_id, s.start) for s in policy] == [
        (1, "S1", T0), (2, None, None)
    ]
    assert policy[0].user_email == "u1@example.com"  # normalized
    assert policy[1].covers(T0 + timedelta(days=60))  # permanent
    # Another connector's shifts of the same schedule id stay its own.
    theirs = store.oncall.shifts_for([(other.id, ["S1"], [])])
    assert [s.user_id for s in theirs[(other.id, "schedule", "S1")]] == ["U9"]

    # A refresh replaces the whole set, window included.
    later = T0 + timedelta(hours=1)
    week = later + timedelta(days=7)
    store.oncall.replace(connector.id, [_shift("U5", schedule="S2")], later, week)
    assert store.oncall.shifts_for([(connector.id, ["S1"], ["P1"])]) == {}
    assert [s.user_id for s in store.oncall.shifts(connector.id)] == ["U5"]
    stored = store.oncall.window(connector.id)
    assert stored is not None
    assert stored.since == later
    assert stored.requests == 0
    assert stored.unknown == frozenset()
    assert set(store.oncall.windows()) == {connector.id, other.id}

    store.connectors.delete(other.id)  # cascades
    assert set(store.oncall.windows()) == {connector.id}
    store.oncall.clear(connector.id)
    assert store.oncall.window(connector.id) is None


def test_unknown_connector_and_bad_window(store: Store, connector: Connector) -> None:
    with pytest.raises(NotFoundError):
        store.oncall.replace("nope", [_shift("U1", schedule="S1")], T0, T0)
    with pytest.raises(ValueError, match="end before it starts"):
        store.oncall.replace(connector.id, [], T0, T0 - timedelta(seconds=1))
    assert store.oncall.shifts_for([]) == {}


def test_people_and_the_viewers_time_zone(store: Store, connector: Connector) -> None:
    people = [
        Person("U1", "Ada@Example.com", "Ada", "America/New_York"),
        Person("U2", "bob@example.com", "Bob", None),
    ]
    store.oncall.replace_people(connector.id, people)
    assert store.oncall.time_zone_of(" ADA@example.com ") == "America/New_York"
    assert store.oncall.time_zone_of("bob@example.com") is None
    assert store.oncall.time_zone_of("nobody@example.com") is None
    assert set(store.oncall.people(connector.id)) == {"U1", "U2"}
    assert store.oncall.people(connector.id, ["U2"])["U2"].email == "bob@example.com"
    store.oncall.replace_people(connector.id, people[1:])
    assert store.oncall.time_zone_of("ada@example.com") is None


def test_the_search_path_read_uses_the_indexes(tmp_path: Path, secret_key: bytes) -> None:
    """The page's read searches by (connector, policy) and (connector, schedule): with an OR or
    an ORDER BY, SQLite walked every shift of the connector instead (20-60 ms on a large
    account)."""
    with Store(tmp_path / "state.db", secret_key) as store:
        db = store._db
        sql, order = db._compiled(store.oncall._by_document)
        assert order is not None
        params = {"cid": "c", "pids": '["P1"]', "sids": '["S1"]'}
        with db.engine.connect() as conn:
            driver: Any = conn.connection.driver_connection
            plan = [row[3] for row in driver.execute(
                "EXPLAIN QUERY PLAN " + sql, [params[name] for name in order]
            ).fetchall()]
    searches = [p for p in plan if p.startswith("SEARCH oncall_shifts")]
    assert searches == [
        "SEARCH oncall_shifts USING INDEX oncall_by_policy (connector_id=? AND policy_id=?)",
        "SEARCH oncall_shifts USING INDEX oncall_by_schedule (connector_id=? AND schedule_id=?)",
    ], plan
    assert not any(p.startswith("SCAN oncall_shifts") for p in plan), plan


def test_read_at_a_time_keeps_what_an_answer_needs(store: Store, connector: Connector) -> None:
    shifts = [
        _shift("U1", schedule="S1", hours=(0, 8)),
        _shift("U2", schedule="S1", hours=(8, 16)),
        _shift("U3", schedule="S1", hours=(16, 24)),
        _shift("U1", policy="P1", level=1, schedule="S1", hours=(0, 8)),
        _shift("U2", policy="P1", level=1, schedule="S1", hours=(8, 16)),
        _shift("U3", policy="P1", level=1, schedule="S1", hours=(16, 24)),
        _shift("U4", policy="P1", level=2, schedule="S2", hours=(12, 20)),
        _shift("U5", policy="P1", level=2, schedule="S3", hours=(12, 20)),
        _shift("U6", policy="P1", level=3, hours=None),
    ]
    store.oncall.replace(connector.id, shifts, T0, T0 + timedelta(days=1))
    found = store.oncall.shifts_for([(connector.id, ["S1"], ["P1"])], T0 + timedelta(hours=2))
    assert [s.user_id for s in found[(connector.id, "schedule", "S1")]] == ["U1", "U2"]
    policy = found[(connector.id, "escalation_policy", "P1")]
    # Now (U1, U6 always) and per level the soonest after: U2 on level 1, U4 and U5 on 2.
    assert [(s.level, s.user_id) for s in policy] == [(1, "U1"), (1, "U2"), (2, "U4"),
                                                       (2, "U5"), (3, "U6")]
    assert store.oncall.shifts_for([(connector.id, ["S1"], [])], T0 + timedelta(hours=30)) == {}
