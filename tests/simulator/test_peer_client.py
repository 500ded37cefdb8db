"""PagerDuty's own Python client (``pagerduty``) as an independent peer of the simulator.

The client only accepts ``https://`` base URLs; a small transport rewrites each request to the
simulator on 127.0.0.1, so the client's paging, auth headers and OAuth calls run unchanged.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import httpx2
import pagerduty
import pytest

REDIRECT = "https://app.example.com/callback"


class Loopback(httpx2.BaseTransport):
    """Sends every request of an https client to the simulator's plain-http loopback port."""

    def __init__(self, base_url: str) -> None:
        self.target = httpx2.URL(base_url)
        self.inner = httpx2.HTTPTransport()

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        request.url = request.url.copy_with(
            scheme="http", host=self.target.host, port=self.target.port
        )
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


def rest_client(server: Any, key: str | None = None, auth_type: str = "token") -> Any:
    return pagerduty.RestApiV2Client(
        key or server.api_key,
        auth_type=auth_type,
        base_url="https://api.pagerduty.com",
        transport=Loopback(server.base_url),
    )


@pytest.fixture
def pd(sim_server: Any) -> Any:
    client = rest_client(sim_server)
    yield client
    client.close()


def test_what_the_peer_lists_equals_what_was_generated(pd: Any, sim_server: Any) -> None:
    account = sim_server.account
    users = pd.list_all("users", params={"include[]": ["teams"]})
    assert sorted(u["id"] for u in users) == sorted(account.users)
    assert {u["email"] for u in users} == {u["email"] for u in account.users.values()}
    teams = pd.list_all("teams")
    assert sorted(t["id"] for t in teams) == sorted(account.teams)
    v2 = sorted(i for i, s in account.schedules.items() if s.get("type") != "schedule_v3")
    assert sorted(s["id"] for s in pd.list_all("schedules")) == v2
    policies = pd.list_all("escalation_policies", params={"include[]": ["targets", "teams"]})
    assert sorted(p["id"] for p in policies) == sorted(account.escalation_policies)
    team_id, members = next((t, m) for t, m in account.memberships.items() if m)
    listed = pd.list_all(f"teams/{team_id}/members")
    assert {(m["user"]["id"], m["role"]) for m in listed} == {
        (m["user_id"], m["role"]) for m in members
    }


def test_peer_pages_in_small_pages_too(sim_server: Any) -> None:
    client = rest_client(sim_server)
    client.default_page_size = 7
    try:
        ids = [u["id"] for u in client.iter_all("users")]
    finally:
        client.close()
    assert len(ids) == len(set(ids)) == len(sim_server.account.users)


def test_peer_reads_details_and_account_facts(pd: Any, sim_server: Any) -> None:
    account = sim_server.account
    schedule_id = next(i for i, s in account.schedules.items() if s.get("type") != "schedule_v3")
    schedule = pd.rget(f"schedules/{schedule_id}")
    assert schedule["id"] == schedule_id
    assert schedule["final_schedule"]["name"] == "Final Schedule"
    assert pd.subdomain == account.subdomain
    assert pd.api_key_access == "account"
    assert pd.account_has_ability("teams") is True
    sim_server.simulator.abilities.remove("teams")
    assert pd.account_has_ability("teams") is False


def test_peer_sees_a_user_key_as_a_user_key(sim_server: Any) -> None:
    user_id = next(iter(sim_server.account.users))
    sim_server.simulator.add_api_key("peer-user-key", user_id=user_id)
    client = rest_client(sim_server, "peer-user-key")
    try:
        assert client.api_key_access == "user"
        assert client.rget("users/me")["id"] == user_id
    finally:
        client.close()


def test_peer_writes_and_reads_back_and_follows_audit_cursors(pd: Any, sim_server: Any) -> None:
    created = pd.rpost("teams", json={"team": {"name": "Peer Team", "description": "By peer"}})
    assert created["name"] == "Peer Team"
    user_id = next(iter(sim_server.account.users))
    pd.put(f"teams/{created['id']}/users/{user_id}", json={"role": "responder"})
    assert created["id"] in {t["id"] for t in pd.list_all("teams")}
    for i in range(3):
        pd.rput(f"teams/{created['id']}", json={"team": {"description": f"Edit {i}"}})
    records = list(pd.iter_cursor("audit/records", params={"limit": 2}))
    assert len(records) == len({r["id"] for r in records}) >= 5
    assert any(r["action"] == "create" for r in records)


def test_peer_401_on_a_bad_key(sim_server: Any) -> None:
    client = rest_client(sim_server, "not-a-key")
    try:
        with pytest.raises(pagerduty.HttpError) as caught:
            client.list_all("users")
        assert caught.value.response is not None
        assert caught.value.response.status_code == 401
    finally:
        client.close()


def test_peer_oauth_with_pkce_refresh_and_app_token(sim_server: Any) -> None:
    config = sim_server.config
    oauth = pagerduty.OAuthTokenClient(
        config.oauth_client_secret,
        config.oauth_client_id,
        base_url="https://identity.pagerduty.com",
        transport=Loopback(sim_server.oauth_base_url),
    )
    # pagerduty 7.x's get_pkce_authorize_url reads self.client_id, which it never sets.
    oauth.client_id = config.oauth_client_id  # type: ignore[attr-defined]  # not declared there
    try:
        verifier, challenge = oauth.generate_s256_pkce_params()
        scope = "users.read schedules.read"
        url = oauth.get_pkce_authorize_url(scope, REDIRECT, challenge)
        # The user's browser visits the authorize URL; the simulator approves at once.
        path = urlsplit(url)
        answer = httpx.get(f"{sim_server.oauth_base_url}{path.path}?{path.query}")
        assert answer.status_code == 302
        code = parse_qs(urlsplit(answer.headers["location"]).query)["code"][0]
        token = oauth.get_new_token_from_code_with_pkce(code, scope, REDIRECT, verifier)
        assert set(token["scope"].split()) == {"users.read", "schedules.read"}
        user_client = rest_client(sim_server, token["access_token"], auth_type="bearer")
        try:
            assert len(user_client.list_all("users")) == len(sim_server.account.users)
            assert user_client.api_key_access == "user"
        finally:
            user_client.close()
        refreshed = oauth.get_refreshed_token(token["refresh_token"])
        assert refreshed["refresh_token"] != token["refresh_token"]
        with pytest.raises(pagerduty.HttpError):
            oauth.get_refreshed_token(token["refresh_token"])
        app = oauth.get_scoped_app_token(
            f"as_account-{config.region}.{sim_server.subdomain} teams.read"
        )
        assert "refresh_token" not in app
        app_client = rest_client(sim_server, app["access_token"], auth_type="bearer")
        try:
            assert app_client.api_key_access == "account"
            assert len(app_client.list_all("teams")) == len(sim_server.account.teams)
        finally:
            app_client.close()
    finally:
        oauth.close()
