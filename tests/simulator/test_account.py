"""The simulated account: generation, rendering in the spec's shapes, files, writes and audit.

HTTP responses are checked against the spec in ``test_spec.py``; here the objects themselves are
checked against the spec's component schemas.
"""

from __future__ import annotations

import json
import re
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pdsearch.simulator.account import Account, AccountError, Actor, NotFound
from pdsearch.simulator.config import SCALES, SimulatorConfig

SPEC_PATH = Path(__file__).resolve().parents[3] / "shared" / "pagerduty" / "openapiv3.json"
ID = re.compile(r"^P[A-Z0-9]{6}$")


@pytest.fixture(scope="module")
def account() -> Account:
    return Account.generate(7, teams=30, users=400, schedules=200, policies=150, subdomain="acme")


@pytest.fixture(scope="module")
def validate() -> Any:
    """``validate(schema_name, obj)`` -> error messages, against the spec's component schemas."""
    if not SPEC_PATH.exists():
        pytest.skip("PagerDuty's spec is not checked out")
    from openapi_schema_validator import OAS30ReadValidator
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT4

    spec = json.loads(SPEC_PATH.read_text())
    registry = Registry().with_resource(
        "urn:pd", Resource.from_contents(spec, default_specification=DRAFT4)
    )
    validators: dict[str, Any] = {}

    def run(schema: str, obj: Any) -> list[str]:
        if schema not in validators:
            validators[schema] = OAS30ReadValidator(
                {"$ref": f"urn:pd#/components/schemas/{schema}"}, registry=registry
            )
        return [
            f"{list(e.absolute_path)}: {e.message}" for e in validators[schema].iter_errors(obj)
        ]

    return run


def _v2_layer(user_ids: list[str], **extra: Any) -> dict[str, Any]:
    return {
        "name": "Layer 1",
        "start": "2025-01-06T09:00:00+01:00",
        "rotation_virtual_start": "2025-01-06T09:00:00+01:00",
        "rotation_turn_length_seconds": 604800,
        "users": [{"user": {"id": u, "type": "user_reference"}} for u in user_ids],
        **extra,
    }


def _policy(name: str, targets: list[dict[str, str]], **extra: Any) -> dict[str, Any]:
    return {
        "type": "escalation_policy",
        "name": name,
        "escalation_rules": [{"escalation_delay_in_minutes": 30, "targets": targets}],
        **extra,
    }


# ---------------------------------------------------------------------------- generation


def test_same_seed_same_account_and_other_seed_differs() -> None:
    a = Account.generate(3, 8, 60, 20, 15)
    b = Account.generate(3, 8, 60, 20, 15)
    c = Account.generate(4, 8, 60, 20, 15)
    assert a.to_json() == b.to_json()
    assert a.to_json() != c.to_json()


def test_users_have_one_owner_every_role_and_unique_emails(account: Account) -> None:
    roles = Counter(u["role"] for u in account.users.values())
    assert roles["owner"] == 1
    assert roles["admin"] >= 2
    assert set(roles) == {
        "admin",
        "limited_user",
        "observer",
        "owner",
        "read_only_user",
        "restricted_access",
        "read_only_limited_user",
        "user",
    }
    emails = [u["email"].lower() for u in account.users.values()]
    assert len(set(emails)) == len(emails)
    assert account.owner_id in account.users
    assert all(" " in u["name"] and u["time_zone"] for u in account.users.values())


def test_ids_look_like_pagerduty_and_never_repeat(account: Account) -> None:
    ids = [
        *account.users,
        *account.teams,
        *account.schedules,
        *account.escalation_policies,
        *account.services,
    ]
    assert len(set(ids)) == len(ids)
    assert all(ID.match(i) for i in ids)


