# Over 500 lines on purpose: every page through one signed-in client and one fixture world
# (connectors, hostile titles, entities), so escaping and secrets are checked on every page alike.
"""The web pages through HTTP (httpx on the app in-process): sign-in and session, the API calls
and its CSRF check, every page rendering, hostile content escaped, and no secret in any page."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from pdsearch.index.base import Document
from pdsearch.permissions import Entity

TOKEN = "test-service-token-0123456789abcdef"  # conftest's SERVICE_TOKEN
BASE = "http://pdsearch.test"
HOSTILE = "<script>alert('x')</script><img src=x onerror=alert(1)>"


def csrf_of(html: str) -> str:
    match = re.search(r'<meta name="csrf-token" content="([^"]*)">', html)
    assert match, "the page has no CSRF token"
    return match.group(1)


class Pages:
    """A browser-like client of the app: cookies kept, no bearer header of its own."""

    def __init__(self, app: Any, client: httpx.AsyncClient, api: httpx.AsyncClient) -> None:
        self.app = app
        self.http = client
        self.api = api  # the REST API with the bearer token, for set-up and checks
        self.csrf = ""

    async def sign_in(self) -> None:
        resp = await self.http.post("/signin", data={"token": TOKEN, "next": "/"})
        assert resp.status_code == 303
        self.csrf = csrf_of((await self.http.get("/")).text)

    async def page_api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """A call to /api/v1 as the pages' script makes it: session cookie and CSRF token."""
        headers = {"X-CSRF-Token": self.csrf, **kwargs.pop("headers", {})}
        return await self.http.request(method, "/api/v1" + path, headers=headers, **kwargs)


def browser_like(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE)


#: Where httpx's ASGI transport says requests come from: the SSO proxy of these tests.
PROXY = "127.0.0.1"


def behind_sso(settings: Any, *proxies: str) -> Any:
    """``settings`` with the search page believing the user header from ``proxies``."""
    return type(settings)(
        **{**settings.model_dump(), "trusted_proxies": proxies or (PROXY,)}
    )


@pytest.fixture
async def pages(
    service: Callable[..., Any], api_settings: Any, pd_sim: Any
) -> AsyncIterator[Pages]:
    """The pages behind an SSO proxy (this client's address is a trusted proxy)."""
    settings = behind_sso(api_settings)
    async with service(settings, pd_sim.transport) as (app, api), browser_like(app) as c:
        yield Pages(app, c, api)


async def make_connector(pages: Pages, pd_sim: Any, name: str = "Acme") -> str:
    resp = await pages.api.post("/api/v1/connectors", json={
        "name": name, "auth": {"type": "api_key", "api_key": pd_sim.api_key},
        "base_url": pd_sim.base_url,
    })
    assert resp.status_code == 201, resp.text
    return str(resp.json()["id"])


async def synced(pages: Pages, pd_sim: Any, job_waiter: Any) -> str:
    cid = await make_connector(pages, pd_sim)
    job = (await pages.api.post(f"/api/v1/connectors/{cid}/sync")).json()["job_id"]
    assert (await job_waiter(pages.api, job))["status"] == "succeeded"
    return cid


# --- sign-in and the session ---------------------------------------------------------------


async def test_admin_pages_need_sign_in(pages: Pages) -> None:
    for path in ("/", "/connectors/new", "/connectors/x", "/connectors/x/configuration"):
        resp = await pages.http.get(path)
        assert resp.status_code == 303
        assert resp.headers["location"].startswith("/signin?next=")
    page = await pages.http.get("/signin?next=/connectors/new")
    assert page.status_code == 200
    assert 'name="next" value="/connectors/new"' in page.text
    assert 'type="password"' in page.text


async def test_wrong_token_is_refused_and_never_echoed(pages: Pages) -> None:
    typed = "wrong-token-that-must-not-come-back-4321"
    resp = await pages.http.post("/signin", data={"token": typed, "next": "/"})
    assert resp.status_code == 401
    assert "not the service&#39;s API token" in resp.text or "not the service's API token" in (
        resp.text
    )
    assert typed not in resp.text
    assert "set-cookie" not in resp.headers
    assert (await pages.http.get("/")).status_code == 303


