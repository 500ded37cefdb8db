"""Credentials and scopes: Token and Bearer schemes, 401 code 2006, /users/me, 403 per scope."""

from __future__ import annotations

from typing import Any

import httpx
import pytest


def _bearer(sim: Any, scopes: set[str], user_id: str | None = "owner") -> dict[str, str]:
    uid = sim.account.owner_id if user_id == "owner" else user_id
    token = sim.tokens.issue_access_token("test-client", uid, frozenset(scopes), 600)
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "Token token=wrong-key",
        "Token wrong-format",
        "Bearer not-a-token",
        "Basic dXNlcjpwYXNz",
        "token token=sim-test-api-key",  # the scheme is case-sensitive for API keys
    ],
)
async def test_bad_or_missing_credentials_are_401_code_2006(
    sim_http: httpx.AsyncClient, header: str | None
) -> None:
    headers = {"Authorization": header} if header is not None else {}
    request = sim_http.build_request("GET", "/users", headers=headers)
    if header is None:
        del request.headers["Authorization"]
    response = await sim_http.send(request)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == 2006
    assert "sim-test-api-key" not in response.text


async def test_api_key_reads_everything(sim_http: httpx.AsyncClient) -> None:
    for path in ("/users", "/teams", "/schedules", "/escalation_policies", "/abilities"):
        assert (await sim_http.get(path)).status_code == 200, path


async def test_revoked_api_key_stops_working(sim_http: httpx.AsyncClient, sim: Any) -> None:
    assert (await sim_http.get("/users")).status_code == 200
    sim.revoke_api_key()
    response = await sim_http.get("/users")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == 2006


async def test_users_me_with_an_account_key_is_pagerdutys_400(sim_http: httpx.AsyncClient) -> None:
    response = await sim_http.get("/users/me")
    assert response.status_code == 400
    assert "account-level access token" in response.json()["error"]


async def test_users_me_with_user_credentials(sim_http: httpx.AsyncClient, sim: Any) -> None:
    user_id = next(u for u in sim.account.users if u != sim.account.owner_id)
    sim.add_api_key("a-user-key", user_id=user_id)
    me = await sim_http.get("/users/me", headers={"Authorization": "Token token=a-user-key"})
    assert me.status_code == 200
    assert me.json()["user"]["id"] == user_id
    # OAuth user tokens are user tokens; /users/me needs no scope.
    me = await sim_http.get("/users/me", headers=_bearer(sim, {"openid"}))
    assert me.json()["user"]["id"] == sim.account.owner_id
    # An app token is account-level.
    app = await sim_http.get("/users/me", headers=_bearer(sim, {"users.read"}, user_id=None))
    assert app.status_code == 400


async def test_oauth_token_without_the_scope_gets_403_naming_it(
    sim_http: httpx.AsyncClient, sim: Any
) -> None:
    headers = _bearer(sim, {"users.read"})
    assert (await sim_http.get("/users", headers=headers)).status_code == 200
    for path, scope in [
        ("/schedules", "schedules.read"),
        ("/escalation_policies", "escalation_policies.read"),
        ("/teams", "teams.read"),
        ("/abilities", "abilities.read"),
        ("/audit/records", "audit_records.read"),
        ("/v3/schedules", "schedules.read"),
    ]:
        response = await sim_http.get(path, headers=headers)
        assert response.status_code == 403, path
        assert scope in response.json()["error"]["message"]


async def test_read_scope_does_not_allow_writes(sim_http: httpx.AsyncClient, sim: Any) -> None:
    headers = _bearer(sim, {"teams.read"})
    response = await sim_http.post(
        "/teams", headers=headers, json={"team": {"name": "Nope", "description": "x"}}
    )
    assert response.status_code == 403
    assert "teams.write" in response.json()["error"]["message"]
    assert not any(t["name"] == "Nope" for t in sim.account.teams.values())
    write = _bearer(sim, {"teams.write"})
    response = await sim_http.post(
        "/teams", headers=write, json={"team": {"name": "Yes", "description": "x"}}
    )
    assert response.status_code == 201


async def test_classic_read_scope_reads_everything_but_writes_nothing(
    sim_http: httpx.AsyncClient, sim: Any
) -> None:
    headers = _bearer(sim, {"read"})
    for path in ("/users", "/teams", "/schedules", "/escalation_policies"):
        assert (await sim_http.get(path, headers=headers)).status_code == 200
    response = await sim_http.delete(f"/teams/{next(iter(sim.account.teams))}", headers=headers)
    assert response.status_code == 403


async def test_counters_count_api_requests(sim_http: httpx.AsyncClient, sim: Any) -> None:
    await sim_http.get("/users")
    await sim_http.get("/users")
    await sim_http.get("/teams")
    assert sim.request_count == 3
    assert sim.requests_by_path["/users"] == 2
    sim.reset_counters()
    assert sim.request_count == 0
    assert not sim.requests_by_path


async def test_unknown_paths_and_methods(sim_http: httpx.AsyncClient) -> None:
    assert (await sim_http.get("/incidents")).status_code == 404
    assert (await sim_http.patch("/users")).status_code == 405
