"""The simulated account's writes: PagerDuty's checks and refusals, and the audit they leave.

HTTP answers are checked in ``test_http_writes.py``, ``test_audit.py`` and ``test_spec.py``; here
the account's methods themselves.
"""

from __future__ import annotations

import json
import re
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from account_helpers import Validate, policy_body, schema_validator, v2_layer
from clock import FakeClock

from pdsearch.simulator.account import Account, AccountError, Actor, NotFound

ID = re.compile(r"^P[A-Z0-9]{6}$")


@pytest.fixture(scope="module")
def validate() -> Validate:
    return schema_validator()


# ---------------------------------------------------------------------------- writes and audit


@pytest.fixture
def clock() -> FakeClock:
    """A second passes at every reading: each write gets a time of its own."""
    return FakeClock(datetime(2026, 3, 2, 12, 0, tzinfo=UTC), tick=1.0)


@pytest.fixture
def small(clock: FakeClock) -> Account:
    acct = Account.generate(11, teams=4, users=30, schedules=8, policies=6)
    acct.clock = clock.now
    return acct


def _plain_users(acct: Account, n: int) -> list[str]:
    return [u for u in acct.list_ids("users") if acct.users[u]["role"] != "owner"][:n]


def test_create_update_delete_schedule_and_policy(small: Account, validate: Validate) -> None:
    u1, u2 = _plain_users(small, 2)
    team_id = small.list_ids("teams")[0]
    schedule = small.create(
        "schedules",
        {
            "type": "schedule",
            "name": "Payments Tertiary",
            "time_zone": "Europe/Berlin",
            "description": "Third line",
            "schedule_layers": [
                v2_layer(
                    [u1, u2],
                    restrictions=[
                        {
                            "type": "weekly_restriction",
                            "start_time_of_day": "09:00:00",
                            "duration_seconds": 3600,
                            "start_day_of_week": 1,
                        }
                    ],
                )
            ],
            "teams": [{"id": team_id, "type": "team_reference"}],
        },
        actor=Actor(user_id=u1, method="oauth", token_tail="whole-token-abcd", request_id="req-1"),
    )
    assert ID.match(schedule["id"])
    assert schedule["schedule_layers"][0]["id"]
    assert validate("Schedule", schedule) == []
    assert schedule_id_listed(small, schedule["id"], team_id)

    policy = small.create(
        "escalation_policies",
        policy_body(
            "Payments tertiary escalation",
            [{"id": schedule["id"], "type": "schedule_reference"}, {"id": u2, "type": "user"}],
            teams=[{"id": team_id, "type": "team_reference"}],
        ),
    )
    assert policy["escalation_rules"][0]["targets"][1]["type"] == "user_reference"
    assert validate("EscalationPolicy", policy) == []
    assert [p["id"] for p in small.render_schedule(schedule["id"])["escalation_policies"]] == [
        policy["id"]
    ]

    updated = small.update(
        "escalation_policies", policy["id"], {"name": "Payments L3", "num_loops": 2}
    )
    assert updated["name"] == "Payments L3"
    assert updated["num_loops"] == 2
    assert updated["escalation_rules"] == policy["escalation_rules"]

    with pytest.raises(AccountError, match="escalation policies use it"):
        small.delete("schedules", schedule["id"])
    small.delete("escalation_policies", policy["id"])
    small.delete("schedules", schedule["id"])
    with pytest.raises(NotFound):
        small.render_schedule(schedule["id"])

    records = small.audit_records(root_resource_types=["schedules", "escalation_policies"])
    assert [(r["root_resource"]["type"], r["action"]) for r in records] == [
        ("schedule_reference", "delete"),
        ("escalation_policy_reference", "delete"),
        ("escalation_policy_reference", "update"),
        ("escalation_policy_reference", "create"),
        ("schedule_reference", "create"),
    ]
    created = records[-1]
    assert created["actors"][0]["id"] == u1
    assert created["method"] == {"type": "oauth", "truncated_token": "abcd"}
    assert created["execution_context"]["request_id"] == "req-1"
    assert "whole-token" not in json.dumps(records)
    assert {"name": "teams", "added": [small.ref("teams", team_id)]} in created["details"][
        "references"
    ]
    update = records[2]
    assert {
        "name": "name",
        "before_value": "Payments tertiary escalation",
        "value": "Payments L3",
    } in update["details"]["fields"]
    for record in records:
        assert validate("AuditRecord", record) == []


def schedule_id_listed(acct: Account, schedule_id: str, team_id: str) -> bool:
    return schedule_id in acct.list_ids("schedules", team_ids=[team_id], query="tertiary")


