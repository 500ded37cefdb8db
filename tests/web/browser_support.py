"""What the browser tests share: the service and the simulator on 127.0.0.1 (``make_world``),
chromium's settings, and steps an administrator takes (sign in, a synced connector).
The fixtures (``browser``, ``world``, ``page``) are in tests/web/conftest.py.

Screenshots land in test-artifacts/screenshots/ (gitignored).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Page, expect
from pydantic import SecretStr
from served import ServiceThread

from pdsearch.config import Settings
from pdsearch.simulator.config import SimulatorConfig
from pdsearch.simulator.server import SimulatorServer

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


def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


@dataclass
class World:
    url: str
    app: Any  # the service's FastAPI app
    sim: SimulatorServer
    api: httpx.Client  # the REST API with the bearer token, for checks and set-up


def make_world(tmp_path: Path) -> Iterator[World]:
    config = SimulatorConfig.for_scale(
        "tiny", seed=3, api_key=SIM_KEY, rate_limit=0,
        oauth_client_id=SIM_CLIENT_ID, oauth_client_secret=SIM_CLIENT_SECRET,
    )
    # The browser's requests come from 127.0.0.1: here, the SSO proxy the search page trusts.
    settings = Settings(home=tmp_path / "data", api_token=SecretStr(TOKEN), secret_key=None,
                        public_url=None, trusted_proxies=("127.0.0.1",))
    with SimulatorServer(config) as sim, ServiceThread(settings, demo_users=[]) as svc, \
            httpx.Client(base_url=svc.url + "/api/v1", timeout=30,
                         headers={"Authorization": f"Bearer {TOKEN}"}) as api:
        yield World(svc.url, svc.app, sim, api)


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
        # Without the default schedules: the tests of the schedule card start from none.
        "default_schedules": False,
    })
    assert r.status_code == 201, r.text
    cid: str = r.json()["id"]
    assert world.api.post(f"/connectors/{cid}/connect").status_code == 200
    job = world.api.post(f"/connectors/{cid}/sync").json()["job_id"]
    for _ in range(400):
        record = world.api.get(f"/jobs/{job}").json()
        status = record["status"]
        vectors = (record.get("progress") or {}).get("vectors") or {}
        if status not in ("queued", "running") and vectors.get("state") != "computing":
            assert status == "succeeded"
            return cid  # and its meaning vectors done: a search by meaning finds them
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

