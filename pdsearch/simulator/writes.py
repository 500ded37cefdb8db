"""The write endpoints, in the spec's envelopes (``{"schedule": {...}}``) and statuses.

POST answers 201 with the created object, PUT 200 with the updated one, DELETE 204; team
membership PUT/DELETE answer 204. The account validates and records an audit record per write.
"""

from __future__ import annotations

import secrets
from typing import Any

from pdsearch.simulator.api import ApiError, Call, Reply, invalid
from pdsearch.simulator.audit import Actor
from pdsearch.simulator.constants import TEAM_ROLES
from pdsearch.simulator.reads import open_ended, require_ability


async def envelope(call: Call, key: str) -> dict[str, Any]:
    body = await call.json_body()
    obj = body.get(key)
    if not isinstance(obj, dict):
        raise invalid(f"The body must be {{{key!r}: {{...}}}}.".replace("'", '"'))
    return obj


def actor(call: Call) -> Actor:
    """Who the audit record names (the calling user, else the app or the API key) and how."""
    principal = call.principal
    client = call.request.client
    return Actor(
        principal.user_id,
        "api_token" if principal.kind == "api_key" else "oauth",
        principal.token_tail,
        request_id=secrets.token_hex(8),
        remote_address=client.host if client else None,
        api_key_id=principal.key_id,
        app_id=principal.client_id,
    )


async def _create(call: Call, kind: str, key: str) -> Reply:
    obj = await envelope(call, key)
    return Reply(201, {key: _shaped(kind, call.sim.account.create(kind, obj, actor=actor(call)))})


async def _update(call: Call, kind: str, key: str) -> Reply:
    obj = await envelope(call, key)
    account = call.sim.account
    object_id = call.params["id"]
    account.get(kind, object_id)  # 404 before validating the body
    return Reply(200, {key: _shaped(kind, account.update(kind, object_id, obj, actor=actor(call)))})


def _shaped(kind: str, obj: dict[str, Any]) -> dict[str, Any]:
    return open_ended(obj) if kind == "schedules" else obj


async def _delete(call: Call, kind: str) -> Reply:
    call.sim.account.delete(kind, call.params["id"], actor=actor(call))
    return Reply(204)


def _require_from(call: Call) -> None:
    """PagerDuty wants a ``From`` header naming a user when an account-level token creates users."""
    if call.principal.user_id is not None:
        return
    sender = (call.request.headers.get("from") or "").strip().lower()
    if not any(str(u.get("email", "")).lower() == sender for u in call.sim.account.users.values()):
        raise invalid(
            "The From header must hold the e-mail address of a user of this account when an "
            "account-level token makes this request."
        )


async def create_user(call: Call) -> Reply:
    _require_from(call)
    return await _create(call, "users", "user")


async def update_user(call: Call) -> Reply:
    return await _update(call, "users", "user")


async def delete_user(call: Call) -> Reply:
    return await _delete(call, "users")


async def create_team(call: Call) -> Reply:
    require_ability(call, "teams")
    return await _create(call, "teams", "team")


async def update_team(call: Call) -> Reply:
    require_ability(call, "teams")
    return await _update(call, "teams", "team")


async def delete_team(call: Call) -> Reply:
    require_ability(call, "teams")
    return await _delete(call, "teams")


async def put_team_user(call: Call) -> Reply:
    require_ability(call, "teams")
    raw = await call.raw_body()
    role = "responder"  # what PagerDuty gives a member added without a role
    if raw.strip():
        body = await call.json_body()
        role = body.get("role", role)
    if role not in TEAM_ROLES:
        raise invalid(f"role must be one of {', '.join(TEAM_ROLES)}.")
    call.sim.account.add_team_member(
        call.params["id"], call.params["user_id"], role, actor=actor(call)
    )
    return Reply(204)


async def delete_team_user(call: Call) -> Reply:
    require_ability(call, "teams")
    account = call.sim.account
    team_id, user_id = call.params["id"], call.params["user_id"]
    account.get("teams", team_id)
    if not any(m["user_id"] == user_id for m in account.memberships.get(team_id, [])):
        raise ApiError(
            404, 2100, "Not Found", [f"User {user_id} is not a member of team {team_id}."]
        )
    account.remove_team_member(team_id, user_id, actor=actor(call))
    return Reply(204)


async def create_schedule(call: Call) -> Reply:
    return await _create(call, "schedules", "schedule")


async def update_schedule(call: Call) -> Reply:
    return await _update(call, "schedules", "schedule")


async def delete_schedule(call: Call) -> Reply:
    return await _delete(call, "schedules")


async def create_policy(call: Call) -> Reply:
    return await _create(call, "escalation_policies", "escalation_policy")


async def update_policy(call: Call) -> Reply:
    return await _update(call, "escalation_policies", "escalation_policy")


async def delete_policy(call: Call) -> Reply:
    return await _delete(call, "escalation_policies")
