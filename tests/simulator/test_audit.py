"""Audit records: one for every write, in PagerDuty's shapes, read back as PagerDuty serves them.

Every answer goes through ``Checker`` (validated against PagerDuty's spec). The simulator's clock
is a ``Ticker`` here: each reading moves it a millisecond, so records of one test have distinct,
ordered times, and a test moves it by days to try windows and the 12-month retention.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sim_spec import Checker, load_spec

from pdsearch.simulator.app import create_app
from pdsearch.simulator.auth import key_id
from pdsearch.simulator.config import SimulatorConfig
from pdsearch.simulator.server import build_account
from pdsearch.simulator.state import Simulator

JSON = dict[str, Any]
START = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
DAY = 86400.0


class Ticker:
    """A clock that moves one millisecond per reading, and as far as a test moves it."""

    def __init__(self, start: datetime = START) -> None:
        self.now = start.timestamp()

    def __call__(self) -> float:
        self.now += 0.001
        return self.now

    def advance(self, days: float) -> None:
        self.now += days * DAY


@pytest.fixture
def ticker(sim: Simulator) -> Ticker:
    clock = Ticker()
    sim.clock = clock
    return clock


@pytest.fixture
async def check(sim: Simulator, ticker: Ticker) -> AsyncIterator[Checker]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=sim.app),
        base_url="http://sim.test",
        headers={"Authorization": f"Token token={sim.api_key}"},
    ) as client:
        yield Checker(load_spec(), client)


async def _all_records(
    check: Checker, path: str = "/audit/records", params: dict[str, Any] | None = None
) -> list[JSON]:
    """Every record ``path`` serves, following ``next_cursor`` (small pages, to page)."""
    records: list[JSON] = []
    query: dict[str, Any] = {"limit": 7, **(params or {})}
    while True:
        body = await check.json("GET", path, expect=200, params=query)
        records += body["records"]
        if body["next_cursor"] is None:
            return records
        query["cursor"] = body["next_cursor"]


def _plain_user(sim: Simulator, *, not_in: tuple[str, ...] = ()) -> str:
    return next(
        u
        for u in sorted(sim.account.users)
        if sim.account.users[u]["role"] == "user" and u not in not_in
    )


def _layer(user_ids: list[str]) -> JSON:
    return {
        "start": "2026-01-05T00:00:00Z",
        "rotation_virtual_start": "2026-01-05T00:00:00Z",
        "rotation_turn_length_seconds": 86400,
        "users": [{"user": {"id": u, "type": "user_reference"}} for u in user_ids],
    }


def _event(user_ids: list[str]) -> JSON:
    return {
        "name": "Weekdays",
        "start_time": {"date_time": "2026-07-06T09:00:00Z", "time_zone": "UTC"},
        "end_time": {"date_time": "2026-07-06T17:00:00Z", "time_zone": "UTC"},
        "effective_since": "2026-07-06T00:00:00Z",
        "recurrence": ["RRULE:FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR"],
        "assignment_strategy": {
            "type": "rotating_member_assignment_strategy",
            "shifts_per_member": 5,
            "members": [{"type": "user_member", "user_id": u} for u in user_ids],
        },
    }


def _ref_ids(record: JSON, name: str, key: str) -> list[str]:
    for change in record["details"].get("references") or []:
        if change["name"] == name:
            return [r["id"] for r in change.get(key) or []]
    return []


def _field(record: JSON, name: str) -> JSON:
    return next(f for f in record["details"]["fields"] if f["name"] == name)


async def test_every_write_leaves_a_record_an_incremental_reader_understands(
    check: Checker, sim: Simulator
) -> None:
    account = sim.account
    u1 = _plain_user(sim)
    u2 = _plain_user(sim, not_in=(u1,))
    owner_email = account.users[account.owner_id]["email"]

    team = await check.json(
        "POST", "/teams", expect=201, json={"team": {"name": "Audit Team", "description": "d"}}
    )
    team_id = team["team"]["id"]
    for role in ("responder", "manager"):
        await check.call("PUT", f"/teams/{team_id}/users/{u1}", expect=204, json={"role": role})
    await check.call("DELETE", f"/teams/{team_id}/users/{u1}", expect=204)
    for role in ("admin", "user"):
        await check.call("PUT", f"/users/{u2}", expect=200, json={"user": {"role": role}})
    await check.call("PUT", f"/users/{u2}", expect=200, json={"user": {"name": "Renamed Person"}})
    schedule = await check.json(
        "POST",
        "/schedules",
        expect=201,
        json={
            "schedule": {
                "name": "Audit Rotation",
                "time_zone": "UTC",
                "schedule_layers": [_layer([u1, u2])],
                "teams": [{"id": team_id, "type": "team_reference"}],
            }
        },
    )
    schedule_id = schedule["schedule"]["id"]
    await check.call(
        "PUT", f"/schedules/{schedule_id}", expect=200, json={"schedule": {"name": "Audit R2"}}
    )
    policy = await check.json(
        "POST",
        "/escalation_policies",
        expect=201,
        json={
            "escalation_policy": {
                "name": "Audit escalation",
                "escalation_rules": [
                    {
                        "escalation_delay_in_minutes": 10,
                        "targets": [{"id": schedule_id, "type": "schedule_reference"}],
                    }
                ],
            }
        },
    )
    policy_id = policy["escalation_policy"]["id"]
    await check.call(
        "PUT",
        f"/escalation_policies/{policy_id}",
        expect=200,
        json={"escalation_policy": {"name": "Audit escalation 2"}},
    )
    retarget = {"escalation_delay_in_minutes": 10, "targets": [{"id": u1, "type": "user"}]}
    await check.call(
        "PUT",
        f"/escalation_policies/{policy_id}",
        expect=200,
        json={"escalation_policy": {"escalation_rules": [retarget]}},
    )
    await check.call("DELETE", f"/escalation_policies/{policy_id}", expect=204)
    await check.call("DELETE", f"/schedules/{schedule_id}", expect=204)
    v3 = await check.json(
        "POST",
        "/v3/schedules",
        expect=201,
        json={"schedule": {"name": "Shifts", "time_zone": "UTC"}},
    )
    v3_id = v3["schedule"]["id"]
    rotation = await check.json("POST", f"/v3/schedules/{v3_id}/rotations", expect=201, json={})
    rotation_id = rotation["rotation"]["id"]
    await check.call(
        "POST",
        f"/v3/schedules/{v3_id}/rotations/{rotation_id}/events",
        expect=201,
        json={"event": _event([u1])},
    )
    await check.call(
        "PUT", f"/v3/schedules/{v3_id}", expect=200, json={"schedule": {"name": "Shifts 2"}}
    )
    await check.call("DELETE", f"/v3/schedules/{v3_id}", expect=204)
    await check.call("DELETE", f"/teams/{team_id}", expect=204)
    new_user = await check.json(
        "POST",
        "/users",
        expect=201,
        headers={"From": owner_email},
        json={"user": {"name": "Ann New", "email": "ann.new@example.com", "description": "x"}},
    )
    await check.call("DELETE", f"/users/{new_user['user']['id']}", expect=204)

    records = list(reversed(await _all_records(check)))  # oldest first, as written
    summary = [(r["root_resource"]["type"], r["root_resource"]["id"], r["action"]) for r in records]
    assert summary == [
        ("team_reference", team_id, "create"),
        ("team_reference", team_id, "update"),  # u1 added
        ("team_reference", team_id, "update"),  # u1 responder -> manager
        ("team_reference", team_id, "update"),  # u1 removed
        ("user_reference", u2, "update"),  # made admin
        ("user_reference", u2, "update"),  # demoted
        ("user_reference", u2, "update"),  # renamed
        ("schedule_reference", schedule_id, "create"),
        ("schedule_reference", schedule_id, "update"),
        ("escalation_policy_reference", policy_id, "create"),
        ("escalation_policy_reference", policy_id, "update"),
        ("escalation_policy_reference", policy_id, "update"),  # re-targeted
        ("escalation_policy_reference", policy_id, "delete"),
        ("schedule_reference", schedule_id, "delete"),
        ("schedule_v3_reference", v3_id, "create"),
        ("schedule_v3_reference", v3_id, "update"),  # a rotation
        ("schedule_v3_reference", v3_id, "update"),  # an event
        ("schedule_v3_reference", v3_id, "update"),  # renamed
        ("schedule_v3_reference", v3_id, "delete"),
        ("team_reference", team_id, "delete"),
        ("user_reference", new_user["user"]["id"], "create"),
        ("user_reference", new_user["user"]["id"], "delete"),
    ]
    (
        created_team, added, team_role, removed, admin, demoted, renamed,
        created_schedule, _, created_policy, renamed_policy, retargeted, *_,
    ) = records  # fmt: skip
    assert _field(created_team, "name") == {"name": "name", "value": "Audit Team"}
    assert _ref_ids(added, "members", "added") == [u1]
    assert team_role["details"]["resource"]["id"] == u1
    assert team_role["details"]["resource"]["type"] == "user_reference"
    assert team_role["details"]["fields"] == [
        {"name": "team_role", "before_value": "responder", "value": "manager"}
    ]
    assert _ref_ids(removed, "members", "removed") == [u1]
    assert _field(admin, "role") == {"name": "role", "before_value": "user", "value": "admin"}
    assert _field(demoted, "role") == {"name": "role", "before_value": "admin", "value": "user"}
    assert _field(renamed, "name")["value"] == "Renamed Person"
    assert _ref_ids(created_schedule, "teams", "added") == [team_id]
    assert _ref_ids(created_schedule, "users", "added") == [u1, u2]
    assert _ref_ids(created_policy, "targets", "added") == [schedule_id]
    assert _field(renamed_policy, "name")["before_value"] == "Audit escalation"
    assert _ref_ids(retargeted, "targets", "added") == [u1]
    assert _ref_ids(retargeted, "targets", "removed") == [schedule_id]
    v3_event = records[16]
    assert _ref_ids(v3_event, "users", "added") == [u1]
    assert v3_event["root_resource"]["self"].endswith(f"/v3/schedules/{v3_id}")
    for record in records:  # an account-level key's writes name the key, never the key itself
        assert record["actors"] == [
            {
                "id": key_id(sim.api_key),
                "type": "api_key_reference",
                "summary": f"API key ending in {sim.api_key[-4:]}",
            }
        ]
        assert record["method"] == {"type": "api_token", "truncated_token": sim.api_key[-4:]}
        assert sim.api_key not in str(record)


async def test_deleting_a_user_records_every_object_they_leave(
    check: Checker, sim: Simulator
) -> None:
    account = sim.account
    user = account.create("users", {"name": "Leaving User", "email": "leaving@example.com"})["id"]
    other = _plain_user(sim)
    team_id = sorted(account.teams)[0]
    account.add_team_member(team_id, user, "responder")
    schedule = account.create(
        "schedules",
        {"name": "Pair", "time_zone": "UTC", "schedule_layers": [_layer([user, other])]},
    )
    targets = [{"id": user, "type": "user"}, {"id": other, "type": "user"}]
    policy = account.create(
        "escalation_policies",
        {
            "name": "Pair escalation",
            "escalation_rules": [{"escalation_delay_in_minutes": 5, "targets": targets}],
        },
    )
    await check.call("DELETE", f"/users/{user}", expect=204)
    records = await _all_records(check, params={"actions[]": ["update", "delete"]})
    assert (records[0]["root_resource"]["id"], records[0]["action"]) == (user, "delete")
    left = {r["root_resource"]["id"]: r for r in records[1:4]}
    assert _ref_ids(left[team_id], "members", "removed") == [user]
    assert _ref_ids(left[schedule["id"]], "users", "removed") == [user]
    assert _ref_ids(left[policy["id"]], "targets", "removed") == [user]


async def test_filters_by_type_action_actor_and_method(check: Checker, sim: Simulator) -> None:
    admin = next(u for u, v in sorted(sim.account.users.items()) if v["role"] == "admin")
    sim.add_api_key("admin-user-key-a1b2", user_id=admin)
    as_admin = {"Authorization": "Token token=admin-user-key-a1b2"}
    await check.call("POST", "/teams", expect=201, json={"team": {"name": "By key"}})
    await check.call(
        "POST", "/teams", expect=201, headers=as_admin, json={"team": {"name": "By admin"}}
    )
    v3 = await check.json(
        "POST", "/v3/schedules", expect=201, json={"schedule": {"name": "V3", "time_zone": "UTC"}}
    )

    def summaries(records: list[JSON]) -> list[str]:
        return [r["root_resource"]["summary"] for r in records]

    schedules = await _all_records(check, params={"root_resource_types[]": "schedules"})
    assert [r["root_resource"]["id"] for r in schedules] == [v3["schedule"]["id"]]
    by_user = await _all_records(check, params={"actor_type": "user_reference", "actor_id": admin})
    assert summaries(by_user) == ["By admin"]
    assert by_user[0]["actors"][0]["id"] == admin
    by_key = await _all_records(
        check, params={"method_type": "api_token", "method_truncated_token": sim.api_key[-4:]}
    )
    assert summaries(by_key) == ["V3", "By key"]
    creates = await _all_records(
        check, params={"actions[]": ["create"], "root_resource_types[]": "teams"}
    )
    assert summaries(creates) == ["By admin", "By key"]
    for params in (
        {"actor_id": admin},  # needs actor_type
        {"method_truncated_token": "a1b2"},  # needs method_type
        {"actor_type": "robot"},
        {"actions[]": "rename"},
        {"root_resource_types[]": "incidents"},
        {"cursor": "not a cursor!"},
    ):
        error = await check.json("GET", "/audit/records", expect=400, params=params)
        assert error["error"]["code"] == 2001, params


async def test_window_defaults_and_limits(check: Checker, sim: Simulator, ticker: Ticker) -> None:
    await check.call("POST", "/teams", expect=201, json={"team": {"name": "Two days ago"}})
    written = sim.now()
    ticker.advance(2)
    await check.call("POST", "/teams", expect=201, json={"team": {"name": "Just now"}})
    recent = await _all_records(check)  # since defaults to 24 hours ago
    assert [r["root_resource"]["summary"] for r in recent] == ["Just now"]
    since = (written - timedelta(hours=1)).isoformat()
    until = (written + timedelta(hours=1)).isoformat()
    older = await _all_records(check, params={"since": since, "until": until})
    assert [r["root_resource"]["summary"] for r in older] == ["Two days ago"]
    both = await _all_records(check, params={"since": since})  # until defaults to now
    assert len(both) == 2
    now = sim.now()
    for params in (
        {"since": (now - timedelta(days=32)).isoformat()},  # until (now) > since + 31 days
        {"since": now.isoformat(), "until": (now - timedelta(hours=1)).isoformat()},
        {"since": "yesterday"},
        {"since": "0001-01-01T00:00:00+14:00"},
    ):
        await check.call("GET", "/audit/records", expect=400, params=params)


async def test_records_are_kept_twelve_months(
    check: Checker, sim: Simulator, ticker: Ticker
) -> None:
    await check.call("POST", "/teams", expect=201, json={"team": {"name": "Old news"}})
    written = sim.now()
    window = {
        "since": (written - timedelta(days=1)).isoformat(),
        "until": (written + timedelta(days=1)).isoformat(),
    }
    ticker.advance(364)
    assert len(await _all_records(check, params=window)) == 1
    ticker.advance(2)  # now more than 365 days after the write
    assert await _all_records(check, params=window) == []
    assert len(sim.account.audit_records) == 0  # dropped, not just hidden


async def test_without_the_audit_trail_feature_every_audit_path_is_402() -> None:
    config = SimulatorConfig.for_scale("tiny", api_key="no-audit-key", audit_trail=False)
    sim: Simulator = create_app(build_account(config), config).state.simulator
    team_id = sorted(sim.account.teams)[0]
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=sim.app),
        base_url="http://sim.test",
        headers={"Authorization": f"Token token={sim.api_key}"},
    ) as client:
        check = Checker(load_spec(), client)
        for path in ("/audit/records", f"/teams/{team_id}/audit/records"):
            error = await check.json("GET", path, expect=402)
            assert error["error"]["code"] == 2014
        abilities = await check.json("GET", "/abilities", expect=200)
        assert "audit_trail" not in abilities["abilities"]
        await check.call("GET", "/abilities/audit_trail", expect=402)
        await check.call("POST", "/teams", expect=201, json={"team": {"name": "Still works"}})


async def test_who_may_read_the_account_trail(check: Checker, sim: Simulator) -> None:
    plain = _plain_user(sim)
    admin = next(u for u, v in sorted(sim.account.users.items()) if v["role"] == "admin")
    sim.add_api_key("plain-user-key", user_id=plain)
    sim.add_api_key("admin-user-key", user_id=admin)
    denied = await check.json(
        "GET", "/audit/records", expect=403, headers={"Authorization": "Token token=plain-user-key"}
    )
    assert denied["error"]["code"] == 2010
    await check.call(
        "GET", "/audit/records", expect=200, headers={"Authorization": "Token token=admin-user-key"}
    )
    # A plain user may still read one resource's trail.
    team_id = sorted(sim.account.teams)[0]
    await check.call(
        "GET",
        f"/teams/{team_id}/audit/records",
        expect=200,
        headers={"Authorization": "Token token=plain-user-key"},
    )
    # OAuth: the scope decides (403 naming it), then the role.
    owner = sim.account.owner_id
    for scopes, user, status in (
        ({"users.read", "teams.read"}, owner, 403),
        ({"audit_records.read"}, owner, 200),
        ({"audit_records.read"}, None, 200),  # an app token is account-level
        ({"audit_records.read"}, plain, 403),
    ):
        token = sim.tokens.issue_access_token("client", user, frozenset(scopes), 600)
        headers = {"Authorization": f"Bearer {token}"}
        response = await check.call("GET", "/audit/records", expect=status, headers=headers)
        if status == 403 and user == owner:
            assert "audit_records.read" in response.json()["error"]["message"]


async def test_app_and_user_tokens_are_named_as_actors(check: Checker, sim: Simulator) -> None:
    app_token = sim.tokens.issue_access_token("ci-app", None, frozenset({"teams.write"}), 600)
    owner = sim.account.owner_id
    user_token = sim.tokens.issue_access_token("ci-app", owner, frozenset({"teams.write"}), 600)
    for token, name in ((app_token, "By app"), (user_token, "By owner")):
        await check.call(
            "POST",
            "/teams",
            expect=201,
            headers={"Authorization": f"Bearer {token}"},
            json={"team": {"name": name}},
        )
    by_user, by_app = await _all_records(check)
    assert by_app["actors"] == [{"id": "ci-app", "type": "app_reference", "summary": "ci-app"}]
    assert by_app["method"] == {"type": "oauth", "truncated_token": app_token[-4:]}
    assert [(a["id"], a["type"]) for a in by_user["actors"]] == [(owner, "user_reference")]
    apps = await _all_records(check, params={"actor_type": "app_reference", "actor_id": "ci-app"})
    assert [r["id"] for r in apps] == [by_app["id"]]


async def test_per_resource_trails(check: Checker, sim: Simulator) -> None:
    team = await check.json("POST", "/teams", expect=201, json={"team": {"name": "Mine"}})
    team_id = team["team"]["id"]
    await check.call("PUT", f"/teams/{team_id}", expect=200, json={"team": {"description": "x"}})
    await check.call("POST", "/teams", expect=201, json={"team": {"name": "Not mine"}})
    mine = await _all_records(check, f"/teams/{team_id}/audit/records")
    assert [r["action"] for r in mine] == ["update", "create"]
    await check.call("DELETE", f"/teams/{team_id}", expect=204)
    kept = await _all_records(check, f"/teams/{team_id}/audit/records")
    assert [r["action"] for r in kept] == ["delete", "update", "create"]  # a deleted team's trail
    await check.call("GET", "/teams/PNOSUCH/audit/records", expect=404)
    user_id = _plain_user(sim)
    await check.call("GET", f"/schedules/{user_id}/audit/records", expect=404)  # not a schedule
    v3 = await check.json(
        "POST", "/v3/schedules", expect=201, json={"schedule": {"name": "Own", "time_zone": "UTC"}}
    )
    v3_id = v3["schedule"]["id"]
    assert len(await _all_records(check, f"/v3/schedules/{v3_id}/audit/records")) == 1
    await check.call("GET", f"/schedules/{v3_id}/audit/records", expect=404)


async def test_a_saved_and_loaded_account_keeps_its_trail_and_its_order(
    check: Checker, sim: Simulator, tmp_path: Any
) -> None:
    for name in ("One", "Two", "Three"):
        await check.call("POST", "/teams", expect=201, json={"team": {"name": name}})
    path = tmp_path / "account.json"
    sim.account.save(path)
    loaded = type(sim.account).load(path)
    assert [r["id"] for r in loaded.audit_records()] == [
        r["id"] for r in sim.account.audit_records()
    ]
