"""The simulated account: generation, rendering in the spec's shapes, listing and files.

HTTP responses are checked against the spec in ``test_spec.py``; here the objects themselves are
checked against the spec's component schemas.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from account_helpers import Validate, policy_body, schema_validator, v2_layer
from hypothesis import given, settings
from hypothesis import strategies as st

from pdsearch.simulator.account import Account, AccountError, NotFound
from pdsearch.simulator.config import SCALES, SimulatorConfig

ID = re.compile(r"^P[A-Z0-9]{6}$")


@pytest.fixture(scope="module")
def account() -> Account:
    return Account.generate(7, teams=30, users=400, schedules=200, policies=150, subdomain="acme")


@pytest.fixture(scope="module")
def validate() -> Validate:
    return schema_validator()


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
    roles: Counter[str] = Counter()
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
    assert team_counts[0] > 0
    assert any(n >= 2 for n in team_counts)
    # Layer users are team members (non-observers) in a rotation order of their own.
    for s in v2:
        for layer in s["schedule_layers"]:
            ids = [u["user"]["id"] for u in layer["users"]]
            assert ids
            assert len(set(ids)) == len(ids)
    for s in v3:
        events = [e for r in s["rotations"] for e in r["events"]]
        assert events
        assert all(e["assignment_strategy"]["members"] for e in events)
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


def test_services_say_in_one_sentence_what_they_do_and_who_runs_them(account: Account) -> None:
    from pdsearch.simulator import names

    descriptions = []
    for service in account.services.values():
        text = service["description"]
        descriptions.append(text)
        assert text.endswith("."), text
        assert text.count(".") == 1, text  # one sentence
        assert "production service" not in text
        teams = service["teams"]
        if teams:
            assert f"run by the {account.teams[teams[0]['id']]['name']} team" in text
        else:
            assert "shared by every team" in text
        # What it does comes from the service's theme: its base name's purpose is in there.
        base = max((b for b in names.SERVICE_PURPOSES if service["name"].startswith(b)), key=len)
        assert names.SERVICE_PURPOSES[base] in text
    assert len(set(descriptions)) > len(descriptions) * 0.8
    every_theme_service = {s for _, _, services in names.THEMES for s in services}
    assert every_theme_service <= set(names.SERVICE_PURPOSES)


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
    assert scheduled
    assert targeted
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
    assert len(acct.schedules) == 5
    assert len(acct.escalation_policies) == 5
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


def test_rendered_objects_match_the_spec_schemas(account: Account, validate: Validate) -> None:
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
    # Layers read back highest first; ``users`` follows the order they were written in.
    written = reversed(schedule["schedule_layers"])
    layer_users = [u["user"]["id"] for la in written for u in la["users"]]
    assert [u["id"] for u in schedule["users"]] == list(dict.fromkeys(layer_users))
    assert schedule["self"] == f"https://api.pagerduty.com/schedules/{target['id']}"
    assert schedule["html_url"] == f"https://acme.pagerduty.com/schedules/{target['id']}"

    with_service = next(s["escalation_policy"]["id"] for s in account.services.values())
    services = account.render_policy(with_service)["services"]
    assert services
    assert all(s["type"] == "service_reference" and s["summary"] for s in services)


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
    assert users
    assert all("email" in u for u in users)


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
    assert found
    assert all(
        "payments esc" in account.escalation_policies[i]["name"].lower() for i in found
    )

    team_id = account.list_ids("teams")[0]
    members = {m["user_id"] for m in account.memberships[team_id]}
    assert set(account.list_ids("users", team_ids=[team_id])) == members
    policies = account.list_ids("escalation_policies", team_ids=[team_id])
    assert policies
    assert all(
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
    assert targeted
    assert all(
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
                    "schedule_layers": [v2_layer(["PUSER01"])],
                }
            ],
            "escalation_policies": [
                policy_body(
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