def test_teams_public_and_private_with_managers(account: Account) -> None:
    default_roles = {t["default_role"] for t in account.teams.values()}
    assert default_roles == {"manager", "none"}
    names = [t["name"] for t in account.teams.values()]
    assert len(set(names)) == len(names)
    assert any(n.startswith("Payments") for n in names)
    roles = Counter()
    for team_id in account.teams:
        members = account.memberships[team_id]
        assert len(members) >= 2
        assert any(m["role"] == "manager" for m in members)
        roles.update(m["role"] for m in members)
    assert set(roles) == {"observer", "responder", "manager"}
    assert all(t["description"] for t in account.teams.values())


def test_schedules_have_layers_rotations_restrictions_and_zones(account: Account) -> None:
    v2 = [s for s in account.schedules.values() if s["type"] == "schedule"]
    v3 = [s for s in account.schedules.values() if s["type"] == "schedule_v3"]
    assert 0.04 <= len(v3) / len(account.schedules) <= 0.2
    layer_counts = {len(s["schedule_layers"]) for s in v2}
    assert layer_counts == {1, 2, 3}
    turns = {layer["rotation_turn_length_seconds"] for s in v2 for layer in s["schedule_layers"]}
    assert {12 * 3600, 86400, 7 * 86400, 14 * 86400} <= turns
    restrictions = {
        r["type"] for s in v2 for la in s["schedule_layers"] for r in la["restrictions"]
    }
    assert restrictions == {"daily_restriction", "weekly_restriction"}
    assert len({s["time_zone"] for s in account.schedules.values()}) >= 8
    team_counts = Counter(len(s["teams"]) for s in account.schedules.values())
    assert team_counts[0] > 0 and any(n >= 2 for n in team_counts)
    # Layer users are team members (non-observers) in a rotation order of their own.
    for s in v2:
        for layer in s["schedule_layers"]:
            ids = [u["user"]["id"] for u in layer["users"]]
            assert ids and len(set(ids)) == len(ids)
    for s in v3:
        events = [e for r in s["rotations"] for e in r["events"]]
        assert events and all(e["assignment_strategy"]["members"] for e in events)
    assert any("Primary" in s["name"] for s in v2)


def test_policies_rules_targets_teams_and_services(account: Account) -> None:
    policies = list(account.escalation_policies.values())
    assert all(len(p["teams"]) <= 1 for p in policies)
    assert any(not p["teams"] for p in policies)
    assert {len(p["escalation_rules"]) for p in policies} == {1, 2, 3, 4, 5}
    target_types = {
        t["type"] for p in policies for r in p["escalation_rules"] for t in r["targets"]
    }
    assert target_types == {"user_reference", "schedule_reference", "schedule_v3_reference"}
    assert {p["on_call_handoff_notifications"] for p in policies} == {"if_has_services", "always"}
    assert {p["num_loops"] for p in policies} >= {0, 1}
    with_services = {s["escalation_policy"]["id"] for s in account.services.values()}
    assert 0 < len(with_services) < len(policies)
    for p in policies:
        assert "escalation" in p["name"].lower()
        if p["teams"]:
            team = account.teams[p["teams"][0]["id"]]
            assert p["name"].startswith(team["name"])


def test_only_users_who_may_be_on_call_are_scheduled_or_targeted(account: Account) -> None:
    never = {"observer", "read_only_user", "read_only_limited_user"}
    scheduled = {
        u["user"]["id"]
        for s in account.schedules.values()
        for layer in s.get("schedule_layers", [])
        for u in layer["users"]
    }
    targeted = {
        t["id"]
        for p in account.escalation_policies.values()
        for r in p["escalation_rules"]
        for t in r["targets"]
        if t["type"] == "user_reference"
    }
    assert scheduled and targeted
    assert not {account.users[u]["role"] for u in scheduled | targeted} & never


