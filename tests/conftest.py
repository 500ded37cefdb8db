"""Shared fixtures. Each area adds its own below its heading; keep them small."""

from __future__ import annotations

# --- simulator fixtures (sim, sim_server) ---
# ``sim`` is a fresh ``Simulator`` on a small seeded account (in-process: route clients with
# ``httpx.ASGITransport(app=sim.app)``, key ``sim.api_key``); ``sim_server`` is the same served
# on 127.0.0.1 (a ``SimulatorServer``: ``.base_url``, ``.api_key``, ``.simulator``).
from collections.abc import Iterator as _SimIterator
from typing import Any as _SimAny

import pytest as _sim_pytest

SIM_API_KEY = "sim-test-api-key"
SIM_CLIENT_ID = "sim-test-client"
SIM_CLIENT_SECRET = "sim-test-client-secret"


def make_sim_config(**overrides: _SimAny) -> _SimAny:
    from pdsearch.simulator.config import SimulatorConfig

    base: dict[str, _SimAny] = {
        "api_key": SIM_API_KEY,
        "oauth_client_id": SIM_CLIENT_ID,
        "oauth_client_secret": SIM_CLIENT_SECRET,
    }
    base.update(overrides)
    return SimulatorConfig.for_scale("small", **base)


@_sim_pytest.fixture
def sim() -> _SimAny:
    from pdsearch.simulator.app import create_app
    from pdsearch.simulator.server import build_account

    config = make_sim_config()
    return create_app(build_account(config), config).state.simulator


@_sim_pytest.fixture
async def sim_http(sim: _SimAny) -> _SimAny:
    """An httpx client on ``sim`` (in-process) that sends its API key."""
    import httpx

    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=sim.app),
        base_url="http://sim.test",
        headers={"Authorization": f"Token token={sim.api_key}"},
    ) as client:
        yield client


@_sim_pytest.fixture
def sim_server() -> _SimIterator[_SimAny]:
    from pdsearch.simulator.server import SimulatorServer

    with SimulatorServer(make_sim_config()) as server:
        yield server



# --- service fixtures (api_settings, pd_sim, service) ---
# ``service(settings, transport)`` runs create_app's lifespan and yields (app, client): an
# httpx client on the app (ASGI, in-process) that sends the API token. ``pd_sim`` is a tiny
# simulated PagerDuty account with an OAuth client; ``pd_sim.transport`` routes the service's
# PagerDuty clients to it. Web tests (API and pages) share these.
import contextlib as _contextlib  # noqa: E402
from collections.abc import AsyncIterator as _AsyncIterator  # noqa: E402
from collections.abc import Callable as _Callable  # noqa: E402
from dataclasses import dataclass as _dataclass  # noqa: E402
from pathlib import Path as _Path  # noqa: E402
from typing import Any as _Any  # noqa: E402

import httpx as _httpx  # noqa: E402
import pytest as _pytest  # noqa: E402

SERVICE_TOKEN = "test-service-token-0123456789abcdef"
SERVICE_BASE_URL = "http://pdsearch.test"
PD_BASE_URL = "http://127.0.0.1:9"  # never dialled: the transport answers in-process
PD_OAUTH_CLIENT_ID = "pdsearch-test-client"
PD_OAUTH_CLIENT_SECRET = "pdsearch-test-client-secret-value"


@_dataclass
class PdSim:
    app: _Any  # the simulator's ASGI app
    simulator: _Any  # app.state.simulator
    transport: _httpx.AsyncBaseTransport
    api_key: str
    subdomain: str
    base_url: str = PD_BASE_URL
    client_id: str = PD_OAUTH_CLIENT_ID
    client_secret: str = PD_OAUTH_CLIENT_SECRET


def make_pd_sim(**config: _Any) -> PdSim:
    from pdsearch.simulator.account import Account
    from pdsearch.simulator.app import create_app as create_sim_app
    from pdsearch.simulator.config import SimulatorConfig

    cfg = SimulatorConfig.for_scale(
        "tiny",
        oauth_client_id=PD_OAUTH_CLIENT_ID,
        oauth_client_secret=PD_OAUTH_CLIENT_SECRET,
        rate_limit=0,
        **config,
    )
    account = Account.generate(
        cfg.seed, cfg.teams, cfg.users, cfg.schedules, cfg.policies, cfg.subdomain, cfg.region
    )
    app = create_sim_app(account, cfg)
    sim = app.state.simulator
    return PdSim(app, sim, _httpx.ASGITransport(app=app), sim.api_key, cfg.subdomain)


@_pytest.fixture
def pd_sim() -> PdSim:
    return make_pd_sim()


@_pytest.fixture
def pd_sim_factory() -> _Callable[..., PdSim]:
    """``make_pd_sim(**SimulatorConfig overrides)``; test modules cannot import conftest
    reliably (several conftest.py files share the module name)."""
    return make_pd_sim


