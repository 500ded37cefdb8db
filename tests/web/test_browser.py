"""The pages in a real headless chromium (Playwright), against the service on 127.0.0.1 and the
simulator on 127.0.0.1: what an administrator and searching users do, end to end.

Screenshots land in test-artifacts/screenshots/ (gitignored).
"""

from __future__ import annotations

import asyncio
import re
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from pydantic import SecretStr

from pdsearch.config import Settings
from pdsearch.simulator.config import SimulatorConfig
from pdsearch.simulator.server import SimulatorServer
from pdsearch.web.app import create_app

pytest.importorskip("playwright.sync_api")
from playwright.sync_api import Browser, Page, expect, sync_playwright

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
TOKEN = "browser-test-token-0123456789abcdef"
SIM_KEY = "browser-test-pagerduty-key-98765"
SIM_CLIENT_ID = "browser-test-client"
SIM_CLIENT_SECRET = "browser-test-client-secret-value"
SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"

if not Path(CHROMIUM).exists():  # pragma: no cover - ./run test installs it
    pytest.skip("Debian's chromium is not installed at /usr/bin/chromium", allow_module_level=True)


def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


class ServiceThread:
    """The service (create_app, lifespan on) served by uvicorn on 127.0.0.1 in a thread."""

    def __init__(self, settings: Settings, **app_options: Any) -> None:
        self.app = create_app(settings, **app_options)
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        config = uvicorn.Config(self.app, log_level="warning", access_log=False,
                                timeout_graceful_shutdown=2)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=lambda: asyncio.run(self.server.serve(sockets=[self.sock])), daemon=True
        )

    def __enter__(self) -> ServiceThread:
        self.thread.start()
        for _ in range(500):
            if self.server.started:
                return self
            threading.Event().wait(0.01)
        raise RuntimeError("the service did not start")

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()
        assert not self.thread.is_alive()


@dataclass
class World:
    url: str
    app: Any  # the service's FastAPI app
    sim: SimulatorServer
    api: httpx.Client  # the REST API with the bearer token, for checks and set-up


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


def _world(tmp_path: Path) -> Iterator[World]:
    config = SimulatorConfig.for_scale(
        "tiny", seed=3, api_key=SIM_KEY, rate_limit=0,
        oauth_client_id=SIM_CLIENT_ID, oauth_client_secret=SIM_CLIENT_SECRET,
    )
    settings = Settings(home=tmp_path / "data", api_token=SecretStr(TOKEN), secret_key=None,
                        public_url=None)
    with SimulatorServer(config) as sim, ServiceThread(settings, demo_users=[]) as svc, \
            httpx.Client(base_url=svc.url + "/api/v1", timeout=30,
                         headers={"Authorization": f"Bearer {TOKEN}"}) as api:
        yield World(svc.url, svc.app, sim, api)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    yield from _world(tmp_path)


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1366, "height": 860})
    context.set_default_timeout(15_000)
    p = context.new_page()
    errors: list[str] = []
    p.on("pageerror", lambda exc: errors.append(str(exc)))
    # Anything the pages' Content-Security-Policy had to block is a bug in the pages.
    p.on("console", lambda msg: errors.append(msg.text)
         if "Content Security Policy" in msg.text else None)
    yield p
    context.close()
    assert not errors, f"JavaScript errors or CSP violations on the page: {errors}"


def sign_in(page: Page, url: str, path: str = "/") -> None:
    page.goto(url + path)
    expect(page).to_have_url(re.compile(r"/signin"))
    page.fill("#token", TOKEN)
    page.click("button:has-text('Sign in')")
    expect(page).not_to_have_url(re.compile(r"/signin"))


def synced_connector(world: World) -> str:
    """A connector made and synced through the REST API, for tests about later steps."""
    r = world.api.post("/connectors", json={
        "name": "Acme", "auth": {"type": "api_key", "api_key": SIM_KEY},
        "base_url": world.sim.base_url,
    })
    assert r.status_code == 201, r.text
    cid: str = r.json()["id"]
    assert world.api.post(f"/connectors/{cid}/connect").status_code == 200
    job = world.api.post(f"/connectors/{cid}/sync").json()["job_id"]
    for _ in range(400):
        status = world.api.get(f"/jobs/{job}").json()["status"]
        if status not in ("queued", "running"):
            assert status == "succeeded"
            return cid
        threading.Event().wait(0.05)
    raise AssertionError("the sync did not finish")


def two_users(world: World, cid: str) -> tuple[str, str]:
    """An admin (sees everything) and a team member who is not an admin."""
    entities = world.api.get(f"/connectors/{cid}/permission-entities").json()["data"]
    admins = set(next(e for e in entities if e["type"] == "account")["userIds"])
    admin = sorted(admins)[0]
    member = next(
        u for e in entities if e["type"] == "team" for u in sorted(e["userIds"]) if u not in admins
    )
    return admin, member