def test_each_team_gets_a_primary_schedule_first() -> None:
    acct = Account.generate(1, teams=3, users=30, schedules=12, policies=6)
    for team_id in acct.teams:
        names = [acct.schedules[s]["name"] for s in acct.list_ids("schedules", team_ids=[team_id])]
        names += [
            acct.schedules[s]["name"] for s in acct.list_ids("schedules_v3", team_ids=[team_id])
        ]
        own = [n for n in names if n.startswith(acct.teams[team_id]["name"])]
        assert any(n.endswith("Primary") for n in own), own


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32),
    teams=st.integers(0, 6),
    users=st.integers(1, 15),
    schedules=st.integers(0, 8),
    policies=st.integers(0, 8),
)
def test_any_small_generated_account_is_one_the_api_could_build(
    seed: int, teams: int, users: int, schedules: int, policies: int
) -> None:
    acct = Account.generate(seed, teams, users, schedules, policies)
    sizes = (len(acct.teams), len(acct.users), len(acct.schedules), len(acct.escalation_policies))
    assert sizes == (teams, users, schedules, policies)
    # Loading re-checks every object with the write rules: references exist, rules have targets.
    assert Account.from_json(acct.to_json()).to_json() == acct.to_json()
    assert [u["role"] for u in acct.users.values()].count("owner") == 1


def test_generation_rejects_impossible_sizes() -> None:
    with pytest.raises(ValueError, match="at least one user"):
        Account.generate(1, 1, 0, 0, 0)
    with pytest.raises(ValueError, match="teams must be 0 or more"):
        Account.generate(1, -1, 5, 0, 0)


def test_an_account_without_teams_still_has_schedules_and_policies() -> None:
    acct = Account.generate(2, teams=0, users=10, schedules=5, policies=5)
    assert len(acct.schedules) == 5 and len(acct.escalation_policies) == 5
    assert all(not p["teams"] for p in acct.escalation_policies.values())


def test_scales_and_config_validation() -> None:
    assert set(SCALES) == {"tiny", "small", "medium", "large"}
    large = SimulatorConfig.for_scale("large")
    assert (large.users, large.schedules, large.policies) == (10_000, 2_000, 2_000)
    with pytest.raises(ValueError, match="unknown scale 'huge'"):
        SimulatorConfig.for_scale("huge")
    problems = SimulatorConfig(users=-1, region="mars", fault_rate=2).validate()  # type: ignore[arg-type]
    assert any("--users" in p for p in problems)
    assert any("--region" in p for p in problems)
    assert any("--fault-rate" in p for p in problems)
    assert SimulatorConfig().validate() == []


# ---------------------------------------------------------------------------- rendering


def test_rendered_objects_match_the_spec_schemas(account: Account, validate: Any) -> None:
    errors: list[str] = []
    for user_id in account.list_ids("users")[:40]:
        errors += validate("User", account.render_user(user_id, include_teams=True))
    for team_id in account.list_ids("teams"):
        errors += validate("Team", account.render_team(team_id))
        for member in account.members(team_id):
            errors += validate("UserReference", member["user"])
    for schedule_id in account.list_ids("schedules")[:60]:
        errors += validate("Schedule", account.render_schedule(schedule_id, include_layers=True))
        errors += validate("Schedule", account.render_schedule(schedule_id, include_layers=False))
    for schedule_id in account.list_ids("schedules_v3"):
        errors += validate("V3ScheduleReference", account.render_schedule_v3_reference(schedule_id))
        rendered = account.render_schedule_v3(schedule_id, include_users=True)
        errors += validate("ScheduleResponse", {"schedule": rendered})
    for policy_id in account.list_ids("escalation_policies")[:60]:
        for includes in ((), ("targets", "services", "teams")):
            errors += validate("EscalationPolicy", account.render_policy(policy_id, includes))
    assert errors == []


