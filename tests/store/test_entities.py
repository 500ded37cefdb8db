from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from pdsearch.store import Connector, InvalidValueError, NotFoundError, Store


@dataclass(frozen=True)
class Ent:
    """Shaped like pdsearch.permissions.Entity."""

    entity_id: str
    name: str
    type: str
    members: frozenset[str] = field(default_factory=frozenset)


def derive(store: Store, connector: Connector, teams: dict[str, set[str]],
           admins: set[str]) -> None:
    ents = [Ent("acme", "acme", "account", frozenset(admins))]
    ents += [Ent(tid, f"Team {tid}", "team", frozenset(m)) for tid, m in teams.items()]
    store.entities.replace_derived(connector.id, ents)


def test_derived_entities_listed(store: Store, connector: Connector) -> None:
    derive(store, connector, {"PT1": {"Bob@X.io", "carol@x.io"}, "PT2": set()}, {"ada@x.io"})
    items, total = store.entities.list(connector.id)
    assert total == 3
    assert [e.entity_id for e in items] == ["acme", "PT1", "PT2"]
    pt1 = store.entities.get(connector.id, "PT1")
    assert pt1 is not None
    assert pt1.to_dict() == {"entityId": "PT1", "name": "Team PT1", "type": "team",
                             "userIds": ["bob@x.io", "carol@x.io"], "manualUserIds": []}
    assert store.entities.get(connector.id, "nope") is None
    items, total = store.entities.list(connector.id, skip=1, limit=1)
    assert total == 3
    assert [e.entity_id for e in items] == ["PT1"]


def test_manual_members_survive_syncs_and_derived_follow_pagerduty(
    store: Store, connector: Connector
) -> None:
    derive(store, connector, {"PT1": {"bob@x.io", "carol@x.io"}}, {"ada@x.io"})
    rec = store.entities.add_manual_members(connector.id, "PT1", ["Dave@X.io ", "dave@x.io"])
    assert rec.manual_user_ids == ["dave@x.io"]
    assert rec.user_ids == ["bob@x.io", "carol@x.io", "dave@x.io"]
    # Bob leaves the team in PagerDuty; the next sync removes him, Dave stays.
    derive(store, connector, {"PT1": {"carol@x.io"}}, {"ada@x.io"})
    rec2 = store.entities.get(connector.id, "PT1")
    assert rec2 is not None
    assert rec2.user_ids == ["carol@x.io", "dave@x.io"]
    assert store.entities.for_user("BOB@x.io", connector.id) == set()
    assert store.entities.for_user("DAVE@x.io", connector.id) == {"PT1"}
    assert store.entities.for_user("ada@x.io", connector.id) == {"acme"}


def test_removing_manual_keeps_derived_membership(store: Store, connector: Connector) -> None:
    derive(store, connector, {"PT1": {"bob@x.io"}}, set())
    store.entities.add_manual_members(connector.id, "PT1", ["bob@x.io", "eve@x.io"])
    rec = store.entities.remove_manual_members(
        connector.id, "PT1", ["BOB@x.io", "eve@x.io", "zed@x.io"]
    )
    assert rec.user_ids == ["bob@x.io"]
    assert rec.manual_user_ids == []
    assert store.entities.for_user("bob@x.io", connector.id) == {"PT1"}
    assert store.entities.for_user("eve@x.io", connector.id) == set()


def test_account_entity_before_first_sync(store: Store, connector: Connector) -> None:
    with pytest.raises(NotFoundError, match="subdomain"):
        store.entities.add_manual_members(connector.id, "acme", ["billing@x.io"])
    store.connectors.set_status(connector.id, "connected", subdomain="acme")
    rec = store.entities.add_manual_members(connector.id, "acme", ["billing@x.io"])
    assert rec.type == "account"
    assert rec.user_ids == ["billing@x.io"]
    with pytest.raises(NotFoundError):
        store.entities.add_manual_members(connector.id, "PTEAM", ["x@x.io"])
    derive(store, connector, {}, {"ada@x.io"})
    acme = store.entities.get(connector.id, "acme")
    assert acme is not None
    assert acme.user_ids == ["ada@x.io", "billing@x.io"]


