"""What the API promises before it does anything (issue 18): the token first, on every /api/v1
route and whatever the request holds; every status in the OpenAPI description; every error code
in docs/API.md; the description matching what the server accepts (nullability, limits as sent).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest

API_DOC = Path(__file__).resolve().parents[2] / "docs" / "API.md"
WEB = Path(__file__).resolve().parents[2] / "pdsearch" / "web"
BASE = "http://pdsearch.test"

#: Requests that would each be refused for what they hold, were the token checked after them.
HOSTILE: tuple[dict[str, Any], ...] = (
    {"content": b"{", "headers": {"content-type": "application/json"}},
    {"content": b"\xff\xfe\x00{", "headers": {"content-type": "application/json"}},
    {"content": b"[" * 50_000, "headers": {"content-type": "application/json"}},
    {"content": b"name=x", "headers": {"content-type": "application/x-www-form-urlencoded"}},
    {"content": b"<xml/>", "headers": {"content-type": "application/xml"}},
    {"params": {"skip": "-1", "limit": "abc"}},
    {"content": b"x" * (2 << 20), "headers": {"content-type": "application/json"}},
    {"json": {"name": None, "auth": None, "query": "x" * 20_000, "userList": []}},
)


def operations(app: Any) -> list[tuple[str, str]]:
    """(METHOD, path with every parameter filled) of each documented operation."""
    return [
        (method.upper(), re.sub(r"{[^}]+}", "x", path))
        for path, ops in app.openapi()["paths"].items()
        for method in ops
    ]


async def test_without_the_token_everything_under_api_v1_is_401_first(
    service: Any, api_settings: Any, pd_sim: Any
) -> None:
    async with service(api_settings, pd_sim.transport) as (app, _), httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url=BASE
    ) as anonymous:
        targets = [op for op in operations(app) if op[1].startswith("/api/v1")]
        targets += [("GET", "/api/v1/nowhere"), ("PUT", "/api/v1/connectors")]  # 404, 405
        assert len(targets) > 20
        for method, path in targets:
            for request in HOSTILE:
                for auth in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic x"}):
                    headers = {**request.get("headers", {}), **auth}
                    resp = await anonymous.request(
                        method, path, **{**request, "headers": headers}
                    )
                    assert resp.status_code == 401, (method, path, request.keys(), resp.text)
                    assert resp.json()["error"]["code"] == "unauthorized"
                    assert resp.headers["www-authenticate"].startswith("Bearer")


async def test_the_authorize_link_needs_the_token_or_a_ticket(
    service: Any, api_settings: Any, pd_sim: Any
) -> None:
    async with service(api_settings, pd_sim.transport) as (app, client), httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url=BASE
    ) as anonymous:
        resp = await client.post("/api/v1/connectors", json={
            "name": "oauth", "auth": {"type": "oauth2", "client_id": pd_sim.client_id,
                                      "client_secret": pd_sim.client_secret},
            "oauth_base_url": pd_sim.base_url,
        })
        cid = resp.json()["id"]
        path = f"/api/v1/connectors/{cid}/oauth/authorize"
        assert (await anonymous.get(path)).json()["error"]["code"] == "unauthorized"
        forged = await anonymous.get(path, params={"ticket": "1.2.3"})
        assert forged.status_code == 401
        assert forged.json()["error"]["code"] == "invalid_ticket"
        link = (await client.post(path)).json()["url"]
        followed = await anonymous.get(link.removeprefix(BASE))
        assert followed.status_code == 302
        # A ticket opens that route only: not another one, whatever its query says.
        other = await anonymous.get(f"/api/v1/connectors/{cid}", params={"ticket": "1.2.3"})
        assert other.status_code == 401


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"{", "not valid JSON"),
        (b"\xff\xfe\x00{", "not valid JSON"),
        (b'{"query": "caf\xe9", "user": "a@b.example"}', "UTF-8"),
        (b"[" * 50_000 + b"]" * 50_000, "nested too deeply"),
    ],
)
async def test_a_body_that_is_not_utf8_json_is_422_like_any_malformed_json(
    service: Any, api_settings: Any, pd_sim: Any, body: bytes, says: str
) -> None:
    async with service(api_settings, pd_sim.transport) as (_, client):
        resp = await client.post(
            "/api/v1/search", content=body, headers={"content-type": "application/json"}
        )
        assert resp.status_code == 422, resp.text
        assert resp.json()["error"]["code"] == "validation_error"
        assert says in resp.json()["error"]["message"]


async def test_every_api_route_documents_the_statuses_any_call_can_get(
    service: Any, api_settings: Any, pd_sim: Any
) -> None:
    async with service(api_settings, pd_sim.transport) as (app, _):
        spec = app.openapi()
        for path, ops in spec["paths"].items():
            for method, op in ops.items():
                documented = set(op["responses"])
                always = {"413", "422", "500"} | ({"401"} if path.startswith("/api/") else set())
                assert always <= documented, (method, path, documented)
                if "{connector_id}" in path or "{job_id}" in path:
                    assert "404" in documented, (method, path)
        connect = spec["paths"]["/api/v1/connectors/{connector_id}/connect"]["post"]
        assert {"400", "404", "409", "502", "503"} <= set(connect["responses"])
        assert spec["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"


async def test_patch_schema_and_server_agree_on_null(
    service: Any, api_settings: Any, pd_sim: Any
) -> None:
    async with service(api_settings, pd_sim.transport) as (app, client):
        schema = app.openapi()["components"]["schemas"]["ConnectorUpdate"]
        props = schema["properties"]
        for field in ("name", "auth", "region"):
            assert "null" not in str(props[field]), (field, props[field])  # not nullable
            assert "default" not in props[field]
        for field in ("base_url", "oauth_base_url"):
            assert {"type": "null"} in props[field]["anyOf"]  # null: back to the default
        assert schema["minProperties"] == 1
        resp = await client.post("/api/v1/connectors", json={
            "name": "acme", "auth": {"type": "api_key", "api_key": pd_sim.api_key},
            "base_url": pd_sim.base_url,
        })
        cid = resp.json()["id"]
        for field in ("name", "auth", "region"):
            resp = await client.patch(f"/api/v1/connectors/{cid}", json={field: None})
            assert resp.status_code == 422, resp.text
            assert f"{field} cannot be null" in resp.json()["error"]["message"]
        resp = await client.patch(f"/api/v1/connectors/{cid}", json={"base_url": None})
        assert resp.status_code == 200
        assert resp.json()["base_url"] is None
        assert (await client.patch(f"/api/v1/connectors/{cid}", json={})).status_code == 422


async def test_length_limits_count_what_is_sent(
    service: Any, api_settings: Any, pd_sim: Any
) -> None:
    async with service(api_settings, pd_sim.transport) as (app, client):
        schema = app.openapi()["components"]["schemas"]["SearchIn"]["properties"]["query"]
        assert schema["maxLength"] == 10_000
        user = "a@b.example"
        ok = await client.post("/api/v1/search", json={"query": "x" * 10_000, "user": user})
        assert ok.status_code == 200, ok.text
        # Whitespace trimmed by the server still counts: the limit is on what was sent.
        padded = await client.post(
            "/api/v1/search", json={"query": "  " + "x" * 9_999, "user": user}
        )
        assert padded.status_code == 422
        assert "'query'" in padded.json()["error"]["message"]
        # And a name: 200 characters as sent, trimmed after the check.
        auth = {"type": "api_key", "api_key": pd_sim.api_key}
        named = await client.post("/api/v1/connectors", json={"name": " " + "n" * 199 + " ",
                                                              "auth": auth})
        assert named.status_code == 422
        named = await client.post("/api/v1/connectors", json={"name": " " + "n" * 198 + " ",
                                                              "auth": auth})
        assert named.status_code == 201
        assert named.json()["name"] == "n" * 198


def produced_codes() -> set[str]:
    """Every error code the web layer can answer with, read from its source."""
    codes: set[str] = set()
    patterns = (
        r'ApiError\(\s*\d{3},\s*"([a-z_]+)"',
        r'conflict\(\s*"([a-z_]+)"',
        r'(?:error_response|_failure|_error)\(\s*(?:request,\s*)?\d{3},\s*"([a-z_]+)"',
        r'\d{3}: "([a-z_]+)"',  # the code map of Starlette's own errors
    )
    for source in WEB.rglob("*.py"):
        text = source.read_text()
        for pattern in patterns:
            codes.update(re.findall(pattern, text))
    return codes


def test_every_error_code_is_in_docs_api_md() -> None:
    codes = produced_codes()
    assert {"unauthorized", "validation_error", "payload_too_large", "not_found",
            "invalid_configuration", "sync_running", "store_error", "internal_error"} <= codes
    doc = API_DOC.read_text()
    missing = sorted(code for code in codes if f"`{code}`" not in doc)
    assert not missing, f"codes not in docs/API.md: {missing}"