def test_derived_fields_follow_the_stored_objects(account: Account) -> None:
    user_id = next(m["user_id"] for ms in account.memberships.values() for m in ms)
    rendered = account.render_user(user_id)
    expected = {
        t for t, ms in account.memberships.items() if any(m["user_id"] == user_id for m in ms)
    }
    assert {t["id"] for t in rendered["teams"]} == expected
    assert all(t["summary"] == account.teams[t["id"]]["name"] for t in rendered["teams"])
    assert "teams" not in account.render_user(user_id, include_teams=False)

    policy = next(iter(account.escalation_policies.values()))
    target = next(
        t
        for r in policy["escalation_rules"]
        for t in r["targets"]
        if t["type"] == "schedule_reference"
    )
    schedule = account.render_schedule(target["id"])
    assert policy["id"] in [p["id"] for p in schedule["escalation_policies"]]
    layer_users = [u["user"]["id"] for la in schedule["schedule_layers"] for u in la["users"]]
    assert [u["id"] for u in schedule["users"]] == list(dict.fromkeys(layer_users))
    assert schedule["self"] == f"https://api.pagerduty.com/schedules/{target['id']}"
    assert schedule["html_url"] == f"https://acme.pagerduty.com/schedules/{target['id']}"

    with_service = next(s["escalation_policy"]["id"] for s in account.services.values())
    services = account.render_policy(with_service)["services"]
    assert services and all(s["type"] == "service_reference" and s["summary"] for s in services)


def test_v3_schedules_are_apart_from_v2(account: Account) -> None:
    v3_id = account.list_ids("schedules_v3")[0]
    assert v3_id not in account.list_ids("schedules")
    with pytest.raises(NotFound):
        account.render_schedule(v3_id)
    rendered = account.render_schedule_v3(v3_id)
    assert rendered["type"] == "schedule_v3"
    assert rendered["self"].endswith(f"/v3/schedules/{v3_id}")
    assert account.ref("schedules_v3", v3_id)["type"] == "schedule_v3_reference"


def test_expanded_targets_are_full_objects(account: Account) -> None:
    policy_id = next(
        p["id"]
        for p in account.escalation_policies.values()
        if any(t["type"] == "user_reference" for r in p["escalation_rules"] for t in r["targets"])
    )
    rules = account.render_policy(policy_id, ["targets"])["escalation_rules"]
    users = [t for r in rules for t in r["targets"] if t["type"] == "user"]
    assert users and all("email" in u for u in users)


def test_eu_accounts_use_eu_hosts() -> None:
    eu = Account.generate(1, 2, 5, 2, 2, subdomain="globex", region="eu")
    user = eu.render_user(eu.owner_id)
    assert user["self"].startswith("https://api.eu.pagerduty.com/users/")
    assert user["html_url"].startswith("https://globex.eu.pagerduty.com/users/")


# ---------------------------------------------------------------------------- listing


def test_listing_is_name_sorted_and_filtered(account: Account) -> None:
    ids = account.list_ids("escalation_policies")
    names = [account.escalation_policies[i]["name"].lower() for i in ids]
    assert names == sorted(names)
    assert account.list_ids("escalation_policies", sort_by="name:desc") == ids[::-1]

    found = account.list_ids("escalation_policies", query="PAYMENTS ESC")
    assert found and all(
        "payments esc" in account.escalation_policies[i]["name"].lower() for i in found
    )

    team_id = account.list_ids("teams")[0]
    members = {m["user_id"] for m in account.memberships[team_id]}
    assert set(account.list_ids("users", team_ids=[team_id])) == members
    policies = account.list_ids("escalation_policies", team_ids=[team_id])
    assert policies and all(
        account.escalation_policies[p]["teams"][0]["id"] == team_id for p in policies
    )

    user_id = next(
        t["id"]
        for p in account.escalation_policies.values()
        for r in p["escalation_rules"]
        for t in r["targets"]
        if t["type"] == "user_reference"
    )
    targeted = account.list_ids("escalation_policies", user_ids=[user_id])
    assert targeted and all(
        any(
            t["id"] == user_id
            for r in account.escalation_policies[p]["escalation_rules"]
            for t in r["targets"]
        )
        for p in targeted
    )
    user = account.users[user_id]
    assert user_id in account.list_ids("users", query=user["email"].upper())
    with pytest.raises(AccountError):
        account.list_ids("escalation_policies", sort_by="created")