async def test_session_cookie_is_httponly_lax_and_opaque(pages: Pages) -> None:
    resp = await pages.http.post("/signin", data={"token": TOKEN, "next": "/connectors/new"})
    assert resp.status_code == 303
    assert resp.headers["location"] == "/connectors/new"
    cookie = resp.headers["set-cookie"]
    assert cookie.startswith("pdsearch_session=")
    assert "HttpOnly" in cookie
    assert "samesite=lax" in cookie.lower()
    assert "Path=/" in cookie
    assert "Secure" not in cookie  # plain http on loopback
    assert TOKEN not in cookie
    assert TOKEN not in resp.headers.get("location", "")
    assert (await pages.http.get("/connectors/new")).status_code == 200
    again = await pages.http.get("/signin?next=/search")
    assert again.status_code == 303
    assert again.headers["location"] == "/search"


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example/", "\\\\evil", "x"])
async def test_sign_in_never_redirects_off_site(pages: Pages, target: str) -> None:
    resp = await pages.http.post("/signin", data={"token": TOKEN, "next": target})
    assert resp.status_code == 303
    assert resp.headers["location"] == "/"


async def test_secure_cookie_behind_https(
    service: Callable[..., Any], api_settings: Any, pd_sim: Any
) -> None:
    settings = api_settings.model_copy(update={"public_url": "https://pdsearch.example.com"})
    async with service(settings, pd_sim.transport) as (app, _), browser_like(app) as c:
        resp = await c.post("/signin", data={"token": TOKEN})
    assert "Secure" in resp.headers["set-cookie"]


async def test_sign_out_ends_the_session(pages: Pages) -> None:
    await pages.sign_in()
    cookie = pages.http.cookies.get("pdsearch_session")
    resp = await pages.http.post("/signout", data={"csrf": pages.csrf})
    assert resp.status_code == 303
    assert resp.headers["location"] == "/signin"
    # Even a copy of the old cookie no longer works.
    pages.http.cookies.set("pdsearch_session", cookie or "")
    assert (await pages.http.get("/")).status_code == 303


async def test_a_session_holds_on_every_replica_until_signed_out_on_any(
    service: Callable[..., Any], api_settings: Any, pd_sim: Any
) -> None:
    # Two services on one data directory, as replicas on one database: the session cookie
    # one issued works on the other, and signing out on the other ends it on the first.
    settings = behind_sso(api_settings)
    async with service(settings, pd_sim.transport) as (one, api), \
            service(settings, pd_sim.transport) as (two, _), \
            browser_like(one) as first, browser_like(two) as second:
        await Pages(one, first, api).sign_in()
        cookie = first.cookies["pdsearch_session"]
        second.cookies.set("pdsearch_session", cookie)
        page = await second.get("/")
        assert page.status_code == 200
        signed_out = await second.post("/signout", data={"csrf": csrf_of(page.text)})
        assert signed_out.status_code == 303
        first.cookies.set("pdsearch_session", cookie)
        assert (await first.get("/")).status_code == 303
        assert (await first.get("/api/v1/connectors")).status_code == 401


async def test_no_token_configured_means_no_sign_in(
    service: Callable[..., Any], api_settings: Any
) -> None:
    settings = api_settings.model_copy(update={"api_token": None})
    async with service(settings) as (app, _), browser_like(app) as c:
        page = await c.get("/signin")
        assert "no API token configured" in page.text
        resp = await c.post("/signin", data={"token": ""})
        assert resp.status_code == 401


# --- the pages' calls to the API -----------------------------------------------------------------