@pytest.mark.parametrize(
    ("kind", "body", "message"),
    [
        ("teams", {"description": "no name"}, "'name' is required"),
        ("teams", {"name": "x" * 101}, "longer than 100"),
        ("users", {"name": "A B", "email": "nope"}, "not a valid e-mail"),
        ("users", {"name": "A B", "email": "a@b.example", "role": "owner"}, "exactly one owner"),
        ("users", {"name": "A B", "email": "a@b.example", "role": "boss"}, "'role' must be one of"),
        (
            "schedules",
            {"name": "S", "time_zone": "UTC", "schedule_layers": []},
            "at least one layer",
        ),
        (
            "schedules",
            {"name": "S", "time_zone": "UTC", "schedule_layers": [v2_layer(["PGHOST1"])]},
            "user 'PGHOST1' does not",
        ),
        (
            "schedules",
            {
                "name": "S",
                "time_zone": "UTC",
                "schedule_layers": [v2_layer([], rotation_turn_length_seconds=0)],
            },
            "at least one user",
        ),
        ("escalation_policies", {"name": "P", "escalation_rules": []}, "at least one rule"),
        ("escalation_policies", policy_body("P", [], num_loops=10), "targets must hold 1 to 10"),
        (
            "escalation_policies",
            policy_body("P", [{"id": "PGHOST1", "type": "schedule_reference"}]),
            "schedule 'PGHOST1' does not exist",
        ),
        (
            "escalation_policies",
            policy_body("P", [{"id": "PGHOST1", "type": "service"}]),
            "type must be one of",
        ),
    ],
)
def test_invalid_writes_are_refused(small: Account, kind: str, body: Any, message: str) -> None:
    before = len(small.audit_records)
    with pytest.raises(AccountError, match=re.escape(message)):
        small.create(kind, body)
    assert len(small.audit_records) == before


def test_policy_takes_at_most_one_team_and_unique_names(small: Account) -> None:
    t1, t2 = small.list_ids("teams")[:2]
    u1 = _plain_users(small, 1)[0]
    target = [{"id": u1, "type": "user_reference"}]
    with pytest.raises(AccountError, match="only one team"):
        small.create(
            "escalation_policies",
            policy_body(
                "Two teams",
                target,
                teams=[{"id": t1, "type": "team_reference"}, {"id": t2, "type": "team_reference"}],
            ),
        )
    with pytest.raises(AccountError, match="between 0 and 9"):
        small.create("escalation_policies", policy_body("Loops", target, num_loops=10))
    existing = next(iter(small.escalation_policies.values()))["name"]
    with pytest.raises(AccountError, match="already exists"):
        small.create("escalation_policies", policy_body(existing.upper(), target))


def test_unknown_ids_are_not_found(small: Account) -> None:
    with pytest.raises(NotFound):
        small.update("teams", "PNOPE00", {"name": "x"})
    with pytest.raises(NotFound):
        small.delete("users", "PNOPE00")
    with pytest.raises(NotFound):
        small.add_team_member("PNOPE00", small.owner_id, "manager")
    with pytest.raises(NotFound):
        small.members("PNOPE00")


def test_team_membership_writes_and_their_audit(small: Account) -> None:
    team_id = small.create("teams", {"name": "Payments Reliability", "default_role": "none"})["id"]
    user_id = _plain_users(small, 1)[0]
    small.add_team_member(team_id, user_id, "responder")
    assert team_id in [t["id"] for t in small.render_user(user_id)["teams"]]
    assert user_id in small.list_ids("users", team_ids=[team_id])
    small.add_team_member(team_id, user_id, "manager")
    assert small.members(team_id)[0]["role"] == "manager"
    small.remove_team_member(team_id, user_id)
    assert team_id not in [t["id"] for t in small.render_user(user_id)["teams"]]
    with pytest.raises(NotFound):
        small.remove_team_member(team_id, user_id)
    with pytest.raises(AccountError, match="'role' must be one of"):
        small.add_team_member(team_id, user_id, "boss")

    records = small.audit_records(root_resource_types=["teams"], actions=["update"])
    details = [r["details"] for r in records[:3]]
    assert details[0]["references"] == [
        {"name": "members", "removed": [small.ref("users", user_id)]}
    ]
    assert details[1]["fields"] == [
        {"name": "team_role", "before_value": "responder", "value": "manager"}
    ]
    assert details[2]["references"] == [{"name": "members", "added": [small.ref("users", user_id)]}]


def test_deleting_users_follows_pagerduty(small: Account) -> None:
    with pytest.raises(AccountError, match="owner can't be deleted"):
        small.delete("users", small.owner_id)
    lonely, other = _plain_users(small, 2)
    small.create("escalation_policies", policy_body("Lonely", [{"id": lonely, "type": "user"}]))
    with pytest.raises(AccountError, match="only target of a rule"):
        small.delete("users", lonely)

    # A user on teams, layers and rules with company leaves all of them.
    team_id = small.list_ids("teams")[0]
    small.add_team_member(team_id, other, "responder")
    schedule = small.create(
        "schedules",
        {"name": "Shared", "time_zone": "UTC", "schedule_layers": [v2_layer([other, lonely])]},
    )
    policy = small.create(
        "escalation_policies",
        policy_body(
            "Shared escalation", [{"id": other, "type": "user"}, {"id": lonely, "type": "user"}]
        ),
    )
    small.delete("users", other)
    assert other not in small.users
    assert other not in {m["user_id"] for m in small.memberships[team_id]}
    assert [u["id"] for u in small.render_schedule(schedule["id"])["users"]] == [lonely]
    targets = small.render_policy(policy["id"])["escalation_rules"][0]["targets"]
    assert [t["id"] for t in targets] == [lonely]
    kinds = {(r["root_resource"]["type"], r["action"]) for r in small.audit_records()[:5]}
    assert ("user_reference", "delete") in kinds
    assert ("schedule_reference", "update") in kinds


