"""The search page answers "who is on call" (chromium, the service and the simulator on
127.0.0.1): an answer card for a question, level by level with names, e-mails and until when in
the viewer's PagerDuty time zone; an outsider gets nothing."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from browser_support import World, shot, synced_connector, two_users
from playwright.sync_api import Browser, expect


def _as(browser: Browser, email: str) -> Any:
    return browser.new_context(
        extra_http_headers={"X-Forwarded-Email": email}, viewport={"width": 1366, "height": 860}
    )


def _time_zone(world: World, email: str) -> str:
    users = world.sim.account.users.values()
    return str(next(u["time_zone"] for u in users if u["email"].lower() == email.lower()))


def test_the_answer_card_for_a_team_member_and_nothing_for_an_outsider(
    world: World, browser: Browser
) -> None:
    cid = synced_connector(world)
    _admin, member = two_users(world, cid)
    visible = world.api.get("/oncall", params={"user": member, "limit": 100}).json()["data"]
    policy = next(d for d in visible if d["type"] == "escalation_policy" and d["oncall"]["now"])
    question = f"Who is on call for {policy['title']}?"
    asked = world.api.get("/oncall", params={"user": member, "query": question}).json()
    top = next(d for d in asked["data"] if d["oncall"] is not None)

    ctx = _as(browser, member)
    errors: list[str] = []
    page = ctx.new_page()
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(world.url + "/search?q=" + quote(question))
    card = page.locator("#oncall-card")
    expect(card).to_be_visible()
    expect(card).to_contain_text(top["title"])
    for e in top["oncall"]["now"]:
        expect(card).to_contain_text(e["user"]["name"])
        if e["user"]["email"]:
            expect(card.locator(f"a[href='mailto:{e['user']['email']}']").first).to_be_visible()
    if top["type"] == "escalation_policy":
        expect(card).to_contain_text("Level 1")
    if any(e["end"] for e in top["oncall"]["now"]):
        expect(card).to_contain_text("until ")
    zone = _time_zone(world, member)
    expect(page.locator("#oncall-zone")).to_contain_text(f"Times in {zone}")
    expect(page.locator("#results .oncall-line").first).to_contain_text(zone)
    shot(page, "oncall-card-member")
    ctx.close()
    assert not errors, errors

    names = {e["user"]["name"] for d in visible if d["oncall"] for e in d["oncall"]["now"]}
    outsider = _as(browser, "stranger@elsewhere.example")
    page = outsider.new_page()
    page.goto(world.url + "/search?q=" + quote(question))
    expect(page.locator("#no-results")).to_be_visible()
    assert page.locator("#oncall-card").count() == 0
    text = page.locator("main").inner_text() if page.locator("main").count() else page.content()
    assert not any(name in text for name in names)
    shot(page, "oncall-card-outsider")
    outsider.close()