async def test_page_calls_need_a_session_and_its_csrf_token(pages: Pages, pd_sim: Any) -> None:
    resp = await pages.http.get("/api/v1/connectors")
    assert resp.status_code == 401
    assert resp.json()["error"]["code"] == "unauthorized"
    await pages.sign_in()
    resp = await pages.http.get("/api/v1/connectors")
    assert resp.status_code == 403
    assert resp.json()["error"]["code"] == "csrf_failed"
    resp = await pages.page_api("GET", "/connectors", headers={"X-CSRF-Token": "forged"})
    assert resp.status_code == 403
    ok = await pages.page_api("GET", "/connectors")
    assert ok.status_code == 200, ok.text
    # A request with a bearer header is judged by it alone, session or not.
    wrong = await pages.page_api("GET", "/connectors", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    assert wrong.json()["error"]["code"] == "unauthorized"
    cookie = pages.http.cookies["pdsearch_session"]
    await pages.http.post("/signout", data={"csrf": pages.csrf})
    for stale in (cookie, "1.x.y"):  # signed out, and forged
        pages.http.cookies.set("pdsearch_session", stale)
        ended = await pages.page_api("GET", "/connectors")
        assert ended.status_code == 401
        assert ended.json()["error"]["code"] == "signed_out"


async def test_page_calls_reach_the_api_with_its_answers(pages: Pages, pd_sim: Any) -> None:
    await pages.sign_in()
    created = await pages.page_api("POST", "/connectors", json={
        "name": "Acme", "auth": {"type": "api_key", "api_key": pd_sim.api_key},
        "base_url": pd_sim.base_url,
    })
    assert created.status_code == 201
    assert pd_sim.api_key not in created.text
    cid = created.json()["id"]
    connected = await pages.page_api("POST", f"/connectors/{cid}/connect")
    assert connected.json() == {**connected.json(), "status": "connected"}
    assert connected.json()["account"]["subdomain"] == pd_sim.subdomain
    started = await pages.page_api("POST", f"/connectors/{cid}/sync")
    assert started.status_code == 202
    assert started.headers["location"] == f"/api/v1/jobs/{started.json()['job_id']}"
    # Errors keep the API's shape and words.
    bad = await pages.page_api("POST", "/connectors", json={"name": "", "auth": {"type": "x"}})
    assert bad.status_code == 422
    assert "name" in bad.json()["error"]["message"]
    dup = await pages.page_api("POST", "/connectors", json={
        "name": "acme", "auth": {"type": "api_key", "api_key": "k"},
    })
    assert dup.status_code == 409
    assert (await pages.page_api("GET", "/nowhere")).status_code == 404


# --- the pages render --------------------------------------------------------------------------


async def test_empty_connector_list_invites_to_add_one(pages: Pages) -> None:
    await pages.sign_in()
    page = await pages.http.get("/")
    assert page.status_code == 200
    assert "No connectors yet — add one" in page.text
    assert 'href="/connectors/new"' in page.text
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["x-content-type-options"] == "nosniff"


async def test_every_tab_renders_after_a_sync(pages: Pages, pd_sim: Any, job_waiter: Any) -> None:
    cid = await synced(pages, pd_sim, job_waiter)
    await pages.sign_in()
    listing = (await pages.http.get("/")).text
    assert "Acme" in listing
    assert "Succeeded" in listing
    assert pd_sim.subdomain in listing
    auth = await pages.http.get(f"/connectors/{cid}")
    assert auth.status_code == 200
    assert 'id="connect-btn"' in auth.text
    assert "A key is stored; leave blank to keep it" in auth.text
    config = await pages.http.get(f"/connectors/{cid}/configuration")
    assert config.status_code == 200
    assert 'id="sync-btn"' in config.text
    assert "Succeeded" in config.text
    assert re.search(r"<b>\d+</b> added", config.text)
    assert "No schedule" in config.text
    history = await pages.http.get(f"/connectors/{cid}/history")
    assert "history-table" in history.text
    assert "<html" not in history.text
    entities = await pages.http.get(f"/connectors/{cid}/entities")
    assert entities.status_code == 200
    assert 'id="entity-table"' in entities.text
    acct = pd_sim.simulator.account
    team_id = next(iter(acct.teams))
    entity = await pages.http.get(f"/connectors/{cid}/entities/{team_id}")
    assert entity.status_code == 200
    assert acct.teams[team_id]["name"] in entity.text
    docs = await pages.http.get(f"/connectors/{cid}/documents")
    assert docs.status_code == 200
    assert "Visible to:" in docs.text
    assert (await pages.http.get("/static/app.js")).status_code == 200
    assert (await pages.http.get("/static/style.css")).status_code == 200


async def test_schedule_and_running_job_show_on_configuration(
    pages: Pages, pd_sim: Any
) -> None:
    cid = await make_connector(pages, pd_sim)
    put = await pages.api.put(f"/api/v1/connectors/{cid}/schedule", json={"interval_minutes": 90})
    assert put.status_code == 200
    await pages.sign_in()
    page = (await pages.http.get(f"/connectors/{cid}/configuration")).text
    assert "Every 90 minutes" in page
    assert re.search(r'id="schedule-next"><time datetime="[0-9T:-]+Z">', page)
    assert "No syncs yet" in page
    # The default incremental schedule of a new connector is shown beside the full one.
    assert re.search(r'id="incremental-text">Every 5 minutes<', page)
    assert re.search(r'id="incremental-next"><time datetime="[0-9T:-]+Z">', page)


async def test_unknown_connector_and_entity_are_pages_not_json(
    pages: Pages, pd_sim: Any
) -> None:
    await pages.sign_in()
    resp = await pages.http.get("/connectors/nope/configuration")
    assert resp.status_code == 404
    assert "text/html" in resp.headers["content-type"]
    assert "There is no connector with id" in resp.text
    cid = await make_connector(pages, pd_sim)
    resp = await pages.http.get(f"/connectors/{cid}/entities/PNOPE")
    assert resp.status_code == 404
    assert "no permission entity" in resp.text
    empty = await pages.http.get(f"/connectors/{cid}/entities")
    assert "No permission entities yet" in empty.text
    docs = await pages.http.get(f"/connectors/{cid}/documents")
    assert "No documents yet" in docs.text


async def test_oauth_connector_shows_redirect_url_and_callback_result(
    pages: Pages, pd_sim: Any
) -> None:
    resp = await pages.api.post("/api/v1/connectors", json={
        "name": "OAuth one",
        "auth": {"type": "oauth2", "client_id": pd_sim.client_id,
                 "client_secret": pd_sim.client_secret},
        "base_url": pd_sim.base_url, "oauth_base_url": pd_sim.base_url,
    })
    cid = resp.json()["id"]
    await pages.sign_in()
    page = (await pages.http.get(f"/connectors/{cid}")).text
    assert f'value="{BASE}/oauth/callback"' in page
    assert "Sign in with PagerDuty" in page
    assert "Needs sign-in" in page
    assert pd_sim.client_id in page  # not a secret
    assert pd_sim.client_secret not in page
    page = (await pages.http.get(f"/connectors/{cid}?oauth=error")).text
    assert "did not complete" in page


# --- hostile content and secrets ---------------------------------------------------------------


async def test_hostile_names_are_escaped_everywhere(pages: Pages, pd_sim: Any) -> None:
    cid = await make_connector(pages, pd_sim, name=HOSTILE)
    services = pages.app.state.services
    services.store.entities.replace_derived(
        cid, [Entity("PEVIL01", HOSTILE, "team", frozenset({"eve@example.com"}))]
    )
    services.index.upsert([
        Document(
            id="schedule:PEVIL01", type="schedule", title=HOSTILE,
            content=f"Schedule {HOSTILE} javascript <b>bold</b> night shift",
            url="javascript:alert(1)", sys_racl=("PEVIL01",), source=cid,
        )
    ])
    await pages.sign_in()
    for path in ("/", f"/connectors/{cid}", f"/connectors/{cid}/configuration",
                 f"/connectors/{cid}/entities", f"/connectors/{cid}/entities/PEVIL01",
                 f"/connectors/{cid}/documents"):
        text = (await pages.http.get(path)).text
        assert "<script>alert" not in text, path
        assert "<img src=x" not in text, path
        assert 'href="javascript:' not in text, path
    found = await pages.http.get(
        "/search", params={"q": "night", "user": "eve@example.com"}
    )
    assert found.status_code == 200
    assert "<script>alert" not in found.text
    assert "<img src=x" not in found.text
    assert "<b>bold</b>" not in found.text
    assert "<mark>night</mark>" in found.text  # the snippet's highlight is HTML
    assert 'href="javascript:' not in found.text
    user = await pages.http.get("/search", headers={"X-Forwarded-Email": HOSTILE})
    assert "<script>alert" not in user.text


async def test_no_secret_in_any_page(pages: Pages, pd_sim: Any, job_waiter: Any) -> None:
    cid = await synced(pages, pd_sim, job_waiter)
    resp = await pages.api.post("/api/v1/connectors", json={
        "name": "OAuth",
        "auth": {"type": "oauth2", "client_id": pd_sim.client_id,
                 "client_secret": pd_sim.client_secret},
    })
    oid = resp.json()["id"]
    await pages.sign_in()
    secrets = [pd_sim.api_key, pd_sim.client_secret, TOKEN]
    paths = ["/", "/signin", "/search", f"/connectors/{cid}", f"/connectors/{cid}/configuration",
             f"/connectors/{cid}/entities", f"/connectors/{cid}/documents",
             f"/connectors/{cid}/history", f"/connectors/{oid}", "/connectors/new"]
    for path in paths:
        resp = await pages.http.get(path)
        for secret in secrets:
            assert secret not in resp.text, (path, "secret in the page")
            assert secret not in str(resp.headers), (path, "secret in the headers")


# --- search ------------------------------------------------------------------------------------


async def test_search_needs_an_identity(pages: Pages, pd_sim: Any, job_waiter: Any) -> None:
    await synced(pages, pd_sim, job_waiter)
    page = await pages.http.get("/search", params={"q": "schedule"})
    assert page.status_code == 200
    assert "We don't know who you are" in page.text or "We don&#39;t know who you are" in page.text
    assert "X-Forwarded-Email" in page.text
    assert 'class="result"' not in page.text
    # A query parameter cannot stand in for the SSO header.
    page = await pages.http.get("/search", params={"q": "schedule", "user": "x@example.com"})
    assert 'class="result"' not in page.text


async def test_search_as_the_header_user(pages: Pages, pd_sim: Any, job_waiter: Any) -> None:
    await synced(pages, pd_sim, job_waiter)
    users = pd_sim.simulator.account.users.values()
    admin = next(u["email"] for u in users if u.get("role") in ("owner", "admin"))
    page = await pages.http.get("/search", params={"q": ""}, headers={"X-Forwarded-Email": admin})
    assert f"Searching as <b>{admin}</b>" in page.text
    total = int(re.search(r"may see: (\d+) document", page.text).group(1))  # type: ignore[union-attr]
    assert total > 10
    assert page.text.count('class="result"') == 10
    assert "Page 1 of" in page.text
    assert 'rel="next"' in page.text
    second = await pages.http.get(
        "/search", params={"q": "", "page": 2}, headers={"X-Forwarded-Email": admin}
    )
    assert "Page 2 of" in second.text
    assert 'rel="prev"' in second.text
    none = await pages.http.get(
        "/search", params={"q": "zzzqqq"}, headers={"X-Forwarded-Email": admin}
    )
    assert "No results for" in none.text
    assert '<p class="notice small" id="search-notice" role="status">Nothing matches ' \
        "“zzzqqq”.</p>" in none.text
    stranger = await pages.http.get(
        "/search", params={"q": ""}, headers={"X-Forwarded-Email": "nobody@example.com"}
    )
    assert "Nothing to show for nobody@example.com" in stranger.text


async def test_signed_in_admin_may_search_as_anyone(
    pages: Pages, pd_sim: Any, job_waiter: Any
) -> None:
    await synced(pages, pd_sim, job_waiter)
    await pages.sign_in()
    page = await pages.http.get("/search")
    assert 'name="user"' in page.text
    assert "Enter the e-mail" in page.text
    users = pd_sim.simulator.account.users.values()
    admin = next(u["email"] for u in users if u.get("role") in ("owner", "admin"))
    page = await pages.http.get("/search", params={"q": "", "user": admin})
    assert f"Searching as <b>{admin}</b>" in page.text
    assert 'class="result"' in page.text
    # Through the SSO proxy, an administrator searches as themselves until they pick another.
    own = await pages.http.get("/search", headers={"X-Forwarded-Email": admin})
    assert f'id="as-user" value="{admin}"' in own.text


async def test_demo_mode_offers_a_picker_of_sample_users(
    service: Callable[..., Any], api_settings: Any, pd_sim: Any, job_waiter: Any
) -> None:
    users = sorted(u["email"] for u in pd_sim.simulator.account.users.values())[:2]
    async with service(api_settings, pd_sim.transport, demo_users=users) as (app, api):
        pages = Pages(app, browser_like(app), api)
        async with pages.http:
            await synced(pages, pd_sim, job_waiter)
            page = await pages.http.get("/search", params={"q": ""})
            assert 'id="demo-user"' in page.text
            for email in users:
                assert f'value="{email}"' in page.text
            assert f"Searching as <b>{users[0]}</b>" in page.text
            page = await pages.http.get("/search", params={"q": "", "user": users[1]})
            assert f"Searching as <b>{users[1]}</b>" in page.text
            assert ">Demo<" in page.text



# --- whose header the search page believes (issue 18) ------------------------------------------


async def an_admin(pages: Pages, pd_sim: Any, job_waiter: Any) -> str:
    await synced(pages, pd_sim, job_waiter)
    users = pd_sim.simulator.account.users.values()
    return str(next(u["email"] for u in users if u.get("role") in ("owner", "admin")))


async def test_without_trusted_proxies_the_header_is_ignored_and_sign_in_required(
    service: Callable[..., Any], api_settings: Any, pd_sim: Any, job_waiter: Any
) -> None:
    assert api_settings.trusted_proxies == ()
    async with service(api_settings, pd_sim.transport) as (app, api), browser_like(app) as c:
        pages = Pages(app, c, api)
        admin = await an_admin(pages, pd_sim, job_waiter)
        resp = await c.get("/search", params={"q": ""}, headers={"X-Forwarded-Email": admin})
        assert resp.status_code == 303
        assert resp.headers["location"].startswith("/signin?next=%2Fsearch")
        # Signed in, an administrator still is not whoever the header says by default.
        await pages.sign_in()
        page = await c.get("/search", params={"q": ""}, headers={"X-Forwarded-Email": admin})
        assert page.status_code == 200
        assert 'class="result"' not in page.text
        assert "Searching as" not in page.text
        assert 'id="as-user" value=""' in page.text
        named = await c.get("/search", params={"q": "", "user": admin})
        assert f"Searching as <b>{admin}</b>" in named.text
        assert 'class="result"' in named.text


async def test_header_from_an_address_not_named_as_proxy_is_ignored(
    service: Callable[..., Any], api_settings: Any, pd_sim: Any, job_waiter: Any
) -> None:
    settings = behind_sso(api_settings, "10.0.0.0/8")  # the proxy is elsewhere
    async with service(settings, pd_sim.transport) as (app, api), browser_like(app) as c:
        admin = await an_admin(Pages(app, c, api), pd_sim, job_waiter)
        page = await c.get("/search", params={"q": ""}, headers={"X-Forwarded-Email": admin})
        assert page.status_code == 200
        assert 'class="result"' not in page.text
        assert admin not in page.text
        assert 'id="header-ignored"' in page.text
        assert "PDSEARCH_TRUSTED_PROXIES" in page.text
        # A forwarded-for header naming the proxy changes nothing: only the peer counts.
        page = await c.get("/search", params={"q": ""}, headers={
            "X-Forwarded-Email": admin, "X-Forwarded-For": "10.0.0.5", "Forwarded": "for=10.0.0.5",
        })
        assert 'class="result"' not in page.text
        # Without the header, nobody is named and nothing is said about a header.
        page = await c.get("/search", params={"q": ""})
        assert "know who you are" in page.text
        assert 'id="header-ignored"' not in page.text


@pytest.mark.parametrize("proxies", [("127.0.0.1",), ("127.0.0.0/8", "10.0.0.5"), ("*",)])
async def test_header_from_a_trusted_proxy_names_the_user(
    service: Callable[..., Any], api_settings: Any, pd_sim: Any, job_waiter: Any,
    proxies: tuple[str, ...],
) -> None:
    settings = behind_sso(api_settings, *proxies)
    async with service(settings, pd_sim.transport) as (app, api), browser_like(app) as c:
        admin = await an_admin(Pages(app, c, api), pd_sim, job_waiter)
        page = await c.get("/search", params={"q": ""}, headers={"X-Forwarded-Email": admin})
        assert f"Searching as <b>{admin}</b>" in page.text
        assert 'class="result"' in page.text


async def test_demo_keeps_its_picker_without_trusted_proxies(
    service: Callable[..., Any], api_settings: Any, pd_sim: Any, job_waiter: Any
) -> None:
    users = sorted(u["email"] for u in pd_sim.simulator.account.users.values())[:2]
    async with service(api_settings, pd_sim.transport, demo_users=users) as (app, api), \
            browser_like(app) as c:
        await synced(Pages(app, c, api), pd_sim, job_waiter)
        page = await c.get("/search", params={"q": "", "user": users[1]},
                           headers={"X-Forwarded-Email": "someone@else.example"})
        assert page.status_code == 200
        assert 'id="demo-user"' in page.text
        assert f"Searching as <b>{users[1]}</b>" in page.text
        assert "someone@else.example" not in page.text
