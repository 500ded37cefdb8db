"""The simulator's ASGI app: PagerDuty's REST API v2 paths, OAuth endpoints, rules and faults.

Every API request goes through the same steps, in the order PagerDuty's edge would apply them:
count it, add latency, maybe answer with an injected fault (before anything else, so a fault never
changes the account), find the route (404), authenticate (401 code 2006), charge the token's
rate-limit budget (429 code 2020), check the OAuth scope the spec names (403), then run the
handler. Every answer to an authenticated request carries the ``ratelimit-*`` headers.
"""

from __future__ import annotations

import asyncio
import re

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from pdsearch.simulator import audit_api, oncalls, reads, schedule_routes, v3_writes, writes
from pdsearch.simulator.account import Account
from pdsearch.simulator.api import ApiError, Call, Handler, Reply, dump
from pdsearch.simulator.cache import CACHEABLE
from pdsearch.simulator.config import SimulatorConfig
from pdsearch.simulator.errors import AccountError, NotFound
from pdsearch.simulator.faults import DEFAULT_SLOW_SECONDS, pick_fault, send_fault
from pdsearch.simulator.oauth import authorize, token
from pdsearch.simulator.paging import PagingError
from pdsearch.simulator.scopes import REQUIRED_SCOPE, V3_SCOPES
from pdsearch.simulator.state import Simulator

ROUTES: list[tuple[str, str, Handler]] = [
    ("GET", "/users/me", reads.get_me),
    ("GET", "/users", reads.list_users),
    ("POST", "/users", writes.create_user),
    ("GET", "/users/{id}", reads.get_user),
    ("PUT", "/users/{id}", writes.update_user),
    ("DELETE", "/users/{id}", writes.delete_user),
    ("GET", "/teams", reads.list_teams),
    ("POST", "/teams", writes.create_team),
    ("GET", "/teams/{id}", reads.get_team),
    ("PUT", "/teams/{id}", writes.update_team),
    ("DELETE", "/teams/{id}", writes.delete_team),
    ("GET", "/teams/{id}/members", reads.list_team_members),
    ("PUT", "/teams/{id}/users/{user_id}", writes.put_team_user),
    ("DELETE", "/teams/{id}/users/{user_id}", writes.delete_team_user),
    ("GET", "/schedules", reads.list_schedules),
    ("POST", "/schedules", writes.create_schedule),
    ("GET", "/schedules/{id}", schedule_routes.get_schedule),
    ("GET", "/schedules/{id}/overrides", schedule_routes.list_overrides),
    ("POST", "/schedules/{id}/overrides", schedule_routes.create_overrides),
    ("DELETE", "/schedules/{id}/overrides/{override_id}", schedule_routes.delete_override),
    ("GET", "/oncalls", oncalls.list_oncalls),
    ("PUT", "/schedules/{id}", writes.update_schedule),
    ("DELETE", "/schedules/{id}", writes.delete_schedule),
    ("GET", "/escalation_policies", reads.list_policies),
    ("POST", "/escalation_policies", writes.create_policy),
    ("GET", "/escalation_policies/{id}", reads.get_policy),
    ("PUT", "/escalation_policies/{id}", writes.update_policy),
    ("DELETE", "/escalation_policies/{id}", writes.delete_policy),
    ("GET", "/abilities", reads.list_abilities),
    ("GET", "/abilities/{id}", reads.get_ability),
    ("GET", "/audit/records", audit_api.list_audit_records),
    ("GET", "/users/{id}/audit/records", audit_api.resource_records("users")),
    ("GET", "/teams/{id}/audit/records", audit_api.resource_records("teams")),
    ("GET", "/schedules/{id}/audit/records", audit_api.resource_records("schedules")),
    (
        "GET",
        "/escalation_policies/{id}/audit/records",
        audit_api.resource_records("escalation_policies"),
    ),
    ("GET", "/services", reads.list_services),
    ("GET", "/services/{id}/audit/records", audit_api.resource_records("services")),
    ("GET", "/v3/schedules/{id}/audit/records", audit_api.resource_records("schedules_v3")),
    ("GET", "/v3/schedules", reads.list_schedules_v3),
    ("POST", "/v3/schedules", v3_writes.create_schedule),
    ("GET", "/v3/schedules/{id}", reads.get_schedule_v3),
    ("PUT", "/v3/schedules/{id}", v3_writes.update_schedule),
    ("DELETE", "/v3/schedules/{id}", v3_writes.delete_schedule),
    ("GET", "/v3/schedules/{id}/rotations", v3_writes.list_rotations),
    ("POST", "/v3/schedules/{id}/rotations", v3_writes.create_rotation),
    ("GET", "/v3/schedules/{id}/rotations/{rotation_id}", v3_writes.get_rotation),
    ("DELETE", "/v3/schedules/{id}/rotations/{rotation_id}", v3_writes.delete_rotation),
    ("GET", "/v3/schedules/{id}/rotations/{rotation_id}/events", v3_writes.list_events),
    ("POST", "/v3/schedules/{id}/rotations/{rotation_id}/events", v3_writes.create_event),
    (
        "GET",
        "/v3/schedules/{id}/rotations/{rotation_id}/events/{event_id}",
        v3_writes.get_event,
    ),
    (
        "PUT",
        "/v3/schedules/{id}/rotations/{rotation_id}/events/{event_id}",
        v3_writes.update_event,
    ),
    (
        "DELETE",
        "/v3/schedules/{id}/rotations/{rotation_id}/events/{event_id}",
        v3_writes.delete_event,
    ),
]