def test_vanished_team_kept_only_while_it_has_manual_members(
    store: Store, connector: Connector
) -> None:
    derive(store, connector, {"PT1": {"a@x.io"}, "PT2": {"b@x.io"}}, set())
    store.entities.add_manual_members(connector.id, "PT1", ["m@x.io"])
    derive(store, connector, {}, set())
    assert store.entities.get(connector.id, "PT2") is None
    pt1 = store.entities.get(connector.id, "PT1")
    assert pt1 is not None
    assert pt1.user_ids == ["m@x.io"]
    assert store.entities.for_user("a@x.io", connector.id) == set()


def test_entities_across_connectors(store: Store, connector: Connector) -> None:
    other = store.connectors.create("Other", "api_key", "eu", {"api_key": "k"})
    derive(store, connector, {"PT1": {"a@x.io"}}, set())
    store.entities.replace_derived(other.id, [Ent("globex", "globex", "account",
                                                  frozenset({"A@x.io"}))])
    assert store.entities.memberships("a@X.IO") == {(connector.id, "PT1"), (other.id, "globex")}
    assert store.entities.for_user("a@x.io", other.id) == {"globex"}
    assert store.entities.for_user("a@x.io", connector.id) == {"PT1"}
    assert store.entities.memberships("  ") == set()


def test_bad_member_input(store: Store, connector: Connector) -> None:
    derive(store, connector, {"PT1": set()}, set())
    for bad in (["not-an-email"], ["a b@x.io"], [""], "a@x.io",
                ["https://user:secret@api.pagerduty.com"], ["a@x.io/path"]):
        with pytest.raises(InvalidValueError):
            store.entities.add_manual_members(connector.id, "PT1", bad)
    with pytest.raises(NotFoundError):
        store.entities.remove_manual_members(connector.id, "NOPE", ["a@x.io"])
    with pytest.raises(NotFoundError):
        store.entities.list("nope")
    with pytest.raises(NotFoundError):
        store.entities.replace_derived("nope", [])


def test_replace_is_atomic(store: Store, connector: Connector) -> None:
    derive(store, connector, {"PT1": {"a@x.io"}}, set())

    def broken() -> list[Ent]:
        return [Ent("PT9", "Team 9", "team", frozenset({"z@x.io"})),
                Ent("PT8", "x", "team", frozenset({None}))]  # type: ignore[arg-type]

    with pytest.raises(AttributeError):
        store.entities.replace_derived(connector.id, broken())
    assert store.entities.for_user("a@x.io", connector.id) == {"PT1"}
    assert store.entities.get(connector.id, "PT9") is None


def test_teams_listed_by_name_regardless_of_case(store: Store, connector: Connector) -> None:
    store.entities.replace_derived(connector.id, [
        Ent("P3", "zeta", "team"), Ent("P1", "Alpha", "team"), Ent("acme", "acme", "account"),
        Ent("P2", "beta", "team"),
    ])
    items, _ = store.entities.list(connector.id)
    assert [e.name for e in items] == ["acme", "Alpha", "beta", "zeta"]


def test_account_entity_added_from_two_places_at_once(
    location: str | Path, secret_key: bytes, store: Store, connector: Connector
) -> None:
    # Two replicas adding the first manual member of the account entity at the same moment.
    store.connectors.set_status(connector.id, "connected", subdomain="acme")
    with Store(location, secret_key) as second:
        errors: list[BaseException] = []
        gate = threading.Barrier(2)

        def add(s: Store, email: str) -> None:
            gate.wait()
            try:
                s.entities.add_manual_members(connector.id, "acme", [email])
            except BaseException as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=add, args=(s, e))
                   for s, e in ((store, "a@x.io"), (second, "b@x.io"))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert errors == []
    acme = store.entities.get(connector.id, "acme")
    assert acme is not None
    assert acme.manual_user_ids == ["a@x.io", "b@x.io"]
