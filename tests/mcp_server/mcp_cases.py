"""What the MCP tests share: a private-team case from a simulated account, a small real on-call
answerer, and reading a tool's answer or error from the SDK's client."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from mcp.shared.exceptions import MCPError
from mcp.types import CallToolResult

from pdsearch.search import search

ADMIN_ROLES = ("owner", "admin")


@dataclass(frozen=True)
class Case:
    """A schedule of exactly one private team, a member of it, an outsider and an admin."""

    schedule_id: str
    schedule_name: str
    team_id: str
    team_name: str
    member: str
    outsider: str
    admin: str


def pick_case(account: Any) -> Case:
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
        # An outsider who sees other teams' documents: a known user, not a stranger.
        outside = [
            u for u in plain
            if u not in members.get(team, set()) and any(u in ms for ms in members.values())
        ]
        if inside and outside:
            admin = next(u for u in sorted(users) if users[u].get("role") in ADMIN_ROLES)
            return Case(
                sid, rendered["name"], team, account.teams[team]["name"],
                users[inside[0]]["email"], users[outside[0]]["email"], users[admin]["email"],
            )
    raise AssertionError("the generated account has no private team schedule")


@dataclass
class SearchOnCall:
    """A small real on-call answerer: the person's search results for the query, each with
    the first member of the account's team named in the document's title as on call now.
    It records what it was asked."""

    store: Any
    index: Any
    account: Any
    asked: list[tuple[str, str, datetime]] = field(default_factory=list)

    def __call__(self, user_email: str, query: str, at: datetime) -> dict[str, Any]:
        self.asked.append((user_email, query, at))
        hits = search(self.index, self.store.entities, query, user_email, limit=20).hits
        data = [
            {"id": h.id, "connector_id": h.source, "type": h.type, "title": h.title,
             "url": h.url, "oncall": self._oncall(h.title, at)}
            for h in hits
        ]
        return {"at": at, "total": len(data), "data": data}

    def _oncall(self, title: str, at: datetime) -> dict[str, Any] | None:
        for team_id, team in sorted(self.account.teams.items()):
            if team["name"] in title and self.account.memberships.get(team_id):
                user = self.account.users[self.account.memberships[team_id][0]["user_id"]]
                entry = {"level": None, "user": {"id": user["id"], "name": user["name"],
                         "email": user["email"]}, "schedule_id": None, "start": at, "end": None}
                return {"now": [entry], "next": []}
        return None


def structured(result: CallToolResult) -> dict[str, Any]:
    assert not result.is_error, result.content
    assert result.structured_content is not None
    return dict(result.structured_content)


def error_text(result: CallToolResult) -> str:
    """The text of a tool's error result."""
    assert result.is_error, result.structured_content
    text = " ".join(getattr(part, "text", "") for part in result.content)
    assert "Traceback" not in text
    return text


async def refused(client: Any, tool: str, arguments: dict[str, Any]) -> str:
    """Call a tool expecting an MCP error, as an error result or a protocol error; its text."""
    try:
        result = await client.call_tool(tool, arguments)
    except MCPError as exc:
        message = str(exc)
    else:
        return error_text(result)
    assert "Traceback" not in message
    return message