def result_titles(page: Page) -> list[str]:
    return page.locator("#results .result-title").all_inner_texts()


# --- the tests -------------------------------------------------------------------------------


def test_admin_creates_connects_syncs_and_users_search(
    world: World, page: Page, browser: Browser
) -> None:
    sign_in(page, world.url)
    expect(page.get_by_text("No connectors yet — add one")).to_be_visible()
    shot(page, "01-connectors-empty")

    page.click("text=Add connector")
    page.fill("#f-name", "Acme PagerDuty")
    page.fill("#f-api-key", SIM_KEY)
    page.click("summary:has-text('Advanced')")
    page.fill("#f-base-url", world.sim.base_url)
    shot(page, "02-add-connector")
    page.click("button:has-text('Create connector')")
    expect(page).to_have_url(re.compile(r"/connectors/[0-9a-f]+$"))
    expect(page.locator("#connect-result")).to_contain_text("Connector created.")
    assert SIM_KEY not in page.content()

    page.click("#connect-btn")
    expect(page.locator("#connect-result")).to_have_text("Connected to acme")
    expect(page.locator("#conn-status")).to_contain_text("Connected")
    shot(page, "03-connected")

    page.click("nav.tabs >> text=Configuration")
    expect(page.get_by_text("No syncs yet")).to_be_visible()
    page.click("#sync-btn")
    expect(page.locator("#sync-result")).to_contain_text("Sync finished", timeout=30_000)
    expect(page.locator("#last-sync")).to_contain_text("Succeeded")
    row = page.locator("#history-table tbody tr").first
    expect(row).to_contain_text("Succeeded")
    expect(row).to_contain_text("Manual")
    cid = page.url.split("/connectors/")[1].split("/")[0]
    job = world.api.get(f"/connectors/{cid}/jobs").json()["data"][0]
    assert job["status"] == "succeeded" and job["counts"]["added"] > 0
    expect(row).to_contain_text(f"{job['counts']['added']} added")
    expect(row).to_contain_text("0 failed")
    shot(page, "04-synced-history")

    page.goto(world.url + "/")
    expect(page.locator("#connector-table")).to_contain_text("Acme PagerDuty")
    expect(page.locator("#connector-table")).to_contain_text("Succeeded")
    shot(page, "05-connectors-list")

    # Two people search through the SSO proxy's header and see different things.
    admin, member = two_users(world, cid)
    seen: dict[str, list[str]] = {}
    for who, email in (("admin", admin), ("member", member)):
        ctx = browser.new_context(extra_http_headers={"X-Forwarded-Email": email},
                                  viewport={"width": 1366, "height": 860})
        p = ctx.new_page()
        p.goto(world.url + "/search")
        expect(p.locator("#identity")).to_contain_text(f"Searching as {email}")
        p.fill("input[name=q]", "primary")
        p.press("input[name=q]", "Enter")
        expect(p.locator("#result-count")).to_be_visible()
        seen[who] = result_titles(p)
        assert p.locator("#results mark").count() > 0  # highlighted, as HTML
        shot(p, f"06-search-as-{who}")
        ctx.close()
    assert seen["admin"] and seen["member"]
    assert set(seen["member"]) < set(seen["admin"]) or set(seen["member"]) != set(seen["admin"])
    assert len(seen["admin"]) >= len(seen["member"])


def test_permission_entity_members_added_and_removed_in_the_page(
    world: World, page: Page
) -> None:
    cid = synced_connector(world)
    sign_in(page, world.url, f"/connectors/{cid}/entities")
    table = page.locator("#entity-table")
    expect(table).to_contain_text("Account")
    shot(page, "07-entities")
    team = world.api.get(f"/connectors/{cid}/permission-entities").json()["data"][1]
    page.click(f"#entity-table a:has-text('{team['name']}')")
    expect(page.locator("#members-card h2")).to_contain_text(team["name"])

    page.fill("#f-emails", "Billing@Example.com, audit@example.com")
    page.click("#add-members-form button[type=submit]")
    expect(page.locator("#members-result")).to_have_text("Added 2 people.")
    added = page.locator("#members li[data-email='billing@example.com']")
    expect(added).to_contain_text("added by hand")
    entity = world.api.get(f"/connectors/{cid}/permission-entities/{team['entityId']}").json()
    assert set(entity["manualUserIds"]) == {"billing@example.com", "audit@example.com"}
    shot(page, "08-entity-added")

    # The added person now finds the team's documents.
    found = world.api.post("/search", json={"query": "", "user": "billing@example.com"}).json()
    assert found["total"] > 0

    added.locator("button:has-text('Remove')").click()
    expect(page.locator("#members-result")).to_have_text("Removed billing@example.com.")
    expect(page.locator("#members li[data-email='billing@example.com']")).to_have_count(0)
    entity = world.api.get(f"/connectors/{cid}/permission-entities/{team['entityId']}").json()
    assert entity["manualUserIds"] == ["audit@example.com"]

    page.fill("#f-emails", "not-an-email")
    page.click("#add-members-form button[type=submit]")
    expect(page.locator("#members-error")).to_contain_text("Not an e-mail address: not-an-email")
    page.reload()
    expect(page.locator("#members li[data-email='audit@example.com']")).to_contain_text(
        "added by hand"
    )


