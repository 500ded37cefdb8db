"""What a new user tripped over in the pages (issue 11), each in a real headless chromium: the
OAuth next step, connection errors, the schedule's times and plurals, the API reference
offline, readable form and sign-in errors, the region of a custom base URL, long errors."""

from __future__ import annotations

import re
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from browser_support import (
    CHROMIUM,
    SIM_CLIENT_ID,
    SIM_CLIENT_SECRET,
    SIM_KEY,
    TOKEN,
    World,
    shot,
    sign_in,
    synced_connector,
)
from playwright.sync_api import Browser, Page, Route, expect

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]

if not Path(CHROMIUM).exists():  # pragma: no cover - ./run test installs it
    pytest.skip("Debian's chromium is not installed at /usr/bin/chromium", allow_module_level=True)


def closed_port() -> int:
    """A loopback port where nothing listens."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_oauth_connector_has_one_next_step_sign_in(world: World, page: Page) -> None:
    sign_in(page, world.url, "/connectors/new")
    page.fill("#f-name", "Acme OAuth")
    page.check("input[name=auth_type][value=oauth2]")
    page.fill("#f-client-id", SIM_CLIENT_ID)
    page.fill("#f-client-secret", SIM_CLIENT_SECRET)
    page.click("summary:has-text('Advanced')")
    page.fill("#f-base-url", world.sim.base_url)
    page.fill("#f-oauth-base-url", world.sim.oauth_base_url)
    page.click("button:has-text('Create connector')")
    expect(page.locator("#oauth-result")).to_contain_text(
        "Next: press Sign in with PagerDuty"
    )
    # Nothing else asks to be pressed: no Connect that could only say "not signed in".
    expect(page.locator("#connect-btn")).to_have_count(0)
    expect(page.locator("#signin-first")).to_contain_text("Sign in with PagerDuty")
    assert "Press Connect" not in page.inner_text("main")
    assert "Authorization tab" not in page.inner_text("main")
    shot(page, "20-oauth-next-step")
    page.click("#oauth-btn")
    expect(page.locator("#conn-status")).to_contain_text("Connected")
    # Signed in, Connect checks the stored token.
    page.click("#connect-btn")
    expect(page.locator("#connect-result")).to_have_text("Connected to acme")


def test_a_wrong_api_key_is_never_said_to_be_renewed(world: World, page: Page) -> None:
    cid = world.api.post("/connectors", json={
        "name": "Typo", "auth": {"type": "api_key", "api_key": "not-the-key"},
        "base_url": world.sim.base_url,
    }).json()["id"]
    sign_in(page, world.url, f"/connectors/{cid}")
    page.click("#connect-btn")
    result = page.locator("#connect-result")
    expect(result).to_contain_text("rejected the API key (401")
    assert "renew" not in result.inner_text()
    stored = world.api.get(f"/connectors/{cid}").json()
    assert "rejected the API key" in stored["last_error"]
    assert "renew" not in stored["last_error"]


def test_connect_where_nothing_listens_fails_fast_naming_the_host(
    world: World, page: Page
) -> None:
    port = closed_port()
    cid = world.api.post("/connectors", json={
        "name": "Nowhere", "auth": {"type": "api_key", "api_key": SIM_KEY},
        "base_url": f"http://127.0.0.1:{port}",
    }).json()["id"]
    sign_in(page, world.url, f"/connectors/{cid}")
    expect(page.locator("#conn-status")).to_have_text("Not connected")
    page.click("#connect-btn")
    result = page.locator("#connect-result")
    # Refused at once: a quick retry at most, not a 5xx's backoff.
    expect(result).to_contain_text(f"127.0.0.1:{port}", timeout=3_000)
    expect(result).to_contain_text("refused")
    expect(result).to_have_class(re.compile("error"))
    # The status shown is the one stored, without a reload.
    stored = world.api.get(f"/connectors/{cid}").json()
    assert stored["status"] == "error"
    expect(page.locator("#conn-status .status")).to_have_text("Error")
    expect(page.locator("#connector-summary .status")).to_have_text("Error")
    page.reload()
    expect(page.locator("#conn-status .status")).to_have_text("Error")
    expect(page.locator("#conn-last-error")).to_contain_text(f"127.0.0.1:{port}")
    shot(page, "21-refused")
    # Connecting again: the old red error goes as the new attempt starts.
    world.api.patch(f"/connectors/{cid}", json={
        "base_url": world.sim.base_url, "auth": {"type": "api_key", "api_key": "bad-key"},
    })
    assert world.api.post(f"/connectors/{cid}/connect").status_code == 400
    world.sim.simulator.config.latency_ms = 1500  # the next check takes a while
    page.reload()
    expect(page.locator("#conn-last-error")).to_contain_text("rejected")
    page.click("#connect-btn")
    expect(page.locator("#connect-btn")).to_have_text("Connecting…")
    expect(page.locator("#conn-last-error")).to_have_count(0)
    expect(page.locator("#connect-result")).to_contain_text("Checking")
    expect(page.locator("#connect-result")).to_contain_text("rejected", timeout=10_000)


def test_schedule_times_share_one_labelled_zone_and_plurals_are_right(
    world: World, browser: Browser
) -> None:
    cid = synced_connector(world)
    run_at = (datetime.now(UTC) + timedelta(hours=25)).replace(second=0, microsecond=0)
    put = world.api.put(f"/connectors/{cid}/schedule", json={"run_at": run_at.isoformat()})
    assert put.status_code == 200, put.text
    context = browser.new_context(timezone_id="America/New_York", locale="en-US",
                                  viewport={"width": 1366, "height": 860})
    try:
        page = context.new_page()
        sign_in(page, world.url, f"/connectors/{cid}/configuration")
        once = page.locator("#schedule-text")
        nxt = page.locator("#schedule-next")
        expect(once).to_contain_text("Once, at")
        expect(once.locator("time")).to_have_count(1)
        zone = re.compile(r"\b(EST|EDT)\b")
        expect(once).to_contain_text(zone)
        expect(nxt).to_contain_text(zone)
        assert not re.search(r"\d{4}-\d\d-\d\dT", once.inner_text())  # no raw ISO time
        # One moment, said once in one zone: both read the same.
        assert once.locator("time").inner_text() == nxt.locator("time").inner_text()
        expect(nxt).to_contain_text("(in 1 day)")
        expect(page.locator("#doc-count")).to_have_text(re.compile(r"^\d+ documents$"))
        shot(page, "22-schedule-once")
        # Saved through the form, the words come back the same way.
        page.check("input[name=kind][value=interval]")
        page.fill("input[name=interval_minutes]", "1440")
        page.click("#schedule-form button[type=submit]")
        expect(once).to_have_text("Every day")
        page.fill("input[name=interval_minutes]", "2880")
        page.click("#schedule-form button[type=submit]")
        expect(once).to_have_text("Every 2 days")
        page.check("input[name=kind][value=once]")
        page.click("#schedule-form button[type=submit]")
        expect(once).to_contain_text(zone)
        expect(once.locator("time")).to_have_count(1)
        assert "1 days" not in page.inner_text("main")
    finally:
        context.close()


def test_api_docs_render_with_no_request_leaving_the_service(
    world: World, page: Page
) -> None:
    outside: list[str] = []

    def offline(route: Route) -> None:
        if route.request.url.startswith(world.url):
            route.continue_()
        else:  # as with no internet: nothing else answers
            outside.append(route.request.url)
            route.abort()

    page.route("**/*", offline)
    sign_in(page, world.url)
    page.click("nav.mainnav >> text=API docs")
    # Swagger UI's bundle is large: on a loaded 2-core machine it may take a while to render.
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("pdsearch", timeout=30_000)
    expect(page.locator(".swagger-ui .opblock-summary-path").first).to_be_visible()
    expect(page.get_by_text("/api/v1/connectors/{connector_id}/connect").first).to_be_visible()
    shot(page, "23-api-docs-offline")
    assert outside == []


def test_sign_in_error_is_plain_text(world: World, page: Page) -> None:
    page.goto(world.url + "/signin")
    page.fill("#token", "not-the-token")
    page.click("button:has-text('Sign in')")
    error = page.locator(".signin .field-error")
    expect(error).to_contain_text("not the service's API token")
    assert "`" not in error.inner_text()


def test_form_errors_name_the_field_as_the_form_does(world: World, page: Page) -> None:
    sign_in(page, world.url, "/connectors/new")
    page.fill("#f-name", "Remote")
    page.fill("#f-api-key", SIM_KEY)
    page.click("summary:has-text('Advanced')")
    page.fill("#f-base-url", "http://pagerduty.example.com")
    page.click("button:has-text('Create connector')")
    error = page.locator("[data-error-for=base_url]")
    expect(error).to_contain_text("Base URL: must use https://")
    text = page.inner_text("main")
    assert "Invalid request" not in text
    assert "'base_url'" not in text
    assert world.api.get("/connectors").json()["total"] == 0


def test_a_custom_base_url_shows_as_custom_not_a_region(world: World, page: Page) -> None:
    cid = synced_connector(world)
    plain = world.api.post("/connectors", json={
        "name": "Plain US", "auth": {"type": "api_key", "api_key": "k"},
    }).json()["id"]
    host = world.sim.base_url.split("//", 1)[1]
    sign_in(page, world.url, f"/connectors/{cid}")
    expect(page.locator("#summary-region")).to_have_text(f"Custom ({host})")
    page.goto(world.url + "/")
    row = page.locator("#connector-table tr", has_text="Acme")
    expect(row).to_contain_text(f"Custom ({host})")
    expect(page.locator("#connector-table tr", has_text="Plain US")).to_contain_text("US")
    page.goto(world.url + f"/connectors/{plain}")
    expect(page.locator("#summary-region")).to_have_text("US")


def test_a_long_error_keeps_its_history_row_short(world: World, page: Page) -> None:
    cid = synced_connector(world)
    long_error = "PagerDuty answered 502 to GET /schedules (bad gateway). " * 60
    store = world.app.state.services.store
    job = store.jobs.create(cid, "manual", status="running")
    store.jobs.update(job.id, status="failed", error=long_error.strip())
    sign_in(page, world.url, f"/connectors/{cid}/configuration")
    row = page.locator(f"#history-table tr[data-job='{job.id}']")
    short = page.locator("#history-table tbody tr").nth(1)  # the earlier, error-free run
    expect(row).to_be_visible()
    row_height = row.bounding_box()["height"]  # type: ignore[index]
    assert row_height < 3 * short.bounding_box()["height"]  # type: ignore[index]
    error = row.locator(".error-text")
    assert error.get_attribute("title") == long_error.strip()  # the whole text on hover
    error.click()
    expect(error).to_have_attribute("aria-expanded", "true")
    assert row.bounding_box()["height"] > 3 * row_height  # type: ignore[index]
    shot(page, "24-long-error-expanded")
    assert TOKEN not in page.content()