@_pytest.fixture
def api_settings(tmp_path: _Path) -> _Any:
    from pydantic import SecretStr

    from pdsearch.config import Settings

    return Settings(
        home=tmp_path / "pdsearch-data",
        api_token=SecretStr(SERVICE_TOKEN),
        secret_key=None,
        public_url=None,
    )


@_pytest.fixture
def service() -> _Callable[..., _Any]:
    @_contextlib.asynccontextmanager
    async def run(
        settings: _Any, transport: _httpx.AsyncBaseTransport | None = None, **kwargs: _Any
    ) -> _AsyncIterator[tuple[_Any, _httpx.AsyncClient]]:
        from pdsearch.web.app import create_app

        app = create_app(settings, transport=transport, **kwargs)
        async with app.router.lifespan_context(app), _httpx.AsyncClient(
            transport=_httpx.ASGITransport(app=app),
            base_url=SERVICE_BASE_URL,
            headers={"Authorization": f"Bearer {SERVICE_TOKEN}"},
        ) as client:
            yield app, client

    return run


async def wait_for_job(
    client: _httpx.AsyncClient, job_id: str, within: float = 20.0, statuses: tuple[str, ...] = ()
) -> dict[str, _Any]:
    """Poll GET /api/v1/jobs/{id} until it finishes (or reaches one of ``statuses``)."""
    import asyncio

    finished = statuses or ("succeeded", "failed", "canceled", "skipped")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        resp = await client.get(f"/api/v1/jobs/{job_id}")
        assert resp.status_code == 200, resp.text
        job: dict[str, _Any] = resp.json()
        if job["status"] in finished:
            return job
        if loop.time() > deadline:
            raise AssertionError(f"job {job_id} still {job['status']} after {within}s: {job}")
        await asyncio.sleep(0.05)


@_pytest.fixture
def job_waiter() -> _Callable[..., _Any]:
    return wait_for_job


# --- sync fixtures (sync_env) ---
# ``sync_env``: a Store and a SqliteIndex in tmp_path, an API-key connector to the in-process
# ``sim`` and a SyncService routed to it. ``sync_env.pd()`` is an httpx client on the simulator's
# REST API (writes between syncs); ``sync_env_factory(sim, **service_options)`` builds one for
# another simulator or with other service options. (Tests use the fixtures: ``from conftest
# import`` would find another directory's conftest.)
@_dataclass
class SyncEnv:
    sim: _Any  # the Simulator
    transport: _httpx.AsyncBaseTransport
    store: _Any  # pdsearch.store.Store
    index: _Any  # pdsearch.index.sqlite.SqliteIndex
    connector_id: str
    service: _Any  # pdsearch.sync.service.SyncService

    @property
    def connector(self) -> _Any:
        return self.store.get_connector(self.connector_id)

    def pd(self) -> _httpx.AsyncClient:
        return _httpx.AsyncClient(
            transport=self.transport,
            base_url=PD_BASE_URL,
            headers={"Authorization": f"Token token={self.sim.api_key}"},
        )


def make_sync_env(tmp_path: _Path, sim: _Any, **service_options: _Any) -> SyncEnv:
    from cryptography.fernet import Fernet

    from pdsearch.index.sqlite import SqliteIndex
    from pdsearch.store import Store
    from pdsearch.sync.service import SyncService

    tmp_path.mkdir(parents=True, exist_ok=True)
    store = Store(tmp_path / "state.db", Fernet.generate_key())
    index = SqliteIndex(tmp_path / "index.db")
    connector = store.create_connector(
        "acme", "api_key", "us", {"api_key": sim.api_key}, base_url=PD_BASE_URL
    )
    transport = _httpx.ASGITransport(app=sim.app)
    service = SyncService(store, index, transport=transport, **service_options)
    return SyncEnv(sim, transport, store, index, connector.id, service)


@_pytest.fixture
def sync_env(tmp_path: _Path, sim: _Any) -> _Any:
    env = make_sync_env(tmp_path, sim)
    yield env
    env.index.close()
    env.store.close()


@_pytest.fixture
def sync_env_factory(tmp_path: _Path) -> _Any:
    """``factory(sim, **service_options)``: a SyncEnv on another simulator (closed at teardown);
    ``factory.base_url`` is the connectors' PagerDuty base URL."""
    made: list[SyncEnv] = []

    def factory(sim: _Any, **service_options: _Any) -> SyncEnv:
        env = make_sync_env(tmp_path / f"env{len(made)}", sim, **service_options)
        made.append(env)
        return env

    factory.base_url = PD_BASE_URL  # type: ignore[attr-defined]
    yield factory
    for env in made:
        env.index.close()
        env.store.close()
