"""In a real chromium: a request carrying X-Forwarded-Email from an address that is not a
trusted proxy does not search as that user (issue 18); the page asks for a sign-in instead.

(tests/web/test_browser.py covers the other side: behind a trusted proxy, the header names the
user.)
"""

from __future__ import annotations

import asyncio
import re
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from pydantic import SecretStr

from pdsearch.config import Settings
from pdsearch.simulator.config import SimulatorConfig
from pdsearch.simulator.server import SimulatorServer
from pdsearch.web.app import create_app

pytest.importorskip("playwright.sync_api")
from playwright.sync_api import Browser, expect, sync_playwright

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--disable-quic"]
TOKEN = "browser-trust-token-0123456789abcdef"
SIM_KEY = "browser-trust-pagerduty-key-4242"

if not Path(CHROMIUM).exists():  # pragma: no cover - ./run test installs it
    pytest.skip("Debian's chromium is not installed at /usr/bin/chromium", allow_module_level=True)


class Served:
    """The service on 127.0.0.1 (uvicorn in a thread), as `pdsearch serve` runs it."""

    def __init__(self, settings: Settings) -> None:
        self.app = create_app(settings)
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.server = uvicorn.Server(uvicorn.Config(
            self.app, log_level="warning", access_log=False, proxy_headers=False,
            timeout_graceful_shutdown=2,
        ))
        self.thread = threading.Thread(
            target=lambda: asyncio.run(self.server.serve(sockets=[self.sock])), daemon=True
        )

    def __enter__(self) -> Served:
        self.thread.start()
        for _ in range(1000):
            if self.server.started:
                return self
            threading.Event().wait(0.01)
        self.__exit__()
        raise RuntimeError("the service did not start")

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()


@pytest.fixture
def browser() -> Iterator[Browser]:
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


def test_header_from_an_untrusted_address_gets_sign_in_not_results(
    tmp_path: Path, browser: Browser
) -> None:
    config = SimulatorConfig.for_scale("tiny", seed=3, api_key=SIM_KEY, rate_limit=0)
    # No PDSEARCH_TRUSTED_PROXIES: nobody may name the user in a header.
    settings = Settings(home=tmp_path / "data", api_token=SecretStr(TOKEN), secret_key=None,
                        public_url=None)
    with SimulatorServer(config) as sim, Served(settings) as svc, httpx.Client(
        base_url=svc.url + "/api/v1", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30
    ) as api:
        cid = api.post("/connectors", json={
            "name": "Acme", "auth": {"type": "api_key", "api_key": SIM_KEY},
            "base_url": sim.base_url,
        }).json()["id"]
        job = api.post(f"/connectors/{cid}/sync").json()["job_id"]
        for _ in range(400):
            if api.get(f"/jobs/{job}").json()["status"] == "succeeded":
                break
            threading.Event().wait(0.05)
        entities = api.get(f"/connectors/{cid}/permission-entities").json()["data"]
        admin = sorted(next(e for e in entities if e["type"] == "account")["userIds"])[0]

        context = browser.new_context(extra_http_headers={"X-Forwarded-Email": admin})
        try:
            page = context.new_page()
            page.goto(svc.url + "/search?q=primary")
            # Sent to sign in, not shown the admin's results.
            expect(page).to_have_url(re.compile(r"/signin\?next="))
            assert page.locator("#results").count() == 0
            page.fill("#token", TOKEN)
            page.click("button:has-text('Sign in')")
            expect(page).to_have_url(re.compile(r"/search\?q=primary"))
            # Signed in as an administrator, still not searching as the header's user.
            expect(page.locator("#as-user")).to_have_value("")
            assert page.locator("#results").count() == 0
            page.fill("#as-user", admin)
            page.press("input[name=q]", "Enter")
            expect(page.locator("#identity")).to_contain_text(f"Searching as {admin}")
            expect(page.locator("#results .result").first).to_be_visible()
        finally:
            context.close()


def test_authorization_tab_says_what_a_key_may_hold_and_refuses_one_that_cannot_be_sent(
    tmp_path: Path, browser: Browser
) -> None:
    config = SimulatorConfig.for_scale("tiny", seed=3, api_key=SIM_KEY, rate_limit=0)
    settings = Settings(home=tmp_path / "data", api_token=SecretStr(TOKEN), secret_key=None,
                        public_url=None)
    with SimulatorServer(config) as sim, Served(settings) as svc, httpx.Client(
        base_url=svc.url + "/api/v1", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30
    ) as api:
        cid = api.post("/connectors", json={
            "name": "Acme", "auth": {"type": "api_key", "api_key": SIM_KEY},
            "base_url": sim.base_url,
        }).json()["id"]
        context = browser.new_context()
        try:
            page = context.new_page()
            page.goto(f"{svc.url}/connectors/{cid}")
            page.fill("#token", TOKEN)
            page.click("button:has-text('Sign in')")
            expect(page).to_have_url(re.compile(rf"/connectors/{cid}$"))
            expect(page.locator("#api-key-hint")).to_contain_text("Printable ASCII without spaces")
            page.fill("#f-api-key", "kéy with spaces")
            page.click("button:has-text('Save')")
            error = page.locator('[data-error-for="api_key"]')
            expect(error).to_be_visible()
            expect(error).to_contain_text("printable ASCII")
            assert "kéy with spaces" not in page.content()
            # Nothing was saved: the stored key still connects.
            assert api.post(f"/connectors/{cid}/connect").status_code == 200
        finally:
            context.close()