_NOT_FOUND = {
    "schedules": (3004, "Schedule Not Found"),
    "schedules_v3": (3004, "Schedule Not Found"),
    "escalation_policies": (5001, "Escalation Policy Not Found"),
    "teams": (6001, "Team Not Found"),
}
_JSON = (b"content-type", b"application/json; charset=utf-8")


def _compile(template: str) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template) + r"\Z")


_COMPILED = [
    (method, template, _compile(template), handler) for method, template, handler in ROUTES
]


def _scope_for(method: str, template: str) -> str | None:
    scope = REQUIRED_SCOPE.get((method, template))
    if scope is None and template.startswith("/v3/"):
        return V3_SCOPES[method]
    return scope


def _match(method: str, path: str) -> tuple[str, Handler, dict[str, str]] | bool | None:
    """The route for a request; ``False`` when the path exists but not for this method."""
    path_known = False
    for route_method, template, pattern, handler in _COMPILED:
        m = pattern.match(path)
        if m is None:
            continue
        if route_method == method:
            return template, handler, m.groupdict()
        path_known = True
    return False if path_known else None


class RestApi:
    """The ASGI app behind every non-OAuth path."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        sim: Simulator = scope["app"].state.simulator
        path: str = scope["path"].rstrip("/") or "/"
        method: str = scope["method"]
        sim.request_count += 1
        sim.requests_by_path[path] += 1
        config = sim.config
        if config.latency_ms > 0:
            await asyncio.sleep(config.latency_ms / 1000)
        fault = pick_fault(sim.fault_random, config.fault_rate, config.fault_kinds)
        if fault is not None:
            await send_fault(fault, receive, send, sim.slow_seconds)
            return
        headers: dict[str, str] = {}
        try:
            reply = await self._answer(sim, scope, receive, method, path, headers)
        except (ApiError, NotFound, AccountError, PagingError) as exc:
            reply = _error_reply(exc, path)
        await self._send(send, reply, headers)

    async def _answer(
        self,
        sim: Simulator,
        scope: Scope,
        receive: Receive,
        method: str,
        path: str,
        headers: dict[str, str],
    ) -> Reply:
        route = _match(method, path)
        if route is None:
            raise ApiError(404, 2100, "Not Found")
        request = Request(scope, receive)
        principal = sim.tokens.authenticate(request.headers.get("authorization"))
        if principal is None:
            raise ApiError(
                401,
                2006,
                "Authentication failed",
                [
                    "The API key or OAuth token is missing, malformed, revoked or expired. "
                    "Send 'Authorization: Token token=<api key>' or 'Bearer <oauth token>'."
                ],
            )
        budget = config_budget(sim)
        if budget > 0:
            decision = sim.limiter.check(principal.bucket, budget)
            headers.update(decision.headers())
            if not decision.allowed:
                raise ApiError(429, 2020, "Rate Limit Exceeded")
        if route is False or route is True:
            raise ApiError(405, 2100, "Method Not Allowed")
        template, handler, params = route
        needed = _scope_for(method, template)
        if needed is not None and not principal.allows(needed):
            raise ApiError(
                403,
                2010,
                f"Access Denied: this token lacks the {needed} scope",
                [f"The {method} {template} endpoint requires the OAuth scope {needed}."],
            )
        if method != "GET" or template not in CACHEABLE:
            return await handler(Call(sim, principal, request, params))
        account = sim.account
        version = account.version
        if version != sim.cache_version:
            sim.cache.clear()
            sim.cache_version = version
        key = (path, scope["query_string"], tuple(account.abilities))
        cached = sim.cache.get(key)
        if cached is not None:
            return Reply(200, raw=cached)
        reply = await handler(Call(sim, principal, request, params))
        if reply.status != 200 or reply.body is None:
            return reply
        raw = dump(reply.body)
        sim.cache.put(key, raw)
        return Reply(200, raw=raw)

    @staticmethod
    async def _send(send: Send, reply: Reply, headers: dict[str, str]) -> None:
        if reply.raw is not None:
            body = reply.raw
        else:
            body = b"" if reply.body is None else dump(reply.body)
        raw_headers = [(k.encode(), v.encode()) for k, v in headers.items()]
        if reply.body is not None or reply.raw is not None:
            raw_headers.append(_JSON)
        raw_headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": reply.status, "headers": raw_headers})
        await send({"type": "http.response.body", "body": body})


def _error_reply(exc: ApiError | NotFound | AccountError | PagingError, path: str) -> Reply:
    """PagerDuty's error body for ``exc``; a 400 on a v3 schedule path has ``errors`` as a
    field map (``V3ErrorResponse``), everywhere else as a list of strings."""
    field: str | None = None
    if isinstance(exc, ApiError):
        status, body = exc.status, exc.body()
    elif isinstance(exc, NotFound):
        code, message = _NOT_FOUND.get(exc.kind, (2100, "Not Found"))
        status, body = 404, {"error": {"message": message, "code": code, "errors": [str(exc)]}}
    elif isinstance(exc, AccountError):
        error = {"message": "Invalid Input Provided", "code": 2001, "errors": [str(exc)]}
        status, body = 400, {"error": error}
    else:
        field = exc.param
        error = {"message": exc.message, "code": exc.code, "errors": exc.errors}
        status, body = 400, {"error": error}
    if status == 400 and _v3_errors(path):
        inner = body.get("error") if isinstance(body, dict) else None
        if isinstance(inner, dict) and isinstance(inner.get("errors"), list):
            inner["errors"] = {field or _v3_resource(path): inner["errors"]}
    return Reply(status, body)


def _v3_errors(path: str) -> bool:
    """The v3 schedule operations whose 400 is a ``V3ErrorResponse`` (not the audit trail)."""
    return path.startswith("/v3/") and not path.endswith("/audit/records")


def _v3_resource(path: str) -> str:
    """The spec's field-path prefix for a v3 error: the resource type the path is about."""
    if "/events" in path:
        return "event"
    if "/rotations" in path:
        return "rotation"
    return "schedule"


def config_budget(sim: Simulator) -> int:
    return int(sim.config.rate_limit)


def create_app(
    account: Account,
    config: SimulatorConfig,
    *,
    abilities: set[str] | None = None,
    slow_seconds: float = DEFAULT_SLOW_SECONDS,
) -> Starlette:
    """The simulator as an ASGI app; ``app.state.simulator`` is the live ``Simulator``.

    ``abilities`` replaces the account's abilities (drop ``teams`` to get PagerDuty's 402s);
    ``slow_seconds`` is how long the ``timeout`` fault keeps a client waiting.
    """
    app = Starlette(
        routes=[
            Route("/oauth/authorize", authorize, methods=["GET"]),
            Route("/oauth/token", token, methods=["POST"]),
        ]
    )
    # Everything else is the REST API, which routes (and answers 404/405) in PagerDuty's
    # shape itself: as the router's default it also gets paths a route pattern would not
    # match, such as an id holding a newline.
    app.router.default = RestApi()
    sim = Simulator(account, config, abilities=abilities, slow_seconds=slow_seconds)
    sim.app = app
    app.state.simulator = sim
    return app
