"""OAuth as PagerDuty does it: PKCE, state, single-use codes, refresh rotation, expiry."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from clock import FakeClock

CLIENT_ID = "sim-test-client"
CLIENT_SECRET = "sim-test-client-secret"
REDIRECT = "http://127.0.0.1:8000/oauth/callback"


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    return verifier, challenge.decode().rstrip("=")


@pytest.fixture
def clock(sim: Any) -> FakeClock:
    clock = FakeClock()
    sim.clock = clock
    return clock


@pytest.fixture
async def http(sim: Any) -> Any:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=sim.app), base_url="http://sim.test"
    ) as client:
        yield client


async def authorize(
    http: httpx.AsyncClient, challenge: str, scope: str = "users.read schedules.read", **extra: str
) -> dict[str, list[str]]:
    params = {
        "client_id": CLIENT_ID,
        "redirect_uri": REDIRECT,
        "response_type": "code",
        "scope": scope,
        "state": "st-123",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        **extra,
    }
    response = await http.get("/oauth/authorize", params={k: v for k, v in params.items() if v})
    assert response.status_code == 302, response.text
    location = response.headers["location"]
    assert location.startswith(REDIRECT + "?")
    return parse_qs(urlsplit(location).query)


async def token(http: httpx.AsyncClient, **form: str) -> httpx.Response:
    data = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, **form}
    return await http.post("/oauth/token", data=data)


async def exchange(http: httpx.AsyncClient, code: str, verifier: str) -> httpx.Response:
    return await token(
        http,
        grant_type="authorization_code",
        code=code,
        code_verifier=verifier,
        redirect_uri=REDIRECT,
    )


async def login(http: httpx.AsyncClient, scope: str = "users.read schedules.read") -> Any:
    verifier, challenge = pkce()
    query = await authorize(http, challenge, scope)
    response = await exchange(http, query["code"][0], verifier)
    assert response.status_code == 200, response.text
    return response.json()


async def test_code_flow_with_pkce_gives_working_tokens(
    http: httpx.AsyncClient, sim: Any, clock: FakeClock
) -> None:
    verifier, challenge = pkce()
    query = await authorize(http, challenge)
    assert query["state"] == ["st-123"]
    body = (await exchange(http, query["code"][0], verifier)).json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == sim.config.token_ttl
    assert set(body["scope"].split()) == {"users.read", "schedules.read"}
    assert body["refresh_token"]
    assert body["access_token"] != body["refresh_token"]
    claims = json.loads(base64.urlsafe_b64decode(body["id_token"].split(".")[1] + "=="))
    assert claims["subdomain"] == sim.account.subdomain
    assert claims["user_id"] == sim.account.owner_id
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    me = await http.get("/users/me", headers=headers)
    assert me.json()["user"]["id"] == sim.account.owner_id
    assert (await http.get("/schedules", headers=headers)).status_code == 200


async def test_authorize_requires_pkce_s256(http: httpx.AsyncClient, clock: FakeClock) -> None:
    _, challenge = pkce()
    query = await authorize(http, "")
    assert query["error"] == ["invalid_request"]
    assert query["state"] == ["st-123"]
    query = await authorize(http, challenge, code_challenge_method="plain")
    assert query["error"] == ["invalid_request"]
    query = await authorize(http, challenge, response_type="token")
    assert query["error"] == ["unsupported_response_type"]


async def test_authorize_refuses_unknown_clients_without_redirecting(
    http: httpx.AsyncClient,
) -> None:
    _, challenge = pkce()
    response = await http.get(
        "/oauth/authorize",
        params={
            "client_id": "someone-else",
            "redirect_uri": REDIRECT,
            "response_type": "code",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        },
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_client"


async def test_wrong_verifier_secret_or_redirect_is_refused(
    http: httpx.AsyncClient, clock: FakeClock
) -> None:
    verifier, challenge = pkce()
    code = (await authorize(http, challenge))["code"][0]
    response = await exchange(http, code, "not-the-verifier")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"
    code = (await authorize(http, challenge))["code"][0]
    response = await token(
        http,
        grant_type="authorization_code",
        code=code,
        code_verifier=verifier,
        redirect_uri="http://127.0.0.1:9/elsewhere",
    )
    assert response.json()["error"] == "invalid_grant"
    code = (await authorize(http, challenge))["code"][0]
    response = await http.post(
        "/oauth/token",
        data={
            "client_id": CLIENT_ID,
            "client_secret": "wrong",
            "grant_type": "authorization_code",
            "code": code,
            "code_verifier": verifier,
            "redirect_uri": REDIRECT,
        },
    )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert CLIENT_SECRET not in response.text


async def test_code_is_single_use(http: httpx.AsyncClient, clock: FakeClock) -> None:
    verifier, challenge = pkce()
    code = (await authorize(http, challenge))["code"][0]
    assert (await exchange(http, code, verifier)).status_code == 200
    again = await exchange(http, code, verifier)
    assert again.status_code == 400
    assert again.json()["error"] == "invalid_grant"


async def test_code_expires_after_30_seconds(http: httpx.AsyncClient, clock: FakeClock) -> None:
    verifier, challenge = pkce()
    code = (await authorize(http, challenge))["code"][0]
    clock.advance(29)
    assert (await exchange(http, code, verifier)).status_code == 200
    code = (await authorize(http, challenge))["code"][0]
    clock.advance(31)
    assert (await exchange(http, code, verifier)).json()["error"] == "invalid_grant"


async def test_refresh_rotates_and_the_old_refresh_token_dies(
    http: httpx.AsyncClient, clock: FakeClock
) -> None:
    first = await login(http)
    response = await token(http, grant_type="refresh_token", refresh_token=first["refresh_token"])
    second = response.json()
    assert response.status_code == 200
    assert second["refresh_token"] != first["refresh_token"]
    assert second["scope"] == first["scope"]
    headers = {"Authorization": f"Bearer {second['access_token']}"}
    assert (await http.get("/users", headers=headers)).status_code == 200
    reused = await token(http, grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert reused.status_code == 400
    assert reused.json()["error"] == "invalid_grant"


async def test_access_tokens_expire_after_token_ttl(
    http: httpx.AsyncClient, sim: Any, clock: FakeClock
) -> None:
    body = await login(http)
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    clock.advance(sim.config.token_ttl - 1)
    assert (await http.get("/users", headers=headers)).status_code == 200
    clock.advance(1)
    expired = await http.get("/users", headers=headers)
    assert expired.status_code == 401
    assert expired.json()["error"]["code"] == 2006
    # The refresh token still gets a fresh access token.
    fresh = await token(http, grant_type="refresh_token", refresh_token=body["refresh_token"])
    headers = {"Authorization": f"Bearer {fresh.json()['access_token']}"}
    assert (await http.get("/users", headers=headers)).status_code == 200


async def test_invalid_scopes_are_dropped_not_refused(
    http: httpx.AsyncClient, clock: FakeClock
) -> None:
    body = await login(http, scope="no.such.scope users.read")
    assert body["scope"] == "users.read"
    body = await login(http, scope="made.up")
    assert body["scope"] == "openid"
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    assert (await http.get("/users", headers=headers)).status_code == 403


async def test_client_credentials_gives_an_account_level_app_token(
    http: httpx.AsyncClient, sim: Any, clock: FakeClock
) -> None:
    scope = f"as_account-us.{sim.account.subdomain} users.read teams.read"
    response = await token(http, grant_type="client_credentials", scope=scope)
    body = response.json()
    assert response.status_code == 200
    assert "refresh_token" not in body
    assert body["scope"].split()[0] == f"as_account-us.{sim.account.subdomain}"
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    assert (await http.get("/teams", headers=headers)).status_code == 200
    assert (await http.get("/schedules", headers=headers)).status_code == 403
    assert (await http.get("/users/me", headers=headers)).status_code == 400
    wrong = await token(
        http, grant_type="client_credentials", scope="as_account-eu.elsewhere users.read"
    )
    assert wrong.status_code == 400
    assert wrong.json()["error"] == "invalid_scope"
    missing = await token(http, grant_type="client_credentials", scope="users.read")
    assert missing.json()["error"] == "invalid_scope"


async def test_unknown_grant_type(http: httpx.AsyncClient) -> None:
    response = await token(http, grant_type="password")
    assert response.status_code == 400
    assert response.json()["error"] == "unsupported_grant_type"


async def test_client_secret_by_basic_auth(http: httpx.AsyncClient, sim: Any) -> None:
    basic = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
    response = await http.post(
        "/oauth/token",
        headers={"Authorization": f"Basic {basic}"},
        data={
            "grant_type": "client_credentials",
            "scope": f"as_account-us.{sim.account.subdomain} users.read",
        },
    )
    assert response.status_code == 200
