"""OAuth sign-in end to end against the simulator: authorize → approve → callback → connect →
sync → refresh after expiry (rotation persisted); forged, replayed and expired states refused."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx

from pdsearch.config import Settings
from pdsearch.pagerduty.oauth import REQUIRED_SCOPES
from pdsearch.store import Store

SERVICE_BASE_URL = "http://pdsearch.test"  # the service fixture's base URL


def oauth_body(pd: Any, name: str = "Acme OAuth") -> dict[str, Any]:
    return {
        "name": name,
        "auth": {"type": "oauth2", "client_id": pd.client_id, "client_secret": pd.client_secret},
        "base_url": pd.base_url,
        "oauth_base_url": pd.base_url,
    }


def anonymous(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=SERVICE_BASE_URL)


def assert_error(resp: httpx.Response, status: int, code: str) -> str:
    assert resp.status_code == status, resp.text
    assert resp.json()["error"]["code"] == code
    return str(resp.json()["error"]["message"])


async def approve(pd: Any, authorize_url: str) -> str:
    """What the browser does at PagerDuty: the simulator approves and redirects back."""
    async with httpx.AsyncClient(transport=pd.transport) as browser:
        resp = await browser.get(authorize_url)
    assert resp.status_code in (302, 303), resp.text
    return resp.headers["location"]


async def test_oauth_end_to_end_with_refresh_after_expiry(
    service: Callable[..., Any],
    api_settings: Settings,
    pd_sim_factory: Callable[..., Any],
    job_waiter: Callable[..., Any],
) -> None:
    pd = pd_sim_factory()
    async with service(api_settings, pd.transport) as (app, client):
        made = await client.post("/api/v1/connectors", json=oauth_body(pd))
        cid = made.json()["id"]
        assert made.json()["status"] == "needs_authorization"

        resp = await client.get(f"/api/v1/connectors/{cid}/oauth/authorize")
        assert resp.status_code == 302, resp.text
        location = resp.headers["location"]
        parts = urlsplit(location)
        assert f"{parts.scheme}://{parts.netloc}{parts.path}" == f"{pd.base_url}/oauth/authorize"
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        assert query["client_id"] == pd.client_id
        assert query["response_type"] == "code"
        assert query["code_challenge_method"] == "S256"
        assert query["code_challenge"]
        assert query["redirect_uri"] == f"{SERVICE_BASE_URL}/oauth/callback"
        assert set(REQUIRED_SCOPES) <= set(query["scope"].split())
        assert len(query["state"]) >= 32

        callback = await approve(pd, location)
        assert callback.startswith(f"{SERVICE_BASE_URL}/oauth/callback?")
        async with anonymous(app) as browser:  # PagerDuty's redirect carries no bearer token
            done = await browser.get(callback, headers={"accept": "application/json"})
            assert done.status_code == 200, done.text
            assert done.json()["status"] == "connected"
            assert done.json()["account"]["subdomain"] == pd.subdomain
            # The same answer replayed: the state was used up.
            replay = await browser.get(callback, headers={"accept": "application/json"})
            assert "already used" in assert_error(replay, 400, "invalid_state")

        connector = (await client.get(f"/api/v1/connectors/{cid}")).json()
        assert connector["status"] == "connected"
        assert connector["subdomain"] == pd.subdomain
        connect = await client.post(f"/api/v1/connectors/{cid}/connect")
        assert connect.status_code == 200
        assert connect.json()["account"]["subdomain"] == pd.subdomain

        store = app.state.services.store
        first = store.connectors.get_credentials(cid)
        assert first["access_token"]
        assert first["refresh_token"]
        raw = api_settings.state_path.read_bytes()
        assert first["access_token"].encode() not in raw  # encrypted at rest
        assert first["refresh_token"].encode() not in raw

        job_id = (await client.post(f"/api/v1/connectors/{cid}/sync")).json()["job_id"]
        job = await job_waiter(client, job_id)
        assert job["status"] == "succeeded", job
        assert job["counts"]["added"] > 0

        # An hour and more later (by the simulator's clock) the access token has expired:
        # the next sync gets a 401, refreshes, and keeps the rotated refresh token.
        pd.simulator.clock = lambda: time.time() + 7200
        job_id = (await client.post(f"/api/v1/connectors/{cid}/sync")).json()["job_id"]
        job = await job_waiter(client, job_id)
        assert job["status"] == "succeeded", job
        second = store.connectors.get_credentials(cid)
        assert second["access_token"] != first["access_token"]
        assert second["refresh_token"] != first["refresh_token"]
        assert first["refresh_token"] not in pd.simulator.tokens.refresh_tokens  # rotated away
        assert second["refresh_token"] in pd.simulator.tokens.refresh_tokens

    # The rotated token survives a restart of the service.
    async with service(api_settings, pd.transport) as (_, client):
        connect = await client.post(f"/api/v1/connectors/{cid}/connect")
        assert connect.status_code == 200, connect.text


async def test_short_token_ttl_refreshes_ahead_of_expiry(
    service: Callable[..., Any],
    api_settings: Settings,
    pd_sim_factory: Callable[..., Any],
    job_waiter: Callable[..., Any],
) -> None:
    pd = pd_sim_factory(token_ttl=30)  # shorter than the client's refresh leeway
    async with service(api_settings, pd.transport) as (app, client):
        cid = (await client.post("/api/v1/connectors", json=oauth_body(pd))).json()["id"]
        location = (await client.get(f"/api/v1/connectors/{cid}/oauth/authorize")).headers[
            "location"
        ]
        async with anonymous(app) as browser:
            done = await browser.get(await approve(pd, location), headers={"accept": "*/*"})
        assert done.status_code == 200, done.text
        before = app.state.services.store.connectors.get_credentials(cid)["refresh_token"]
        job_id = (await client.post(f"/api/v1/connectors/{cid}/sync")).json()["job_id"]
        assert (await job_waiter(client, job_id))["status"] == "succeeded"
        after = app.state.services.store.connectors.get_credentials(cid)["refresh_token"]
        assert after != before
        assert after in pd.simulator.tokens.refresh_tokens


async def test_forged_and_expired_states_are_refused(
    service: Callable[..., Any], api_settings: Settings, pd_sim_factory: Callable[..., Any]
) -> None:
    pd = pd_sim_factory()
    async with service(api_settings, pd.transport) as (app, client):
        cid = (await client.post("/api/v1/connectors", json=oauth_body(pd))).json()["id"]
        async with anonymous(app) as browser:
            forged = await browser.get(
                "/oauth/callback", params={"code": "stolen-code", "state": "forged-state"}
            )
            assert "Nothing was stored" in assert_error(forged, 400, "invalid_state")
            missing = await browser.get("/oauth/callback", params={"code": "c"})
            assert_error(missing, 400, "invalid_state")
            html = await browser.get(
                "/oauth/callback",
                params={"code": "c", "state": "forged"},
                headers={"accept": "text/html,application/xhtml+xml"},
            )
            assert html.status_code == 400
            assert html.headers["content-type"].startswith("text/html")
            assert "Authorization failed" in html.text

            # A genuine state that outlived its time is refused too.
            store: Store = app.state.services.store
            state = store.oauth.create_state(cid, "v" * 64, "http://x/oauth/callback", 1)
            await asyncio.sleep(1.05)
            expired = await browser.get("/oauth/callback", params={"code": "c", "state": state})
            assert_error(expired, 400, "invalid_state")

        creds = app.state.services.store.connectors.get_credentials(cid)
        assert "access_token" not in creds
        connector = (await client.get(f"/api/v1/connectors/{cid}")).json()
        assert connector["status"] == "needs_authorization"


async def test_denied_consent_is_reported(
    service: Callable[..., Any], api_settings: Settings, pd_sim_factory: Callable[..., Any]
) -> None:
    pd = pd_sim_factory()
    async with service(api_settings, pd.transport) as (app, client):
        cid = (await client.post("/api/v1/connectors", json=oauth_body(pd))).json()["id"]
        location = (await client.get(f"/api/v1/connectors/{cid}/oauth/authorize")).headers[
            "location"
        ]
        state = parse_qs(urlsplit(location).query)["state"][0]
        async with anonymous(app) as browser:
            resp = await browser.get(
                "/oauth/callback",
                params={
                    "error": "access_denied",
                    "error_description": "User said no",
                    "state": state,
                },
            )
        assert "access_denied" in assert_error(resp, 400, "oauth_denied")
        connector = (await client.get(f"/api/v1/connectors/{cid}")).json()
        assert connector["status"] == "needs_authorization"
        assert "access_denied" in connector["last_error"]


async def test_one_time_link_for_browsers(
    service: Callable[..., Any], api_settings: Settings, pd_sim_factory: Callable[..., Any]
) -> None:
    pd = pd_sim_factory()
    async with service(api_settings, pd.transport) as (app, client):
        cid = (await client.post("/api/v1/connectors", json=oauth_body(pd))).json()["id"]
        other = (await client.post("/api/v1/connectors", json=oauth_body(pd, "Other"))).json()["id"]
        link = await client.post(f"/api/v1/connectors/{cid}/oauth/authorize")
        assert link.status_code == 200, link.text
        url = link.json()["url"]
        assert link.json()["expires_in"] > 0
        assert url.startswith(f"{SERVICE_BASE_URL}/api/v1/connectors/{cid}/oauth/authorize?ticket=")
        assert api_settings.api_token is not None
        assert api_settings.api_token.get_secret_value() not in url
        ticket = parse_qs(urlsplit(url).query)["ticket"][0]

        async with anonymous(app) as browser:
            wrong_connector = await browser.get(
                f"/api/v1/connectors/{other}/oauth/authorize", params={"ticket": ticket}
            )
            assert_error(wrong_connector, 401, "invalid_ticket")
            first = await browser.get(url)
            assert first.status_code == 302
            assert first.headers["location"].startswith(f"{pd.base_url}/oauth/authorize?")
            again = await browser.get(url)
            assert "already used" in assert_error(again, 401, "invalid_ticket")
            page = await browser.get(url, headers={"accept": "text/html"})
            assert page.status_code == 401
            assert page.headers["content-type"].startswith("text/html")
            assert "Ask for a new one" in page.text
            tampered = await browser.get(
                f"/api/v1/connectors/{cid}/oauth/authorize", params={"ticket": ticket[:-2] + "00"}
            )
            assert_error(tampered, 401, "invalid_ticket")
            assert_error(
                await browser.get(f"/api/v1/connectors/{cid}/oauth/authorize"), 401, "unauthorized"
            )


async def test_authorize_needs_an_oauth_connector(
    service: Callable[..., Any], api_settings: Settings, pd_sim_factory: Callable[..., Any]
) -> None:
    pd = pd_sim_factory()
    async with service(api_settings, pd.transport) as (_, client):
        made = await client.post(
            "/api/v1/connectors",
            json={"name": "Key", "auth": {"type": "api_key", "api_key": pd.api_key}},
        )
        cid = made.json()["id"]
        assert_error(
            await client.get(f"/api/v1/connectors/{cid}/oauth/authorize"),
            409,
            "not_oauth_connector",
        )
        assert_error(
            await client.post(f"/api/v1/connectors/{cid}/oauth/authorize"),
            409,
            "not_oauth_connector",
        )


async def test_public_url_and_connector_page_redirect(
    service: Callable[..., Any], api_settings: Settings, pd_sim_factory: Callable[..., Any]
) -> None:
    pd = pd_sim_factory()
    settings = api_settings.model_copy(update={"public_url": "https://search.example.com/"})
    async with service(settings, pd.transport) as (app, client):
        # Stands in for the web pages' connector page.
        app.add_api_route("/connectors/{connector_id}", lambda connector_id: {}, methods=["GET"])
        made = await client.post("/api/v1/connectors", json=oauth_body(pd))
        assert made.json()["oauth_redirect_uri"] == "https://search.example.com/oauth/callback"
        cid = made.json()["id"]
        location = (await client.get(f"/api/v1/connectors/{cid}/oauth/authorize")).headers[
            "location"
        ]
        query = parse_qs(urlsplit(location).query)
        assert query["redirect_uri"] == ["https://search.example.com/oauth/callback"]
        callback = urlsplit(await approve(pd, location))
        async with anonymous(app) as browser:
            done = await browser.get(
                f"{callback.path}?{callback.query}", headers={"accept": "text/html"}
            )
        assert done.status_code == 303, done.text
        assert done.headers["location"] == f"/connectors/{cid}?oauth=connected"


async def test_api_clients_get_json_and_browsers_the_page(
    service: Callable[..., Any], api_settings: Settings, pd_sim_factory: Callable[..., Any]
) -> None:
    pd = pd_sim_factory()
    async with service(api_settings, pd.transport) as (app, client):
        app.add_api_route("/connectors/{connector_id}", lambda connector_id: {}, methods=["GET"])
        for accept, name in (("application/json", "A"), ("text/html,*/*;q=0.8", "B")):
            cid = (await client.post("/api/v1/connectors", json=oauth_body(pd, name))).json()["id"]
            location = (await client.get(f"/api/v1/connectors/{cid}/oauth/authorize")).headers[
                "location"
            ]
            async with anonymous(app) as browser:
                done = await browser.get(await approve(pd, location), headers={"accept": accept})
            if accept == "application/json":
                assert done.status_code == 200
                assert done.json()["account"]["subdomain"] == pd.subdomain
            else:
                assert done.status_code == 303
                assert done.headers["location"] == f"/connectors/{cid}?oauth=connected"


async def test_a_refused_code_stores_nothing(
    service: Callable[..., Any], api_settings: Settings, pd_sim_factory: Callable[..., Any]
) -> None:
    pd = pd_sim_factory()
    async with service(api_settings, pd.transport) as (app, client):
        cid = (await client.post("/api/v1/connectors", json=oauth_body(pd))).json()["id"]
        location = (await client.get(f"/api/v1/connectors/{cid}/oauth/authorize")).headers[
            "location"
        ]
        back = urlsplit(await approve(pd, location))
        state = parse_qs(back.query)["state"][0]
        async with anonymous(app) as browser:
            resp = await browser.get(
                "/oauth/callback", params={"code": "not-the-code", "state": state}
            )
        message = assert_error(resp, 400, "oauth_failed")
        assert "not-the-code" not in message
        assert pd.client_secret not in message
        assert "access_token" not in app.state.services.store.connectors.get_credentials(cid)
        connector = (await client.get(f"/api/v1/connectors/{cid}")).json()
        assert connector["status"] == "needs_authorization"
        assert connector["last_error"]


async def test_a_grant_missing_scopes_names_the_cause(
    service: Callable[..., Any], api_settings: Settings, pd_sim_factory: Callable[..., Any]
) -> None:
    pd = pd_sim_factory()
    async with service(api_settings, pd.transport) as (app, client):
        cid = (await client.post("/api/v1/connectors", json=oauth_body(pd))).json()["id"]
        location = urlsplit(
            (await client.get(f"/api/v1/connectors/{cid}/oauth/authorize")).headers["location"]
        )
        # The app (or the person) granted less than pdsearch asked for.
        query = {k: v[0] for k, v in parse_qs(location.query).items()}
        query["scope"] = "schedules.read"
        narrowed = location._replace(query=urlencode(query)).geturl()
        async with anonymous(app) as browser:
            resp = await browser.get(await approve(pd, narrowed), headers={"accept": "*/*"})
        message = assert_error(resp, 400, "pagerduty_missing_scope")
        assert "scope" in message
        connector = (await client.get(f"/api/v1/connectors/{cid}")).json()
        assert connector["status"] == "error"
        assert "scope" in connector["last_error"]