def test_deleting_a_team_unassigns_it(small: Account) -> None:
    team_id = next(t for t in small.teams if small.list_ids("escalation_policies", team_ids=[t]))
    policies = small.list_ids("escalation_policies", team_ids=[team_id])
    small.delete("teams", team_id)
    assert team_id not in small.memberships
    assert all(not small.escalation_policies[p]["teams"] for p in policies)
    assert small.list_ids("schedules", team_ids=[team_id]) == []
    assert (
        small.audit_records(actions=["delete"], root_resource_types=["teams"])[0]["root_resource"][
            "id"
        ]
        == team_id
    )


def test_users_and_teams_update(small: Account) -> None:
    user_id = _plain_users(small, 1)[0]
    rendered = small.update("users", user_id, {"name": "Grace Hopper", "job_title": "Admiral"})
    assert rendered["name"] == "Grace Hopper"
    assert rendered["email"] == small.users[user_id]["email"]
    with pytest.raises(AccountError, match="transferring ownership"):
        small.update("users", user_id, {"role": "owner"})
    taken = small.users[small.owner_id]["email"]
    with pytest.raises(AccountError, match="already taken"):
        small.update("users", user_id, {"email": taken.upper()})
    team_id = small.list_ids("teams")[0]
    assert small.update("teams", team_id, {"default_role": "none"})["default_role"] == "none"


def test_v3_schedule_writes(small: Account) -> None:
    u1 = _plain_users(small, 1)[0]
    created = small.create("schedules_v3", {"name": "Shift based", "time_zone": "Asia/Tokyo"})
    assert created["type"] == "schedule_v3"
    assert created["rotations"] == []
    updated = small.update("schedules_v3", created["id"], {"description": "Now described"})
    assert updated["description"] == "Now described"
    policy = small.create(
        "escalation_policies",
        policy_body("Shift escalation", [{"id": created["id"], "type": "schedule_reference"}]),
    )
    assert policy["escalation_rules"][0]["targets"][0]["type"] == "schedule_v3_reference"
    assert u1  # the generated users are untouched by v3 writes
    assert created["id"] in small.list_ids("schedules_v3")
    assert created["id"] not in small.list_ids("schedules")


def test_audit_records_filter_by_time_type_and_action(small: Account, clock: FakeClock) -> None:
    small.create("teams", {"name": "First"})
    middle = clock.now() + timedelta(milliseconds=500)  # after First, before Second
    small.create("teams", {"name": "Second"})
    small.update("teams", small.list_ids("teams", query="Second")[0], {"description": "d"})
    assert [r["details"]["resource"]["summary"] for r in small.audit_records(until=middle)] == [
        "First"
    ]
    recent = small.audit_records(since=middle)
    assert [r["action"] for r in recent] == ["update", "create"]
    assert small.audit_records(since=middle, actions=["create"])[0]["root_resource"]["summary"] == (
        "Second"
    )
    assert small.audit_records(root_resource_types=["users"]) == []
    times = [r["execution_time"] for r in small.audit_records()]
    assert times == sorted(times, reverse=True)
    assert small.audit_records[0]["details"]["resource"]["summary"] == "First"


def test_audit_records_survive_save_and_load(small: Account, tmp_path: Path) -> None:
    small.create("teams", {"name": "Saved"})
    small.update("teams", small.list_ids("teams", query="Saved")[0], {"description": "kept"})
    path = tmp_path / "with-audit.json"
    small.save(path)
    loaded = Account.load(path)
    assert loaded.audit_records() == small.audit_records()
    assert [r["action"] for r in loaded.audit_records(actions=["update"])] == ["update"]
    loaded.create("teams", {"name": "After reload"})
    ids = [r["id"] for r in loaded.audit_records]
    assert len(set(ids)) == len(ids) == 3

    data = json.loads(path.read_text())
    data["audit_records"].append(dict(data["audit_records"][0]))
    with pytest.raises(AccountError, match="used twice"):
        Account.from_json(data)
    data["audit_records"] = [{"id": "X", "action": "create"}]
    with pytest.raises(AccountError, match="audit_records\\[0\\] has no 'execution_time'"):
        Account.from_json(data)


def test_concurrent_writes_keep_ids_unique(small: Account) -> None:
    created: list[str] = []

    def worker(n: int) -> None:
        for i in range(20):
            created.append(small.create("teams", {"name": f"Team {n}-{i}"})["id"])

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(created)) == 80
    assert all(i in small.teams for i in created)
    assert len(small.audit_records(root_resource_types=["teams"], actions=["create"])) == 80
