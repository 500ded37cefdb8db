"""The pages in a real headless chromium (Playwright), against the service on 127.0.0.1 and the
simulator on 127.0.0.1: what an administrator and searching users do, end to end.

Screenshots land in test-artifacts/screenshots/ (gitignored).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from browser_support import (
    CHROMIUM,
    SIM_CLIENT_ID,
    SIM_CLIENT_SECRET,
    SIM_KEY,
    World,
    result_titles,
    shot,
    sign_in,
    synced_connector,
    two_users,
)
from playwright.sync_api import Browser, Dialog, Page, expect

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]

if not Path(CHROMIUM).exists():  # pragma: no cover - ./run test installs it
    pytest.skip("Debian's chromium is not installed at /usr/bin/chromium", allow_module_level=True)


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
    assert job["status"] == "succeeded"
    assert job["counts"]["added"] > 0
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
    assert seen["admin"]
    assert seen["member"]
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
    # A full sync (an incremental one with nothing changed ends after one request).
    world.app.state.services.store.sync_state.forget(cid)
    world.sim.simulator.config.latency_ms = 1500  # a slow PagerDuty: the sync takes seconds
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
    services.store.entities.replace_derived(
        cid, [Entity("PEVIL01", evil, "team", frozenset({"eve@example.com"}))]
    )
    services.index.upsert([Document(
        id="schedule:PEVIL01", type="schedule", title=evil, url="javascript:document.title='x'",
        content=f"Night shift {evil}", sys_racl=("PEVIL01",), source=cid,
    )])
    dialogs: list[str] = []

    def on_dialog(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
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
    assert page.locator("main img").count() == 0
    assert page.locator("main script").count() == 0
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
    assert admin_titles
    assert set(member_titles) != set(admin_titles)
    # Anyone else is not on offer: the page falls back to the first sample user.
    page.goto(world.url + "/search?q=policy&user=someone@else.example")
    expect(page.locator("#identity")).to_contain_text(f"Searching as {admin}")
