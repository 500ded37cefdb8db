# Over 500 lines on purpose: what is sent, the service under attack and the judging of each answer
# (state compared around every request) are one harness its tests share; split, each part would
# be read only with the others open.
"""Hostile input to every route of the service (issue 6): a clear 4xx, never a 500, nothing
stored half-way.

The routes are read from the app itself (``app.routes``), so a route added later is fuzzed too.
Each one gets hostile path ids (slashes, percent-encoding, NUL, unicode, very long), hostile
query strings (absurd ``skip``/``limit``/``page``, NUL, FTS syntax), and, when it takes a body,
hostile bodies: malformed JSON, wrong content types, a 5 MB document, deep nesting, unknown
fields, and every field of a valid body replaced by values of the wrong type, huge strings,
control characters and unicode. Pages are fuzzed signed in (cookie + CSRF), so their handlers
run rather than the sign-in redirect.

Every answer must be below 500 and carry no traceback; every ``/api/v1`` and
``/oauth/callback`` error must have the shape ``{"error": {"code", "message"}}``; and after each
refused call the service's state (connectors, credentials, schedules, entities and their
members, jobs, indexed documents) must be exactly what it was before.

No request leaves the machine: the service runs in-process and its PagerDuty is the simulator
behind an ASGI transport; the hostile base URLs are only ever stored-or-refused, never dialled.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.routing import Route
from tally import tally

from pdsearch.store import NotFoundError

PD_BASE_URL = "http://127.0.0.1:9"  # the transport answers in-process; never dialled
USER = "someone@example.com"
#: Requests sent per route ("METHOD path" -> count) and their statuses, for docs/RELIABILITY.md.
SENT = tally("hostile HTTP requests per route (docs/RELIABILITY.md)", "statuses")

# --- what is sent -------------------------------------------------------------------------

#: Path ids, already percent-encoded where needed (they go into the URL as is).
HOSTILE_IDS = (
    "nope",
    "a%2Fb",
    "..%2F..%2Fetc%2Fpasswd",
    "%00",
    "%0d%0aSet-Cookie:%20x=y",
    "%E2%80%AE%1B%5B31m",
    "%F0%9F%92%A5%C3%BC",
    "%ff%fe",
    "x" * 4000,
    "%25",
    "%20",
    "'%3B%20DROP%20TABLE%20connectors%3B--",
    "%7Bconnector_id%7D",
    "*",
    "schedule%3AP123%22%20OR%201%3D1",
    "-1",
    "1e308",
)
HOSTILE_QUERIES: tuple[dict[str, Any], ...] = (
    {"skip": "-1"},
    {"skip": "1e3"},
    {"skip": "abc"},
    {"skip": "9" * 40},
    {"skip": "\x00"},
    {"limit": "0"},
    {"limit": "-5"},
    {"limit": "1.5"},
    {"limit": ""},
    {"limit": "10" * 30},
    {"skip": ["1", "2"], "limit": ["3", "x"]},
    {"page": "-1"},
    {"page": "0"},
    {"page": "9" * 30},
    {"page": "x"},
    {"q": '"NEAR(* OR sys_racl:*', "user": "\x00"},
    {"q": "\x00\x1b[31m\u202e", "user": "a" * 5000},
    {"next": "//evil.example/x", "oauth": "<script>alert(1)</script>"},
    {"q": "<script>alert(1)</script>", "user": "<script>alert(1)</script>@x.example",
     "entity": "<script>alert(1)</script>"},
    {"code": "x" * 600, "state": "\x00", "error": "access_denied", "ticket": "1.2.3"},
    {"unknown_field": "x", "include[]": "everything"},
)
JSON_CT = "application/json"
#: Hostile bodies: (raw bytes, content type).
RAW_BODIES: tuple[tuple[bytes, str], ...] = (
    (b"", JSON_CT),
    (b"{", JSON_CT),
    (b'{"a": 1,}', JSON_CT),
    (b"null", JSON_CT),
    (b"[]", JSON_CT),
    (b"0", JSON_CT),
    (b'"text"', JSON_CT),
    (b"{}", JSON_CT),
    (b'{"zzz_unknown": 1}', JSON_CT),
    (b"[" * 50_000 + b"]" * 50_000, JSON_CT),
    (b'{"a": ' * 20_000 + b"1" + b"}" * 20_000, JSON_CT),
    (b'{"limit": NaN, "interval_minutes": Infinity}', JSON_CT),
    (b'{"limit": 1' + b"0" * 5000 + b"}", JSON_CT),
    (b"\xff\xfe\x00{", JSON_CT),
    (b'{"query": "x"}\x00garbage', JSON_CT),
    (b'{"name": "x", "name": "y"}', JSON_CT),
    (b'{"query": "x", "user": "a@b.example"}', "text/plain"),
    (b"name=x&user=y", "application/x-www-form-urlencoded"),
    (b"--b\r\nContent-Disposition: form-data; name=x\r\n\r\ny\r\n--b--", "multipart/form-data"),
    (b"<xml/>", "application/xml"),
    (b'{"name": "' + b"a" * 5_000_000 + b'"}', JSON_CT),
)
WRONG_VALUES: tuple[Any, ...] = (
    None,
    True,
    0,
    -1,
    10**30,
    1.5,
    "",
    "   ",
    "x" * 100_000,
    "\x00",
    "a\x00b",
    "\u202e\x1b[31mred\x07",
    "\ud7ff\ufeff💥ü",
    '"NEAR(* OR sys_racl:*',
    "file:///etc/passwd",
    [],
    ["x"],
    {},
    {"nested": {"deeper": [1, {"x": None}]}},
)
HOSTILE_URLS = (
    "file:///etc/passwd",
    "ftp://api.pagerduty.com",
    "gopher://127.0.0.1:70",
    "javascript:alert(1)",
    "http://api.pagerduty.com",
    "http://example.com",
    "http://169.254.169.254/latest/meta-data",
    "http://10.0.0.1",
    "http://0.0.0.0",
    "http://127.0.0.1.nip.io",
    "http://localhost.evil.example",
    "http://[::ffff:a9fe:a9fe]",
    "https://user:secret@api.pagerduty.com",
    "https://api.pagerduty.com/?x=1",
    "https://api.pagerduty.com/#frag",
    "https://api.pagerduty.com/\x00",
    "https://api.pager duty.com",
    "https://api.pagerduty.com:99999",
    "https://xn--zz.example\u202e",
    "https://[::1",
    "https://",
    "//api.pagerduty.com",
    "api.pagerduty.com",
    "x" * 5000,
)
ABSURD_SCHEDULES: tuple[Any, ...] = (
    {"interval_minutes": 0},
    {"interval_minutes": -1},
    {"interval_minutes": 525_601},
    {"interval_minutes": 10**30},
    {"interval_minutes": 1.5},
    {"interval_minutes": "5"},
    {"interval_minutes": True},
    {"interval_minutes": None},
    {"cron": "0 0 31 2 *"},
    {"cron": "0 0 30 2 *", "timezone": "Europe/Berlin"},
    {"cron": "*/0 * * * *"},
    {"cron": "99 99 99 99 99"},
    {"cron": "* * * *"},
    {"cron": "* * * * * *"},
    {"cron": ""},
    {"cron": "\x00"},
    {"cron": "@reboot"},
    {"cron": "0 3 * * *", "timezone": "Mars/Olympus_Mons"},
    {"cron": "0 3 * * *", "timezone": "../../etc/passwd"},
    {"run_at": "2001-01-01T00:00:00Z"},
    {"run_at": "1970-01-01T00:00:00+00:00"},
    {"run_at": "tomorrow"},
    {"run_at": "2030-13-45T25:61:00Z"},
    {"run_at": "2030-01-01T09:00:00"},
    {"run_at": "2030-01-01"},
    {"run_at": ""},
    {"run_at": 1893456000},
    {"interval_minutes": 5, "cron": "* * * * *"},
    {"interval_minutes": 5, "run_at": "2030-01-01T09:00:00Z"},
    {"cron": "* * * * *", "run_at": "2030-01-01T09:00:00Z"},
    {"interval_minutes": 5, "timezone": "UTC"},
    {"interval_minutes": 5, "every": "day"},
    {},
    [],
    None,
)


# --- the service under attack -------------------------------------------------------------


@dataclass
class World:
    app: Any
    client: httpx.AsyncClient
    services: Any
    connector_id: str
    oauth_id: str
    job_id: str
    document_id: str
    subdomain: str
    throwaway: int = 0
    pending: list[str] = field(default_factory=list)  # throwaway connectors to remove
    failures: list[str] = field(default_factory=list)
    sent: Counter[str] = field(default_factory=Counter)  # this test's requests per route


#: What a refused Connect may change, by design: it records the outcome of the check.
CONNECT_OUTCOME = ("status", "last_error", "updated_at")


def state_of(services: Any, *, connect_outcome: bool = True) -> dict[str, Any]:
    """Everything a refused call must leave as it was (``connect_outcome=False``: without the
    fields a Connect records)."""
    store, index = services.store, services.index
    connectors, total = store.connectors.list(limit=10_000)
    rows = [c.to_dict() for c in connectors]
    if not connect_outcome:
        rows = [{k: v for k, v in row.items() if k not in CONNECT_OUTCOME} for row in rows]
    out: dict[str, Any] = {"connectors": rows, "total": total}
    for c in connectors:
        out[f"credentials {c.id}"] = store.connectors.get_credentials(c.id)
        out[f"entities {c.id}"] = [e.to_dict() for e in store.entities.list(c.id, limit=10_000)[0]]
        out[f"jobs {c.id}"] = [(j.id, j.status) for j in store.jobs.list(c.id, limit=10_000)[0]]
    out["schedules"] = store.schedules.list()
    docs, _ = index.list(None, 0, 100_000)
    out["documents"] = sorted((d.id, d.content_hash, tuple(d.sys_racl), d.source) for d in docs)
    return out


async def quiet(services: Any) -> None:
    """Wait until no sync runs, so the state only changes through the request under test."""
    store = services.store
    deadline = time.monotonic() + 20
    while True:
        connectors, _ = store.connectors.list(limit=10_000)
        if all(store.jobs.running(c.id) is None for c in connectors):
            return
        assert time.monotonic() < deadline, "a sync did not finish"
        await asyncio.sleep(0.02)


def has_error_shape(resp: httpx.Response) -> bool:
    try:
        body = resp.json()
    except ValueError:
        return False
    if not isinstance(body, dict) or set(body) != {"error"} or not isinstance(body["error"], dict):
        return False
    err = body["error"]
    return (
        isinstance(err.get("code"), str) and bool(err["code"])
        and isinstance(err.get("message"), str) and bool(err["message"])
    )


async def attack(
    world: World,
    method: str,
    url: str,
    *,
    route: str,
    params: Any = None,
    content: bytes | None = None,
    content_type: str | None = None,
    json_body: Any = None,
    allow: Callable[[httpx.Response], bool] | None = None,
) -> httpx.Response:
    """Send one hostile request; record (not raise) what is wrong, so one run lists them all."""
    await quiet(world.services)
    connect = url.endswith("/connect")
    before = state_of(world.services, connect_outcome=not connect)
    headers = {"content-type": content_type} if content_type else {}
    if json_body is not None:
        content = json.dumps(json_body).encode()
        headers["content-type"] = JSON_CT
    started = time.monotonic()
    resp = await world.client.request(method, url, params=params, content=content,
                                      headers=headers)
    took = time.monotonic() - started
    SENT.count(route, resp.status_code)
    world.sent[route] += 1
    what = f"{method} {url[:120]!r} params={str(params)[:80]} body={(content or b'')[:60]!r}"
    problems = []
    if resp.status_code >= 500:
        problems.append(f"status {resp.status_code}: {resp.text[:200]}")
    if "Traceback" in resp.text or 'File "/' in resp.text:
        problems.append("a traceback in the answer")
    api = url.startswith(("/api/", "/oauth/"))
    if api and resp.status_code >= 400 and not has_error_shape(resp):
        problems.append(f"not the error shape: {resp.text[:200]}")
    if "<script>alert(1)" in resp.text:  # pages escape what they echo (the CSP is a backstop)
        problems.append("hostile input reflected unescaped")
    if took > 10:
        problems.append(f"took {took:.1f}s")
    if resp.status_code >= 400 or (allow is not None and not allow(resp)):
        await quiet(world.services)
        after = state_of(world.services, connect_outcome=not connect)
        if after != before:
            changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
            problems.append(f"answered {resp.status_code}, yet the state changed: {changed}")
    if allow is not None and not allow(resp):
        problems.append(f"not refused as expected: {resp.status_code} {resp.text[:160]}")
    for problem in problems:
        world.failures.append(f"{what}: {problem}")
    while world.pending:  # keep the state small: it is compared around every request
        with contextlib.suppress(NotFoundError):
            world.services.store.connectors.delete(world.pending.pop())
    return resp


@pytest.fixture
async def world(
    api_settings: Any, pd_sim: Any, service: Any, job_waiter: Any
) -> AsyncIterator[World]:
    async with service(api_settings, pd_sim.transport) as (app, client):
        resp = await client.post("/api/v1/connectors", json={
            "name": "acme", "auth": {"type": "api_key", "api_key": pd_sim.api_key},
            "base_url": PD_BASE_URL,
        })
        assert resp.status_code == 201, resp.text
        cid = resp.json()["id"]
        assert (await client.post(f"/api/v1/connectors/{cid}/connect")).status_code == 200
        job_id = (await client.post(f"/api/v1/connectors/{cid}/sync")).json()["job_id"]
        assert (await job_waiter(client, job_id))["status"] == "succeeded"
        resp = await client.put(f"/api/v1/connectors/{cid}/schedule",
                                json={"interval_minutes": 720})
        assert resp.status_code == 200, resp.text
        resp = await client.put(f"/api/v1/connectors/{cid}/permission-entities/{pd_sim.subdomain}",
                                json={"userList": ["billing@example.com"]})
        assert resp.status_code == 200, resp.text
        resp = await client.post("/api/v1/connectors", json={
            "name": "oauth", "auth": {"type": "oauth2", "client_id": pd_sim.client_id,
                                      "client_secret": pd_sim.client_secret},
            "base_url": PD_BASE_URL, "oauth_base_url": PD_BASE_URL,
        })
        assert resp.status_code == 201, resp.text
        oauth_id = resp.json()["id"]
        docs = (await client.get(f"/api/v1/connectors/{cid}/documents")).json()["data"]
        # Signed in, with the CSRF token, so the pages and their API bridge run for real.
        resp = await client.post("/signin", data={"token": client.headers["Authorization"][7:]})
        assert resp.status_code in (200, 303), resp.text
        resp = await client.get(f"/connectors/{cid}")
        assert resp.status_code == 200
        assert 'name="token"' not in resp.text
        page = resp.text
        csrf = re.search(r'<meta name="csrf-token" content="([^"]+)"', page)
        assert csrf is not None
        client.headers["X-CSRF-Token"] = csrf.group(1)
        yield World(app, client, app.state.services, cid, oauth_id, job_id, docs[0]["id"],
                    pd_sim.subdomain)


def _walk(routes: list[Any], prefix: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for route in routes:
        if isinstance(route, APIRoute | Route):
            out += [(m, prefix + route.path) for m in sorted((route.methods or set()) - {"HEAD"})]
        elif hasattr(route, "original_router"):
            # FastAPI >= 0.165 keeps an included router as one entry of app.routes.
            inner = prefix + getattr(getattr(route, "include_context", None), "prefix", "")
            out += _walk(route.original_router.routes, inner)
    return out


def routes(app: Any) -> list[tuple[str, str]]:
    """(method, path template) of every route the app serves, pages included; checked against
    the OpenAPI description, so no API route can be missed."""
    found = sorted(set(_walk(app.routes, "")))
    documented = {(m.upper(), p) for p, ops in app.openapi()["paths"].items() for m in ops}
    assert documented <= set(found), documented - set(found)
    return found


_PARAM = re.compile(r"{(\w+)(?::\w+)?}")


async def fresh_connector(world: World) -> str:
    """A connector made for a call that may delete it."""
    world.throwaway += 1
    resp = await world.client.post("/api/v1/connectors", json={
        "name": f"throwaway {world.throwaway}", "auth": {"type": "api_key", "api_key": "k"},
    })
    assert resp.status_code == 201, resp.text
    cid: str = resp.json()["id"]
    world.pending.append(cid)
    return cid


async def fill(world: World, method: str, path: str, value: str | None = None) -> str:
    """The path with real ids, or with ``value`` for every parameter."""
    async def real(name: str) -> str:
        if name == "connector_id":
            if method in ("DELETE", "PATCH") and path.endswith("{connector_id}"):
                return await fresh_connector(world)  # acme keeps its name and key
            return world.oauth_id if "/oauth/" in path else world.connector_id
        return {"job_id": world.job_id, "entity_id": world.subdomain,
                "document_id": world.document_id, "path": "v1/connectors"}.get(name, "x")

    out = path
    for name in _PARAM.findall(path):
        out = _PARAM.sub(value if value is not None else await real(name), out, count=1)
    return out


def valid_body(method: str, path: str) -> dict[str, Any] | None:
    """A body the route accepts, to mutate one field at a time (None: the route takes none)."""
    if path == "/api/v1/connectors" and method == "POST":
        return {"name": "mutant", "auth": {"type": "api_key", "api_key": "k"},
                "region": "us", "base_url": PD_BASE_URL, "oauth_base_url": None}
    if path == "/api/v1/connectors/{connector_id}" and method == "PATCH":
        return {"name": "acme", "region": "us", "base_url": PD_BASE_URL,
                "auth": {"type": "api_key", "api_key": "k2"}}
    if path.endswith("/schedule") and method == "PUT":
        return {"interval_minutes": 60}
    if path.endswith("/permission-entities/{entity_id}") and method in ("PUT", "DELETE"):
        return {"userList": ["billing@example.com"]}
    if path == "/api/v1/search":
        return {"query": "primary", "user": USER, "limit": 5, "offset": 0}
    return None


def mutations(body: dict[str, Any]) -> list[dict[str, Any]]:
    """``body`` with one field (or one field of a nested object) replaced by a wrong value,
    and with an unknown field added."""
    out: list[dict[str, Any]] = [{**body, "unknown_field": 1}]
    for key, value in body.items():
        for wrong in WRONG_VALUES:
            out.append({**body, key: wrong})
        if isinstance(value, dict):
            for inner in value:
                for wrong in WRONG_VALUES:
                    out.append({**body, key: {**value, inner: wrong}})
            out.append({**body, key: {**value, "unknown_field": 1}})
    return out


def report(world: World) -> None:
    assert not world.failures, f"{len(world.failures)} problems:\n" + "\n".join(
        world.failures[:40])


def assert_every_route_got(world: World, expected: list[tuple[str, str]], each: int) -> None:
    """Each of ``expected``'s routes got at least ``each`` hostile requests in this test, and
    no other route got any: a route skipped would be one left unchecked."""
    wanted = {f"{method} {path}" for method, path in expected}
    assert wanted, "no route to attack"
    assert set(world.sent) == wanted, set(world.sent) ^ wanted
    short = {route: n for route, n in world.sent.items() if n < each}
    assert not short, short


# --- the tests ----------------------------------------------------------------------------


async def test_the_route_list_covers_the_api_and_the_pages(world: World) -> None:
    found = routes(world.app)
    paths = {p for _, p in found}
    for expected in ("/api/v1/connectors", "/api/v1/search", "/oauth/callback",
                     "/api/v1/connectors/{connector_id}/schedule", "/search", "/signin"):
        assert expected in paths
    assert len(found) >= 30


@pytest.mark.slow
async def test_hostile_path_ids_on_every_route(world: World) -> None:
    targets = [(method, path) for method, path in routes(world.app) if "{" in path]
    for method, path in targets:
        for value in HOSTILE_IDS:
            url = await fill(world, method, path, value)
            await attack(world, method, url, route=f"{method} {path}",
                         json_body=valid_body(method, path))
    report(world)
    assert_every_route_got(world, targets, len(HOSTILE_IDS))


@pytest.mark.slow
async def test_hostile_query_strings_on_every_route(world: World) -> None:
    targets = routes(world.app)
    for method, path in targets:
        for params in HOSTILE_QUERIES:
            url = await fill(world, method, path)
            await attack(world, method, url, route=f"{method} {path}", params=params,
                         json_body=valid_body(method, path))
    report(world)
    assert_every_route_got(world, targets, len(HOSTILE_QUERIES))


@pytest.mark.slow
async def test_hostile_bodies_on_every_route_that_takes_one(world: World) -> None:
    targets = [
        (method, path) for method, path in routes(world.app)
        if method in ("POST", "PUT", "PATCH", "DELETE")
    ]
    for method, path in targets:
        for content, content_type in RAW_BODIES:
            url = await fill(world, method, path)
            await attack(world, method, url, route=f"{method} {path}", content=content,
                         content_type=content_type)
        body = valid_body(method, path)
        for mutant in mutations(body) if body is not None else []:
            url = await fill(world, method, path)
            await attack(world, method, url, route=f"{method} {path}", json_body=mutant)
    report(world)
    assert_every_route_got(world, targets, len(RAW_BODIES))


async def test_a_5_mb_body_is_refused_quickly(world: World) -> None:
    big = {"name": "x" * 5_000_000, "auth": {"type": "api_key", "api_key": "k"}}
    started = time.monotonic()
    resp = await attack(world, "POST", "/api/v1/connectors", route="POST /api/v1/connectors",
                        json_body=big, allow=lambda r: r.status_code == 413)
    assert resp.json()["error"]["code"] == "payload_too_large"
    many = {"query": "x", "user": USER, "padding": ["y" * 1000] * 5000}
    await attack(world, "POST", "/api/v1/search", route="POST /api/v1/search",
                 json_body=many, allow=lambda r: r.status_code == 413)

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as it arrives
        yield b'{"query": "'
        for _ in range(60):
            yield b"z" * 100_000
        yield b'", "user": "a@example.com"}'

    resp = await world.client.post("/api/v1/search", content=chunks(),
                                    headers={"content-type": JSON_CT})
    assert resp.status_code == 413, resp.text
    assert has_error_shape(resp), resp.text
    # Just under the cap is read and judged on its content.
    near = {"userList": [f"u{i}@example.com" for i in range(1000)]}
    url = f"/api/v1/connectors/{world.connector_id}/permission-entities/{world.subdomain}"
    assert (await world.client.put(url, json=near)).status_code == 200
    assert time.monotonic() - started < 10
    report(world)


async def test_hostile_base_urls_are_refused_with_a_clear_message(world: World) -> None:
    refused = 0
    for url in HOSTILE_URLS:
        for key in ("base_url", "oauth_base_url"):
            body = {"name": f"url {refused}", "auth": {"type": "api_key", "api_key": "k"},
                    key: url}
            resp = await attack(world, "POST", "/api/v1/connectors",
                                route="POST /api/v1/connectors", json_body=body,
                                allow=lambda r: r.status_code == 422)
            message = resp.json()["error"]["message"] if resp.status_code == 422 else ""
            assert key in message, (url, message)
            assert "secret" not in message  # the URL (and any password in it) is not echoed
            resp = await attack(world, "PATCH", f"/api/v1/connectors/{world.connector_id}",
                                route="PATCH /api/v1/connectors/{connector_id}",
                                json_body={key: url}, allow=lambda r: r.status_code == 422)
            refused += 1
    report(world)


async def test_absurd_schedules_are_refused_and_the_old_one_stays(world: World) -> None:
    url = f"/api/v1/connectors/{world.connector_id}/schedule"
    before = (await world.client.get(url)).json()
    for spec in ABSURD_SCHEDULES:
        resp = await attack(world, "PUT", url, route="PUT .../schedule", json_body=spec,
                            allow=lambda r: r.status_code == 422)
        if resp.status_code == 422:
            assert resp.json()["error"]["message"].startswith("Invalid"), resp.text
    report(world)
    assert (await world.client.get(url)).json() == before
    # No schedule yet: a refused PUT must not leave one behind either.
    other = await fresh_connector(world)
    world.pending.remove(other)  # kept for the whole test
    # A new connector has the default schedules; without its full one it has "no schedule".
    removed = await world.client.delete(f"/api/v1/connectors/{other}/schedule")
    assert removed.status_code == 204, removed.text
    for spec in ABSURD_SCHEDULES[:12]:
        await attack(world, "PUT", f"/api/v1/connectors/{other}/schedule", route="PUT .../schedule",
                     json_body=spec, allow=lambda r: r.status_code == 422)
    assert (await world.client.get(f"/api/v1/connectors/{other}/schedule")).status_code == 404
    report(world)


async def test_every_api_route_refuses_a_missing_or_wrong_token(world: World) -> None:
    for method, path in routes(world.app):
        browser_link = path.endswith("/oauth/authorize") and method == "GET"  # ticket or token
        if not path.startswith("/api/v1") or browser_link:
            continue
        url = await fill(world, method, path, "nope")
        wrong: tuple[Any, ...] = ({}, {"Authorization": "Bearer wrong"},
                                  {"Authorization": "Basic eDp5"},
                                  {"Authorization": b"Bearer \xe9\xe9\x00"})
        for headers in wrong:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=world.app),
                                         base_url="http://pdsearch.test") as anon:
                resp = await anon.request(method, url, headers=headers, json={})
            assert resp.status_code == 401, (method, url, headers, resp.text)
            assert has_error_shape(resp)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
    | st.text(max_size=40),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)
BODY_ROUTES = (
    ("POST", "/api/v1/search", ("query", "user", "limit", "offset")),
    ("POST", "/api/v1/connectors", ("name", "auth", "region", "base_url", "oauth_base_url")),
    ("PUT", "/api/v1/connectors/{connector_id}/schedule",
     ("interval_minutes", "cron", "run_at", "timezone")),
    ("PUT", "/api/v1/connectors/{connector_id}/permission-entities/{entity_id}", ("userList",)),
    ("PATCH", "/api/v1/connectors/{connector_id}", ("name", "auth", "region", "base_url")),
)


@pytest.mark.slow
async def test_generated_bodies_never_break_a_route(world: World) -> None:
    """Hypothesis draws bodies of known and unknown keys with arbitrary JSON values."""
    loop_runner = asyncio.get_running_loop()
    sent: list[tuple[str, str, Any]] = []

    @settings(max_examples=120, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
    @given(
        which=st.integers(0, len(BODY_ROUTES) - 1),
        data=st.data(),
    )
    def draw(which: int, data: st.DataObject) -> None:
        method, path, keys = BODY_ROUTES[which]
        body = data.draw(st.one_of(
            st.dictionaries(st.sampled_from(keys) | st.text(max_size=8), json_values, max_size=5),
            json_values,
        ))
        sent.append((method, path, body))

    draw()
    assert loop_runner.is_running()
    for method, path, body in sent:
        url = await fill(world, method, path)
        await attack(world, method, url, route=f"{method} {path}", json_body=body)
    report(world)


@pytest.mark.slow
async def test_generated_search_queries_and_ids(world: World) -> None:
    queries = st.text(st.characters(codec="utf-8"), max_size=60) | st.from_regex(
        r'[A-Za-z"*():^\-+ ]{0,30}', fullmatch=True)
    ids = st.from_regex(r"[A-Za-z0-9%:._~/\-]{1,40}", fullmatch=True)
    drawn: list[tuple[str, str]] = []

    @settings(max_examples=80, deadline=None, database=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(query=queries, ident=ids)
    def draw(query: str, ident: str) -> None:
        drawn.append((query, ident))

    draw()
    # Semantic search is on (the default): every query also runs the meaning path.
    assert world.services.embedder is not None
    assert world.services.index.vector_count(world.connector_id) == \
        world.services.index.count(world.connector_id)
    entity = (await world.client.get(
        f"/api/v1/connectors/{world.connector_id}/permission-entities/{world.subdomain}")).json()
    admin = next(u for u in entity["userIds"] if u not in entity["manualUserIds"])
    every = {d["id"] for d in (await world.client.get(
        f"/api/v1/connectors/{world.connector_id}/documents?limit=500")).json()["data"]}
    for query, ident in drawn:
        resp = await attack(world, "POST", "/api/v1/search", route="POST /api/v1/search",
                            json_body={"query": query, "user": USER})
        if resp.status_code == 200:
            assert resp.json()["total"] == 0  # the user is in no entity
        # As an administrator, so the query really runs against the index.
        resp = await attack(world, "POST", "/api/v1/search", route="POST /api/v1/search",
                            json_body={"query": query, "user": admin, "limit": 100})
        if resp.status_code == 200:
            body = resp.json()
            assert {r["id"] for r in body["results"]} <= every
            assert min(body["total"], 100) == len(body["results"])
            assert body["total"] <= len(every)
        await attack(world, "GET", f"/api/v1/documents/{ident}",
                     route="GET /api/v1/documents/{document_id}")
        await attack(world, "GET", f"/api/v1/connectors/{ident}/permission-entities",
                     route="GET /api/v1/connectors/{connector_id}/permission-entities")
    report(world)


async def test_unknown_fields_are_refused_by_name(world: World) -> None:
    for method, path in routes(world.app):
        body = valid_body(method, path)
        if body is None:
            continue
        url = await fill(world, method, path)
        resp = await attack(world, method, url, route=f"{method} {path}",
                            json_body={**body, "intervall_minutes": 5},
                            allow=lambda r: r.status_code == 422)
        assert "intervall_minutes" in resp.json()["error"]["message"], resp.text
    report(world)

