"""Fixtures of the browser tests (tests/web/test_browser*.py): one headless chromium per module,
a fresh service and simulator per test (``world``), and a page that fails its test on any
JavaScript error or Content-Security-Policy violation. Helpers: ``browser_support``.

``synced``: the REST API's client on a service with one connector ("Acme", an API key to the
in-process simulator) synced, its meaning vectors done, and the connector's id."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from browser_support import CHROMIUM, CHROMIUM_ARGS, World, make_world
from playwright.sync_api import Browser, Page, sync_playwright

from pdsearch.config import Settings


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():  # pragma: no cover - ./run test installs it
        pytest.skip("Debian's chromium is not installed at /usr/bin/chromium")
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    yield from make_world(tmp_path)


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


@pytest.fixture
async def synced(
    service: Callable[..., Any], api_settings: Settings, pd_sim: Any,
    job_waiter: Callable[[httpx.AsyncClient, str], Awaitable[dict[str, Any]]],
) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    async with service(api_settings, pd_sim.transport) as (_, client):
        resp = await client.post(
            "/api/v1/connectors",
            json={
                "name": "Acme",
                "auth": {"type": "api_key", "api_key": pd_sim.api_key},
                "base_url": pd_sim.base_url,
            },
        )
        cid = resp.json()["id"]
        job_id = (await client.post(f"/api/v1/connectors/{cid}/sync")).json()["job_id"]
        assert (await job_waiter(client, job_id))["status"] == "succeeded"
        yield client, cid
