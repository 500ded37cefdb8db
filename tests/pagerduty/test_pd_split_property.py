"""The cap split, as a property: every object exactly once, or a clear error, never silent loss.

The simulator matches ``query`` as a substring; PagerDuty may match prefixes. This small
PagerDuty-like server (an ``httpx.MockTransport``) does either, with a tiny offset cap so that
hypothesis can try many account shapes quickly.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import httpx
from clock import FakeClock
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pdsearch.pagerduty import ApiKeyAuth, PagerDutyClient, PagingLimitError

CAP = 120
HTML = "https://corp.pagerduty.com/users"


@dataclass
class Server:
    users: list[dict[str, Any]]
    substring: bool
    teams_ability: bool
    refused: list[str] = field(default_factory=list)

    def matches(self, user: dict[str, Any], query: str) -> bool:
        texts = [user["name"].lower(), user["email"].lower()]
        if self.substring:
            return any(query in t for t in texts)
        return any(t.startswith(query) for t in texts)

    def handle(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        params = request.url.params
        if path == "/users/me":
            return httpx.Response(400, json={"error": "account-level access token"})
        if path == "/abilities":
            return httpx.Response(200, json={"abilities": ["teams"] if self.teams_ability else []})
        if path == "/teams":
            teams = sorted({t for u in self.users for t in u["team_ids"]})
            body = {"teams": [{"id": t, "name": t} for t in teams], "more": False}
            return httpx.Response(200, json=body)
        assert path == "/users"
        limit, offset = min(int(params.get("limit", 25)), 100), int(params.get("offset", 0))
        if offset + limit > CAP:
            self.refused.append(str(request.url))
            return httpx.Response(400, json={"error": {"code": 2002, "message": "cap"}})
        found = sorted(self.users, key=lambda u: (u["name"].lower(), u["id"]))
        if params.get("query"):
            found = [u for u in found if self.matches(u, params["query"].lower())]
        teams = params.get_list("team_ids[]")
        if teams:
            found = [u for u in found if set(teams) & set(u["team_ids"])]
        page = found[offset : offset + limit]
        body = {
            "users": [
                {"id": u["id"], "name": u["name"], "email": u["email"], "html_url": HTML}
                for u in page
            ],
            "limit": limit,
            "offset": offset,
            "more": offset + len(page) < len(found),
            "total": len(found) if params.get("total") == "true" else None,
        }
        return httpx.Response(200, content=json.dumps(body).encode())


first = st.sampled_from(["ada", "al", "bo", "cy", "dee", "eve", "zoë", "ola", "al"])
last = st.sampled_from(["lee", "li", "ng", "smith", "o'neil", "x", "al"])
users_strategy = st.lists(
    st.tuples(first, last, st.lists(st.sampled_from(["PT1", "PT2", "PT3"]), max_size=2)),
    min_size=CAP - 20,
    max_size=CAP * 4,
)


async def read_users(server: Server) -> list[str]:
    async with PagerDutyClient(
        ApiKeyAuth("k" * 20),
        base_url="http://127.0.0.1:9",
        transport=httpx.MockTransport(server.handle),
        clock=FakeClock(),
        offset_cap=CAP,
    ) as pd:
        return [u.id async for u in pd.users(include_teams=False)]


def build(specs: list[tuple[str, str, list[str]]]) -> list[dict[str, Any]]:
    return [
        {
            "id": f"PU{i:05d}",
            "name": f"{a.title()} {b.title()}",
            "email": f"{a}.{b}{i}@corp.example.com",
            "team_ids": teams,
        }
        for i, (a, b, teams) in enumerate(specs)
    ]


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(users_strategy, st.booleans(), st.booleans())
async def test_split_reads_everything_once_or_says_it_cannot(
    specs: list[tuple[str, str, list[str]]], substring: bool, teams_ability: bool
) -> None:
    server = Server(build(specs), substring, teams_ability)
    refusal: PagingLimitError | None = None
    try:
        ids = await read_users(server)
    except PagingLimitError as exc:
        refusal, ids = exc, []
    if refusal is not None:
        assert "could not be read completely" in str(refusal)
    else:
        assert len(ids) == len(set(ids))
        assert set(ids) == {u["id"] for u in server.users}
    assert server.refused == []


async def test_prefix_matching_server_is_split_completely() -> None:
    specs: list[tuple[str, str, list[str]]] = [
        (f"n{i % 37:02d}", f"s{i}", []) for i in range(CAP * 5)
    ]
    server = Server(build(specs), substring=False, teams_ability=False)
    ids = await read_users(server)
    assert sorted(ids) == sorted(u["id"] for u in server.users)
