"""The connector routes, auth and the error shape, through HTTP against the simulator."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from pdsearch.config import Settings

SECRET_KEY_VALUE = "pd-secret-key-that-must-never-come-back"


def api_key_body(pd_sim: Any, name: str = "Acme", key: str | None = None) -> dict[str, Any]:
    return {
        "name": name,
        "auth": {"type": "api_key", "api_key": key or pd_sim.api_key},
        "region": "us",
        "base_url": pd_sim.base_url,
    }


def assert_error(resp: httpx.Response, status: int, code: str) -> str:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    return str(body["error"]["message"])


async def test_create_get_list_never_show_secrets(
    service: Callable[..., Any], api_settings: Settings, pd_sim: Any
) -> None:
    async with service(api_settings, pd_sim.transport) as (_, client):
        resp = await client.post("/api/v1/connectors", json=api_key_body(pd_sim))
        assert resp.status_code == 201, resp.text
        created = resp.json()
        assert created["name"] == "Acme"
        assert created["status"] == "new"
        assert created["region"] == "us"
        assert created["auth_type"] == "api_key"
        assert created["base_url"] == pd_sim.base_url
        assert created["created_at"].endswith("Z")
        assert pd_sim.api_key not in resp.text

        got = await client.get(f"/api/v1/connectors/{created['id']}")
        assert got.status_code == 200
        assert got.json() == created

        oauth = await client.post(
            "/api/v1/connectors",
            json={
                "name": "Acme OAuth",
                "auth": {"type": "oauth2", "client_id": "cid", "client_secret": SECRET_KEY_VALUE},
                "region": "eu",
            },
        )
        assert oauth.status_code == 201, oauth.text
        assert oauth.json()["status"] == "needs_authorization"
        assert oauth.json()["oauth_redirect_uri"] == "http://pdsearch.test/oauth/callback"
        assert SECRET_KEY_VALUE not in oauth.text

        listed = await client.get("/api/v1/connectors", params={"limit": 1})
        assert listed.status_code == 200
        assert listed.json()["total"] == 2
        assert [c["id"] for c in listed.json()["data"]] == [created["id"]]
        second = await client.get("/api/v1/connectors", params={"skip": 1, "limit": 1})
        assert [c["name"] for c in second.json()["data"]] == ["Acme OAuth"]
        for text in (listed.text, second.text):
            assert SECRET_KEY_VALUE not in text
            assert pd_sim.api_key not in text


async def test_duplicate_name_is_a_conflict(
    service: Callable[..., Any], api_settings: Settings, pd_sim: Any
) -> None:
    async with service(api_settings, pd_sim.transport) as (_, client):
        assert (
            await client.post("/api/v1/connectors", json=api_key_body(pd_sim))
        ).status_code == 201
        resp = await client.post("/api/v1/connectors", json=api_key_body(pd_sim))
        assert "already exists" in assert_error(resp, 409, "conflict")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x", "auth": {"type": "api_key"}}, "'auth.api_key': is required"),
        ({"name": "x", "auth": {"type": "password", "api_key": SECRET_KEY_VALUE}}, "auth"),
        ({"auth": {"type": "api_key", "api_key": SECRET_KEY_VALUE}}, "name"),
        (
            {
                "name": "x",
                "auth": {"type": "api_key", "api_key": SECRET_KEY_VALUE},
                "region": "mars",
            },
            "region",
        ),
        (
            {
                "name": "x",
                "auth": {"type": "api_key", "api_key": SECRET_KEY_VALUE},
                "base_url": "ftp://example.com",
            },
            "base_url",
        ),
        (
            {
                "name": "x",
                "auth": {"type": "api_key", "api_key": SECRET_KEY_VALUE},
                "colour": "red",
            },
            "colour",
        ),
    ],
)
async def test_malformed_create_is_422_naming_the_field(
    service: Callable[..., Any],
    api_settings: Settings,
    pd_sim: Any,
    body: dict[str, Any],
    field: str,
) -> None:
    async with service(api_settings, pd_sim.transport) as (_, client):
        resp = await client.post("/api/v1/connectors", json=body)
        message = assert_error(resp, 422, "validation_error")
        assert field in message
        assert SECRET_KEY_VALUE not in resp.text


async def test_not_json_is_422(
    service: Callable[..., Any], api_settings: Settings, pd_sim: Any
) -> None:
    async with service(api_settings, pd_sim.transport) as (_, client):
        resp = await client.post(
            "/api/v1/connectors", content=b"{not json", headers={"content-type": "application/json"}
        )
        assert_error(resp, 422, "validation_error")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/connectors"),
        ("POST", "/api/v1/connectors"),
        ("GET", "/api/v1/connectors/x"),
        ("PATCH", "/api/v1/connectors/x"),
        ("DELETE", "/api/v1/connectors/x"),
        ("POST", "/api/v1/connectors/x/connect"),
        ("POST", "/api/v1/connectors/x/sync"),
        ("GET", "/api/v1/connectors/x/jobs"),
        ("GET", "/api/v1/jobs/x"),
        ("POST", "/api/v1/jobs/x/cancel"),
        ("GET", "/api/v1/connectors/x/schedule"),
        ("PUT", "/api/v1/connectors/x/schedule"),
        ("DELETE", "/api/v1/connectors/x/schedule"),
        ("GET", "/api/v1/connectors/x/documents"),
        ("GET", "/api/v1/documents/x"),
        ("GET", "/api/v1/connectors/x/permission-entities"),
        ("GET", "/api/v1/connectors/x/permission-entities/e"),
        ("PUT", "/api/v1/connectors/x/permission-entities/e"),
        ("DELETE", "/api/v1/connectors/x/permission-entities/e"),
        ("POST", "/api/v1/search"),
        ("GET", "/api/v1/connectors/x/oauth/authorize"),
        ("POST", "/api/v1/connectors/x/oauth/authorize"),
    ],
)
async def test_every_route_needs_the_token(
    service: Callable[..., Any], api_settings: Settings, pd_sim: Any, method: str, path: str
) -> None:
    async with (
        service(api_settings, pd_sim.transport) as (app, _),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://pdsearch.test"
        ) as anonymous,
    ):
        missing = await anonymous.request(method, path, json={})
        assert_error(missing, 401, "unauthorized")
        assert missing.headers["www-authenticate"].startswith("Bearer")
        wrong = await anonymous.request(
            method, path, json={}, headers={"Authorization": "Bearer not-the-token"}
        )
        assert_error(wrong, 401, "unauthorized")
        assert "not-the-token" not in wrong.text


async def test_unknown_ids_are_404(
    service: Callable[..., Any], api_settings: Settings, pd_sim: Any
) -> None:
    async with service(api_settings, pd_sim.transport) as (_, client):
        for method, path, body in [
            ("GET", "/api/v1/connectors/nope", None),
            ("PATCH", "/api/v1/connectors/nope", {"name": "y"}),
            ("DELETE", "/api/v1/connectors/nope", None),
            ("POST", "/api/v1/connectors/nope/connect", None),
            ("POST", "/api/v1/connectors/nope/sync", None),
            ("GET", "/api/v1/connectors/nope/jobs", None),
            ("GET", "/api/v1/jobs/nope", None),
            ("POST", "/api/v1/jobs/nope/cancel", None),
            ("GET", "/api/v1/connectors/nope/schedule", None),
            ("PUT", "/api/v1/connectors/nope/schedule", {"interval_minutes": 5}),
            ("DELETE", "/api/v1/connectors/nope/schedule", None),
            ("GET", "/api/v1/connectors/nope/documents", None),
            ("GET", "/api/v1/documents/schedule:NOPE", None),
            ("GET", "/api/v1/connectors/nope/permission-entities", None),
            ("GET", "/api/v1/connectors/nope/permission-entities/acme", None),
            ("PUT", "/api/v1/connectors/nope/permission-entities/acme", {"userList": ["a@b.c"]}),
            ("GET", "/api/v1/connectors/nope/oauth/authorize", None),
        ]:
            resp = await client.request(method, path, json=body)
            message = assert_error(resp, 404, "not_found")
            assert "nope" in message or "NOPE" in message, (method, path, message)


async def test_unknown_route_405_and_openapi(
    service: Callable[..., Any], api_settings: Settings, pd_sim: Any
) -> None:
    async with service(api_settings, pd_sim.transport) as (_, client):
        assert_error(await client.get("/api/v1/nothing-here"), 404, "not_found")
        message = assert_error(await client.put("/api/v1/connectors"), 405, "method_not_allowed")
        assert "GET" in message
        assert "POST" in message
        spec = (await client.get("/openapi.json")).json()
        schemes = spec["components"]["securitySchemes"]
        assert any(s["type"] == "http" and s["scheme"] == "bearer" for s in schemes.values())
        paths = spec["paths"]
        for path in (
            "/api/v1/connectors",
            "/api/v1/connectors/{connector_id}",
            "/api/v1/connectors/{connector_id}/connect",
            "/api/v1/connectors/{connector_id}/oauth/authorize",
            "/oauth/callback",
            "/api/v1/connectors/{connector_id}/sync",
            "/api/v1/connectors/{connector_id}/jobs",
            "/api/v1/jobs/{job_id}",
            "/api/v1/jobs/{job_id}/cancel",
            "/api/v1/connectors/{connector_id}/schedule",
            "/api/v1/connectors/{connector_id}/documents",
            "/api/v1/documents/{document_id}",
            "/api/v1/connectors/{connector_id}/permission-entities",
            "/api/v1/connectors/{connector_id}/permission-entities/{entity_id}",
            "/api/v1/search",
        ):
            assert path in paths, path
        assert "security" in paths["/api/v1/connectors"]["get"]
        docs = await client.get("/docs")
        assert docs.status_code == 200
        assert "swagger" in docs.text.lower()


async def test_connect_names_the_account_or_the_cause(
    service: Callable[..., Any], api_settings: Settings, pd_sim: Any
) -> None:
    async with service(api_settings, pd_sim.transport) as (_, client):
        good = (await client.post("/api/v1/connectors", json=api_key_body(pd_sim))).json()
        resp = await client.post(f"/api/v1/connectors/{good['id']}/connect")
        assert resp.status_code == 200, resp.text
        assert resp.json()["status"] == "connected"
        assert resp.json()["account"]["subdomain"] == pd_sim.subdomain
        after = (await client.get(f"/api/v1/connectors/{good['id']}")).json()
        assert after["status"] == "connected"
        assert after["subdomain"] == pd_sim.subdomain

        bad_key = "wrong-key-0000000000000000"
        bad = (
            await client.post("/api/v1/connectors", json=api_key_body(pd_sim, "Bad", bad_key))
        ).json()
        resp = await client.post(f"/api/v1/connectors/{bad['id']}/connect")
        message = assert_error(resp, 400, "pagerduty_auth_failed")
        assert "401" in message
        assert "region" in message
        assert bad_key not in resp.text
        after = (await client.get(f"/api/v1/connectors/{bad['id']}")).json()
        assert after["status"] == "error"
        assert after["last_error"]
        assert bad_key not in str(after)

        oauth = (
            await client.post(
                "/api/v1/connectors",
                json={
                    "name": "Not yet",
                    "auth": {"type": "oauth2", "client_id": "c", "client_secret": "s"},
                    "base_url": pd_sim.base_url,
                    "oauth_base_url": pd_sim.base_url,
                },
            )
        ).json()
        resp = await client.post(f"/api/v1/connectors/{oauth['id']}/connect")
        assert "authoriz" in assert_error(resp, 409, "oauth_authorization_required")


@pytest.mark.slow  # the client retries a refused connection with backoff before giving up
async def test_connect_reports_unreachable_pagerduty(
    service: Callable[..., Any], api_settings: Settings, pd_sim: Any
) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    async with service(api_settings, httpx.MockTransport(refuse)) as (_, client):
        made = (await client.post("/api/v1/connectors", json=api_key_body(pd_sim))).json()
        resp = await client.post(f"/api/v1/connectors/{made['id']}/connect")
        assert_error(resp, 502, "pagerduty_unreachable")


async def test_patch_changes_fields_and_credentials(
    service: Callable[..., Any], api_settings: Settings, pd_sim: Any
) -> None:
    async with service(api_settings, pd_sim.transport) as (_, client):
        made = (
            await client.post("/api/v1/connectors", json=api_key_body(pd_sim, key="wrong-key"))
        ).json()
        cid = made["id"]
        assert (await client.post(f"/api/v1/connectors/{cid}/connect")).status_code == 400

        resp = await client.patch(f"/api/v1/connectors/{cid}", json={"name": "Renamed"})
        assert resp.status_code == 200, resp.text
        assert resp.json()["name"] == "Renamed"
        assert resp.json()["status"] == "error"  # only the name changed

        resp = await client.patch(
            f"/api/v1/connectors/{cid}",
            json={"auth": {"type": "api_key", "api_key": pd_sim.api_key}},
        )
        assert resp.status_code == 200, resp.text
        assert resp.json()["status"] == "new"
        assert resp.json()["last_error"] is None
        assert pd_sim.api_key not in resp.text
        assert (await client.post(f"/api/v1/connectors/{cid}/connect")).status_code == 200

        resp = await client.patch(
            f"/api/v1/connectors/{cid}",
            json={"region": "eu", "oauth_base_url": "https://id.example"},
        )
        assert resp.json()["region"] == "eu"
        assert resp.json()["status"] == "new"
        assert resp.json()["oauth_base_url"] == "https://id.example"
        resp = await client.patch(f"/api/v1/connectors/{cid}", json={"oauth_base_url": None})
        assert resp.json()["oauth_base_url"] is None

        resp = await client.patch(
            f"/api/v1/connectors/{cid}",
            json={
                "auth": {"type": "oauth2", "client_id": "cid", "client_secret": SECRET_KEY_VALUE}
            },
        )
        assert resp.json()["auth_type"] == "oauth2"
        assert resp.json()["status"] == "needs_authorization"
        assert SECRET_KEY_VALUE not in resp.text

        assert_error(
            await client.patch(f"/api/v1/connectors/{cid}", json={}), 422, "validation_error"
        )
        msg = assert_error(
            await client.patch(f"/api/v1/connectors/{cid}", json={"name": None}),
            422,
            "validation_error",
        )
        assert "name" in msg
        assert_error(
            await client.patch(f"/api/v1/connectors/{cid}", json={"region": "moon"}),
            422,
            "validation_error",
        )
        other = (await client.post("/api/v1/connectors", json=api_key_body(pd_sim, "Other"))).json()
        assert_error(
            await client.patch(f"/api/v1/connectors/{other['id']}", json={"name": "Renamed"}),
            409,
            "conflict",
        )


async def test_delete_removes_documents_jobs_and_state(
    service: Callable[..., Any], api_settings: Settings, pd_sim: Any, job_waiter: Callable[..., Any]
) -> None:
    async with service(api_settings, pd_sim.transport) as (app, client):
        keep = (await client.post("/api/v1/connectors", json=api_key_body(pd_sim, "Keep"))).json()
        gone = (await client.post("/api/v1/connectors", json=api_key_body(pd_sim, "Gone"))).json()
        # The same account through two connectors: each has its own documents by source.
        for c in (keep, gone):
            job = (await client.post(f"/api/v1/connectors/{c['id']}/sync")).json()
            assert (await job_waiter(client, job["job_id"]))["status"] == "succeeded"
        index = app.state.services.index
        assert index.count(gone["id"]) > 0
        kept = index.count(keep["id"])
        await client.put(f"/api/v1/connectors/{gone['id']}/schedule", json={"interval_minutes": 60})

        resp = await client.delete(f"/api/v1/connectors/{gone['id']}")
        assert resp.status_code == 204
        assert resp.content == b""
        assert index.count(gone["id"]) == 0
        assert index.count(keep["id"]) == kept
        assert_error(await client.get(f"/api/v1/connectors/{gone['id']}"), 404, "not_found")
        assert_error(await client.get(f"/api/v1/jobs/{job['job_id']}"), 404, "not_found")
        assert_error(await client.delete(f"/api/v1/connectors/{gone['id']}"), 404, "not_found")
        listed = (await client.get("/api/v1/connectors")).json()
        assert [c["name"] for c in listed["data"]] == ["Keep"]


async def test_paging_is_bounded(
    service: Callable[..., Any], api_settings: Settings, pd_sim: Any
) -> None:
    async with service(api_settings, pd_sim.transport) as (_, client):
        msg = assert_error(
            await client.get("/api/v1/connectors", params={"limit": 501}), 422, "validation_error"
        )
        assert "limit" in msg
        assert_error(
            await client.get("/api/v1/connectors", params={"skip": -1}), 422, "validation_error"
        )
        assert_error(
            await client.get("/api/v1/connectors", params={"limit": "many"}),
            422,
            "validation_error",
        )
        ok = await client.get("/api/v1/connectors", params={"limit": 500})
        assert ok.json() == {"data": [], "total": 0}


async def test_a_changed_secret_key_is_explained(
    service: Callable[..., Any], api_settings: Settings, pd_sim: Any
) -> None:
    from cryptography.fernet import Fernet
    from pydantic import SecretStr

    async with service(api_settings, pd_sim.transport) as (_, client):
        cid = (await client.post("/api/v1/connectors", json=api_key_body(pd_sim))).json()["id"]
    other_key = api_settings.model_copy(
        update={"secret_key": SecretStr(Fernet.generate_key().decode())}
    )
    async with service(other_key, pd_sim.transport) as (_, client):
        resp = await client.post(f"/api/v1/connectors/{cid}/connect")
        message = assert_error(resp, 500, "store_error")
        assert "PDSEARCH_SECRET_KEY" in message
        assert pd_sim.api_key not in resp.text
