"""Test helpers for the PagerDuty client: simulator builders sharing one FakeClock with it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx
from clock import FakeClock

from pdsearch.simulator.account import Account
from pdsearch.simulator.app import create_app
from pdsearch.simulator.config import SimulatorConfig
from pdsearch.simulator.server import build_account
from pdsearch.simulator.state import Simulator

API_KEY = "pd-client-test-key-0123456789"
CLIENT_ID = "pd-client-test-app"
CLIENT_SECRET = "pd-client-test-secret-abcdef0123"
BASE = "http://127.0.0.1:9"  # never dialled: the ASGI transport answers in-process


@dataclass
class Sim:
    app: Any
    simulator: Simulator
    clock: FakeClock
    transport: httpx.AsyncBaseTransport
    config: SimulatorConfig
    subdomain: str = "acme"
    urls: list[str] = field(default_factory=list)


class RecordingTransport(httpx.AsyncBaseTransport):
    """Hands requests to the simulator's ASGI app and remembers their URLs and concurrency."""

    def __init__(self, inner: httpx.AsyncBaseTransport, urls: list[str]) -> None:
        self.inner = inner
        self.urls = urls
        self.accept: set[str] = set()
        self.in_flight = 0
        self.max_in_flight = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.urls.append(str(request.url))
        if not request.url.path.startswith("/oauth/"):
            self.accept.add(request.headers.get("accept", ""))
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            return await self.inner.handle_async_request(request)
        finally:
            self.in_flight -= 1


def make_sim(
    *,
    account: Account | None = None,
    abilities: set[str] | None = None,
    slow_seconds: float = 120.0,
    **overrides: Any,
) -> Sim:
    settings: dict[str, Any] = {
        "api_key": API_KEY,
        "oauth_client_id": CLIENT_ID,
        "oauth_client_secret": CLIENT_SECRET,
        "rate_limit": 0,
    }
    settings.update(overrides)
    config = SimulatorConfig.for_scale("small", **settings)
    if account is None:
        account = build_account(config)
    app = create_app(account, config, abilities=abilities, slow_seconds=slow_seconds)
    simulator: Simulator = app.state.simulator
    clock = FakeClock()
    simulator.clock = clock.time
    urls: list[str] = []
    transport = RecordingTransport(httpx.ASGITransport(app=app), urls)
    return Sim(app, simulator, clock, transport, config, config.subdomain, urls)