def test_schedule_set_shown_and_refused_in_words(world: World, page: Page) -> None:
    cid = synced_connector(world)
    sign_in(page, world.url, f"/connectors/{cid}/configuration")
    expect(page.locator("#schedule-text")).to_contain_text("No schedule")
    page.check("input[name=kind][value=interval]")
    page.fill("input[name=interval_minutes]", "30")
    page.click("#schedule-form button[type=submit]")
    expect(page.locator("#schedule-result")).to_have_text("Schedule saved.")
    expect(page.locator("#schedule-text")).to_have_text("Every 30 minutes")
    expect(page.locator("#schedule-next time")).to_be_visible()
    assert world.api.get(f"/connectors/{cid}/schedule").json()["interval_minutes"] == 30
    shot(page, "09-schedule")

    page.check("input[name=kind][value=cron]")
    page.fill("input[name=cron]", "every tuesday")
    page.click("#schedule-form button[type=submit]")
    expect(page.locator("#schedule-error")).to_contain_text("Invalid schedule")
    assert world.api.get(f"/connectors/{cid}/schedule").json()["interval_minutes"] == 30

    page.check("input[name=kind][value=none]")
    page.click("#schedule-form button[type=submit]")
    expect(page.locator("#schedule-result")).to_have_text("Schedule removed.")
    assert world.api.get(f"/connectors/{cid}/schedule").status_code == 404
    page.reload()
    expect(page.locator("input[name=kind][value=none]")).to_be_checked()


def test_running_sync_shows_live_progress_and_cancels(world: World, page: Page) -> None:
    cid = synced_connector(world)
    world.sim.simulator.config.latency_ms = 400  # a slow PagerDuty: the sync takes seconds
    sign_in(page, world.url, f"/connectors/{cid}/configuration")
    page.click("#sync-btn")
    panel = page.locator("#progress")
    expect(panel).to_be_visible()
    expect(page.locator("#sync-btn")).to_be_disabled()
    expect(page.locator("#progress-phase")).not_to_have_text("")
    expect(page.locator("#history-table tbody tr").first).to_contain_text("Running")
    shot(page, "14-sync-running")
    page.click("#cancel-btn")
    expect(page.locator("#sync-result")).to_contain_text("Sync canceled", timeout=30_000)
    expect(panel).to_be_hidden()
    expect(page.locator("#history-table tbody tr").first).to_contain_text("Canceled")
    expect(page.locator("#sync-btn")).to_be_enabled()
    jobs = world.api.get(f"/connectors/{cid}/jobs").json()["data"]
    assert [j["status"] for j in jobs] == ["canceled", "succeeded"]


def test_a_scheduled_sync_appears_without_reloading(world: World, page: Page) -> None:
    cid = synced_connector(world)
    sign_in(page, world.url, f"/connectors/{cid}/configuration")
    expect(page.locator("#history-table tbody tr")).to_have_count(1)
    soon = datetime.now(UTC) + timedelta(seconds=2)
    put = world.api.put(f"/connectors/{cid}/schedule", json={"run_at": soon.isoformat()})
    assert put.status_code == 200, put.text
    row = page.locator("#history-table tbody tr").first
    expect(row).to_contain_text("Scheduled", timeout=20_000)
    expect(row).to_contain_text("Succeeded", timeout=20_000)
    expect(page.locator("#history-total")).to_have_text("2 runs")


def test_wrong_api_key_is_explained_next_to_connect(world: World, page: Page) -> None:
    r = world.api.post("/connectors", json={
        "name": "Typo", "auth": {"type": "api_key", "api_key": "not-the-key-at-all"},
        "base_url": world.sim.base_url,
    })
    cid = r.json()["id"]
    sign_in(page, world.url, f"/connectors/{cid}")
    page.click("#connect-btn")
    result = page.locator("#connect-result")
    expect(result).to_contain_text("rejected")
    expect(result).to_have_class(re.compile("error"))
    assert "not-the-key-at-all" not in page.content()
    shot(page, "10-connect-error")


