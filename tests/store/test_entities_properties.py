"""Any mix of syncs and hand edits keeps the rule: members = derived (latest sync) + manual."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pdsearch.store import Store

EMAILS = [f"u{i}@x.io" for i in range(6)]
TEAMS = ["PT1", "PT2", "PT3"]
_NAMES = itertools.count()


@dataclass(frozen=True)
class Ent:
    entity_id: str
    name: str
    type: str
    members: frozenset[str]


sync_op = st.tuples(
    st.just("sync"),
    st.dictionaries(st.sampled_from(TEAMS), st.frozensets(st.sampled_from(EMAILS), max_size=4)),
)
edit_op = st.tuples(
    st.sampled_from(["add", "remove"]),
    st.tuples(st.sampled_from(TEAMS), st.lists(st.sampled_from(EMAILS), min_size=1, max_size=3)),
)


# One store for all examples (a database per example would be slow on PostgreSQL): each example
# works on a connector of its own and removes it at the end, so no example sees another's rows.
@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=st.lists(st.one_of(sync_op, edit_op), max_size=12))
def test_members_are_derived_plus_manual(store: Store, ops: list[tuple[str, object]]) -> None:
    cid = store.connectors.create(f"a{next(_NAMES)}", "api_key", "us", {"api_key": "k"}).id
    try:
        _check_example(store, cid, ops)
    finally:
        store.connectors.delete(cid)


def _check_example(store: Store, cid: str, ops: list[tuple[str, object]]) -> None:
    derived: dict[str, frozenset[str]] = {}
    manual: dict[str, set[str]] = {}
    for kind, arg in ops:
        if kind == "sync":
            assert isinstance(arg, dict)
            derived = dict(arg)
            store.entities.replace_derived(
                cid, [Ent(t, t, "team", m) for t, m in derived.items()]
            )
            continue
        assert isinstance(arg, tuple)
        team: str = arg[0]
        emails: list[str] = arg[1]
        known = team in derived or bool(manual.get(team))
        if not known:
            continue  # adding to an entity no sync has seen is refused (tested elsewhere)
        if kind == "add":
            store.entities.add_manual_members(cid, team, emails)
            manual.setdefault(team, set()).update(emails)
        else:
            store.entities.remove_manual_members(cid, team, emails)
            manual.setdefault(team, set()).difference_update(emails)
    expected_ids = set(derived) | {t for t, m in manual.items() if m}
    records, total = store.entities.list(cid)
    assert total == len(records)
    assert {r.entity_id for r in records} >= expected_ids
    for r in records:
        want = set(derived.get(r.entity_id, ())) | manual.get(r.entity_id, set())
        assert set(r.user_ids) == want
        assert set(r.manual_user_ids) == manual.get(r.entity_id, set())
    for email in EMAILS:
        want_entities = {
            t for t in expected_ids
            if email in derived.get(t, ()) or email in manual.get(t, set())
        }
        assert store.entities.for_user(email, cid) == want_entities
        assert store.entities.memberships(email) == {(cid, t) for t in want_entities}
