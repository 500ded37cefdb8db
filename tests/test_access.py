"""Who sees what (DESIGN.md 2.2, issue 4 "Access"): end to end through sync and search."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from pdsearch.search import search

ADMIN_ROLES = ("owner", "admin")
HOSTILE = [
    '"',
    '""',
    "*",
    "**",
    "NEAR(",
    "NEAR(a b, 2)",
    "sys_racl:x",
    "acl:x",
    "title:*",
    "OR",
    "a OR b",
    "NOT payments",
    "AND",
    "(",
    ")",
    "^",
    "-",
    "'; DROP TABLE docs; --",
    "x" * 10_000,
    "payments " * 2_000,
    "\x00\x01\x02\x1b[31m",
    "\u202e\u200b\ufeff",
    "%_%",
    "{title content}: x",
    "\\",
]


@dataclass
class Case:
    schedule_id: str
    schedule_name: str
    team_id: str
    team_name: str
    member: str  # e-mail of a non-admin member of the team
    member_id: str
    outsider: str  # e-mail of a non-admin user in no team of the schedule
    admin: str


def _pick(account: Any) -> Case:
    """A schedule of exactly one private team, a member of it, an outsider and an admin."""
    users = account.users
    members = {t: {m["user_id"] for m in ms} for t, ms in account.memberships.items()}
    plain = [u for u in sorted(users) if users[u].get("role") not in ADMIN_ROLES]
    for sid in sorted(account.schedules):
        rendered = account.render(account.schedule_kind(sid), sid)
        teams = [t["id"] for t in rendered.get("teams") or []]
        if len(teams) != 1 or account.teams[teams[0]].get("default_role") != "none":
            continue
        team = teams[0]
        inside = [u for u in plain if u in members.get(team, set())]
        outside = [u for u in plain if all(u not in members.get(t, set()) for t in teams)]
        if inside and outside:
            admin = next(u for u in sorted(users) if users[u].get("role") in ADMIN_ROLES)
            return Case(
                sid, rendered["name"], team, account.teams[team]["name"],
                users[inside[0]]["email"], inside[0], users[outside[0]]["email"],
                users[admin]["email"],
            )
    raise AssertionError("the generated account has no private team schedule")


def _ids(env: Any, query: str, user: str, limit: int = 100) -> set[str]:
    return {h.id for h in search(env.index, env.store.entities, query, user, limit=limit).hits}


def _visible(env: Any, user: str) -> set[str]:
    """Computed apart from search: documents whose sys_racl meets the user's entities."""
    entities = env.store.entities.for_user(user, env.connector_id)
    docs, _ = env.index.list(env.connector_id, 0, 100_000)
    return {d.id for d in docs if entities & set(d.sys_racl)}


@pytest.fixture
async def synced(sync_env: Any) -> tuple[Any, Case]:
    job = await sync_env.service.run(sync_env.connector_id)
    assert job.status == "succeeded", job.error
    return sync_env, _pick(sync_env.sim.account)


async def test_a_member_of_a_private_team_finds_its_schedule(synced: tuple[Any, Case]
                                                             ) -> None:
    env, case = synced
    doc_id = f"schedule:{case.schedule_id}"
    assert doc_id in _ids(env, case.schedule_name, case.member)
    assert doc_id in _ids(env, case.schedule_name, case.member.upper())  # e-mail case ignored


async def test_a_user_outside_does_not_find_it_by_any_query(synced: tuple[Any, Case]
                                                            ) -> None:
    env, case = synced
    doc_id = f"schedule:{case.schedule_id}"
    doc = env.index.get(env.connector_id, doc_id)
    assert doc is not None
    queries = [case.schedule_name, f'"{case.schedule_name}"', case.team_name, case.team_id,
               case.schedule_id, doc_id, "", "*", *case.schedule_name.split(),
               *doc.content.split()[:40], *HOSTILE]
    for query in queries:
        assert doc_id not in _ids(env, query, case.outsider), query
    # Browsing everything the outsider may see never lists it either.
    assert doc_id not in _visible(env, case.outsider)


async def test_an_admin_finds_everything(synced: tuple[Any, Case]) -> None:
    env, case = synced
    everything = env.index.count(env.connector_id)
    assert search(env.index, env.store.entities, "", case.admin, limit=100).total == everything
    assert f"schedule:{case.schedule_id}" in _ids(env, case.schedule_name, case.admin)


async def test_an_unknown_user_sees_nothing(synced: tuple[Any, Case]) -> None:
    env, case = synced
    for user in ("nobody@example.com", "", "   ", "*", case.team_id):
        results = search(env.index, env.store.entities, case.schedule_name, user)
        assert results.total == 0
        assert results.hits == []
        assert search(env.index, env.store.entities, "", user).total == 0


async def test_totals_never_count_what_the_user_cannot_see(synced: tuple[Any, Case]
                                                           ) -> None:
    env, case = synced
    for user in (case.member, case.outsider, case.admin):
        visible = _visible(env, user)
        browse = search(env.index, env.store.entities, "", user, limit=5)
        assert browse.total == len(visible)
        for query in ("primary", "schedule", case.team_name, "escalation"):
            admin_view = _ids(env, query, case.admin)  # the admin sees every match
            mine = search(env.index, env.store.entities, query, user, limit=100)
            assert mine.total == len(admin_view & visible), (user, query)
            assert {h.id for h in mine.hits} <= visible


async def test_hostile_strings_never_raise_nor_widen_access(synced: tuple[Any, Case]
                                                            ) -> None:
    env, case = synced
    for user in (case.member, case.outsider, "nobody@example.com"):
        visible = _visible(env, user)
        for query in HOSTILE:
            results = search(env.index, env.store.entities, query, user, limit=100)
            assert {h.id for h in results.hits} <= visible, (user, query)
            assert results.total <= len(visible)
    for limit, offset in ((-5, -5), (10_000, 10**9), (0, 0)):
        results = search(env.index, env.store.entities, "primary", case.member, limit, offset)
        assert {h.id for h in results.hits} <= _visible(env, case.member)


async def test_team_removal_revokes_and_a_manual_grant_restores_and_survives(
    synced: tuple[Any, Case],
) -> None:
    env, case = synced
    doc_id = f"schedule:{case.schedule_id}"
    async with env.pd() as pd:
        resp = await pd.delete(f"/teams/{case.team_id}/users/{case.member_id}")
        assert resp.status_code == 204, resp.text

    job = await env.service.run(env.connector_id)
    assert job.status == "succeeded", job.error
    assert doc_id not in _ids(env, case.schedule_name, case.member)

    env.store.entities.add_manual_members(env.connector_id, case.team_id, [case.member.upper()])
    assert doc_id in _ids(env, case.schedule_name, case.member)

    for _ in range(2):
        job = await env.service.run(env.connector_id)
        assert job.status == "succeeded", job.error
        assert doc_id in _ids(env, case.schedule_name, case.member)
    entity = env.store.entities.get(env.connector_id, case.team_id)
    assert entity is not None
    assert case.member.lower() in entity.manual_user_ids

    env.store.entities.remove_manual_members(env.connector_id, case.team_id, [case.member])
    assert doc_id not in _ids(env, case.schedule_name, case.member)