def test_oauth_sign_in_with_pagerduty_through_the_page(world: World, page: Page) -> None:
    synced_connector(world)  # named "Acme"
    sign_in(page, world.url, "/connectors/new")
    page.check("input[name=auth_type][value=oauth2]")
    expect(page.locator("#f-api-key")).to_be_hidden()
    page.click("button:has-text('Create connector')")  # nothing filled in: told what is missing
    expect(page.locator("[data-error-for=name]")).to_have_text("Give the connector a name.")
    expect(page.locator("[data-error-for=client_id]")).to_contain_text("client ID")
    expect(page.locator("[data-error-for=client_secret]")).to_contain_text("client secret")
    page.fill("#f-name", "acme")
    page.fill("#f-client-id", SIM_CLIENT_ID)
    page.fill("#f-client-secret", SIM_CLIENT_SECRET)
    page.click("button:has-text('Create connector')")  # the name is taken (case-insensitive)
    expect(page.locator("[data-error-for=name]")).to_contain_text("already exists")
    expect(page.locator("#f-client-secret")).to_have_value("")  # secrets never linger
    page.fill("#f-name", "Acme OAuth")
    page.fill("#f-client-id", SIM_CLIENT_ID)
    page.fill("#f-client-secret", SIM_CLIENT_SECRET)
    page.click("summary:has-text('Advanced')")
    page.fill("#f-base-url", world.sim.base_url)
    page.fill("#f-oauth-base-url", world.sim.oauth_base_url)
    page.click("button:has-text('Create connector')")
    expect(page.locator("#redirect-uri")).to_have_value(world.url + "/oauth/callback")
    expect(page.locator("#conn-status")).to_contain_text("Needs sign-in")
    shot(page, "11-oauth-connector")

    # The simulator's consent page approves at once and sends the browser back.
    page.click("#oauth-btn")
    expect(page.locator(".alert-ok")).to_contain_text("connected to acme")
    expect(page).to_have_url(re.compile(r"/connectors/[0-9a-f]+$"))  # the note is not kept
    expect(page.locator("#conn-status")).to_contain_text("Connected")
    assert SIM_CLIENT_SECRET not in page.content()
    shot(page, "12-oauth-connected")


def test_hostile_content_is_shown_as_text_and_never_runs(world: World, page: Page) -> None:
    from pdsearch.index.base import Document
    from pdsearch.permissions import Entity

    evil = "<img src=x onerror=\"document.title='pwned'\"><script>document.title='pwned'</script>"
    cid = world.api.post("/connectors", json={
        "name": evil, "auth": {"type": "api_key", "api_key": SIM_KEY},
        "base_url": world.sim.base_url,
    }).json()["id"]
    services = world.app.state.services
    services.store.replace_derived_entities(
        cid, [Entity("PEVIL01", evil, "team", frozenset({"eve@example.com"}))]
    )
    services.index.upsert([Document(
        id="schedule:PEVIL01", type="schedule", title=evil, url="javascript:document.title='x'",
        content=f"Night shift {evil}", sys_racl=("PEVIL01",), source=cid,
    )])
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    sign_in(page, world.url)
    expect(page.locator("#connector-table")).to_contain_text("<script>")
    for path in (f"/connectors/{cid}", f"/connectors/{cid}/entities",
                 f"/connectors/{cid}/entities/PEVIL01", f"/connectors/{cid}/documents",
                 "/search?q=night&user=eve@example.com"):
        page.goto(world.url + path)
        expect(page.locator("main")).to_contain_text("onerror")  # shown, as text
        assert page.title() != "pwned", path
    assert page.locator("#results mark").count() >= 1
    assert page.locator("#results a.result-title").count() == 0  # no javascript: link
    assert page.locator("main img").count() == 0 and page.locator("main script").count() == 0
    assert not dialogs


def test_demo_picker_searches_as_sample_users(world: World, page: Page) -> None:
    cid = synced_connector(world)
    admin, member = two_users(world, cid)
    # What pdsearch demo hands create_app once its first sync picked the sample users.
    world.app.state.services.demo_users[:] = [admin, member]
    page.goto(world.url + "/search?q=policy")
    picker = page.locator("#demo-user")
    expect(picker).to_have_value(admin)
    expect(picker.locator("option")).to_have_count(2)
    expect(picker.locator("option").first).to_contain_text("admin")
    admin_titles = result_titles(page)
    shot(page, "13-demo-picker")
    picker.select_option(member)
    expect(page.locator("#identity")).to_contain_text(f"Searching as {member}")
    expect(page).to_have_url(re.compile(r"q=policy"))
    member_titles = result_titles(page)
    assert admin_titles and set(member_titles) != set(admin_titles)
    # Anyone else is not on offer: the page falls back to the first sample user.
    page.goto(world.url + "/search?q=policy&user=someone@else.example")
    expect(page.locator("#identity")).to_contain_text(f"Searching as {admin}")