# ---------------------------------------------------------------------------- files


def test_save_and_load_round_trip(tmp_path: Path, account: Account) -> None:
    path = tmp_path / "account.json"
    account.save(path)
    loaded = Account.load(path)
    assert loaded.to_json() == account.to_json()
    some_policy = account.list_ids("escalation_policies")[3]
    assert loaded.render_policy(some_policy) == account.render_policy(some_policy)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.pop("users"), "'users' is missing"),
        (lambda d: d.update(teams={}), "'teams' must be a list"),
        (lambda d: d["users"][1].update(role="owner"), "exactly one user with role owner"),
        (lambda d: d["users"][2].update(email=d["users"][3]["email"]), "already taken"),
        (lambda d: d["users"].append(dict(d["users"][4], email="x@y.example")), "used twice"),
        (
            lambda d: d["memberships"].append({"team_id": "PNOPE00", "user_id": "P", "role": "x"}),
            "team 'PNOPE00' does not exist",
        ),
        (
            lambda d: d["escalation_policies"][0]["escalation_rules"][0]["targets"].append(
                {"id": "PGHOST1", "type": "user_reference"}
            ),
            "user 'PGHOST1' does not exist",
        ),
        (lambda d: d["escalation_policies"][0].update(escalation_rules=[]), "at least one rule"),
        (lambda d: d["schedules"][0].update(time_zone="Mars/Olympus"), "not a known time zone"),
        (lambda d: d.update(widgets=[]), "unknown top-level keys widgets"),
    ],
)
def test_bad_account_files_say_what_is_wrong(tmp_path: Path, change: Any, message: str) -> None:
    data = Account.generate(5, 3, 12, 6, 5).to_json()
    change(data)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(AccountError, match=re.escape(message)) as info:
        Account.load(path)
    assert str(path) in str(info.value)


def test_unreadable_or_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(AccountError, match="cannot read account file"):
        Account.load(tmp_path / "missing.json")
    broken = tmp_path / "broken.json"
    broken.write_text('{"users": [')
    with pytest.raises(AccountError, match="not valid JSON"):
        Account.load(broken)
    with pytest.raises(AccountError, match="JSON object"):
        Account.from_json([1, 2])


def test_save_to_a_missing_folder_says_so(tmp_path: Path) -> None:
    acct = Account.generate(1, 1, 3, 1, 1)
    with pytest.raises(AccountError, match="cannot write account file"):
        acct.save(tmp_path / "no" / "such" / "account.json")


def test_a_hand_written_minimal_file_loads() -> None:
    acct = Account.from_json(
        {
            "subdomain": "tiny",
            "region": "eu",
            "users": [
                {
                    "id": "PUSER01",
                    "name": "Ada Lovelace",
                    "email": "ada@tiny.example",
                    "role": "owner",
                }
            ],
            "teams": [{"id": "PTEAM01", "name": "Payments"}],
            "memberships": [{"team_id": "PTEAM01", "user_id": "PUSER01", "role": "manager"}],
            "schedules": [
                {
                    "id": "PSCHED1",
                    "name": "Payments Primary",
                    "time_zone": "UTC",
                    "schedule_layers": [_v2_layer(["PUSER01"])],
                }
            ],
            "escalation_policies": [
                _policy(
                    "Payments escalation",
                    [{"id": "PSCHED1", "type": "schedule_reference"}],
                    id="PPOLICY",
                    teams=[{"id": "PTEAM01"}],
                )
            ],
        }
    )
    rendered = acct.render_schedule("PSCHED1")
    assert rendered["escalation_policies"][0]["summary"] == "Payments escalation"
    assert rendered["html_url"] == "https://tiny.eu.pagerduty.com/schedules/PSCHED1"
    assert acct.render_user("PUSER01")["teams"][0]["id"] == "PTEAM01"


# ---------------------------------------------------------------------------- writes and audit


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


@pytest.fixture
def small() -> Account:
    acct = Account.generate(11, teams=4, users=30, schedules=8, policies=6)
    acct.clock = Clock()
    return acct


def _plain_users(acct: Account, n: int) -> list[str]:
    return [u for u in acct.list_ids("users") if acct.users[u]["role"] != "owner"][:n]


def test_create_update_delete_schedule_and_policy(small: Account, validate: Any) -> None:
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
                _v2_layer(
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
    assert ID.match(schedule["id"]) and schedule["schedule_layers"][0]["id"]
    assert validate("Schedule", schedule) == []
    assert schedule_id_listed(small, schedule["id"], team_id)

    policy = small.create(
        "escalation_policies",
        _policy(
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
    assert updated["name"] == "Payments L3" and updated["num_loops"] == 2
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
            {"name": "S", "time_zone": "UTC", "schedule_layers": [_v2_layer(["PGHOST1"])]},
            "user 'PGHOST1' does not",
        ),
        (
            "schedules",
            {
                "name": "S",
                "time_zone": "UTC",
                "schedule_layers": [_v2_layer([], rotation_turn_length_seconds=0)],
            },
            "at least one user",
        ),
        ("escalation_policies", {"name": "P", "escalation_rules": []}, "at least one rule"),
        ("escalation_policies", _policy("P", [], num_loops=10), "targets must hold 1 to 10"),
        (
            "escalation_policies",
            _policy("P", [{"id": "PGHOST1", "type": "schedule_reference"}]),
            "schedule 'PGHOST1' does not exist",
        ),
        (
            "escalation_policies",
            _policy("P", [{"id": "PGHOST1", "type": "service"}]),
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
            _policy(
                "Two teams",
                target,
                teams=[{"id": t1, "type": "team_reference"}, {"id": t2, "type": "team_reference"}],
            ),
        )
    with pytest.raises(AccountError, match="between 0 and 9"):
        small.create("escalation_policies", _policy("Loops", target, num_loops=10))
    existing = next(iter(small.escalation_policies.values()))["name"]
    with pytest.raises(AccountError, match="already exists"):
        small.create("escalation_policies", _policy(existing.upper(), target))


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
    small.create("escalation_policies", _policy("Lonely", [{"id": lonely, "type": "user"}]))
    with pytest.raises(AccountError, match="only target of a rule"):
        small.delete("users", lonely)

    # A user on teams, layers and rules with company leaves all of them.
    team_id = small.list_ids("teams")[0]
    small.add_team_member(team_id, other, "responder")
    schedule = small.create(
        "schedules",
        {"name": "Shared", "time_zone": "UTC", "schedule_layers": [_v2_layer([other, lonely])]},
    )
    policy = small.create(
        "escalation_policies",
        _policy(
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
    assert rendered["name"] == "Grace Hopper" and rendered["email"] == small.users[user_id]["email"]
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
    assert created["type"] == "schedule_v3" and created["rotations"] == []
    updated = small.update("schedules_v3", created["id"], {"description": "Now described"})
    assert updated["description"] == "Now described"
    policy = small.create(
        "escalation_policies",
        _policy("Shift escalation", [{"id": created["id"], "type": "schedule_reference"}]),
    )
    assert policy["escalation_rules"][0]["targets"][0]["type"] == "schedule_v3_reference"
    assert u1  # the generated users are untouched by v3 writes
    assert created["id"] in small.list_ids("schedules_v3")
    assert created["id"] not in small.list_ids("schedules")


def test_audit_records_filter_by_time_type_and_action(small: Account) -> None:
    clock = small.clock
    assert isinstance(clock, Clock)
    small.create("teams", {"name": "First"})
    middle = clock.now + timedelta(milliseconds=500)
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
