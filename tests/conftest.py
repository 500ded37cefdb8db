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
    """Poll GET /api/v1/jobs/{id} until it finishes (or reaches one of ``statuses``), and
    until the meaning vectors that follow a finished sync are done too (what a test searching
    by meaning next needs)."""
    import asyncio

    finished = statuses or ("succeeded", "failed", "canceled", "skipped")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        resp = await client.get(f"/api/v1/jobs/{job_id}")
        assert resp.status_code == 200, resp.text
        job: dict[str, _Any] = resp.json()
        vectors = (job.get("progress") or {}).get("vectors") or {}
        if job["status"] in finished and (statuses or vectors.get("state") != "computing"):
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
        return self.store.connectors.get(self.connector_id)

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
    connector = store.connectors.create(
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


# --- process hygiene: no test leaves a process running ---
# After each test, the pytest process's children are noted with the test during which they
# first appeared; when the session ends, any still running (zombies aside: they have ended)
# fail the session, named with that test, and are killed with their own children. Linux only
# (/proc); elsewhere nothing is checked.
import os as _os  # noqa: E402
import signal as _signal  # noqa: E402

_first_seen: dict[int, str] = {}


def _children_of(pid: int) -> set[int]:
    found: set[int] = set()
    try:
        tasks = list(_Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return found
    for task in tasks:  # each thread's own children: a Popen from any thread counts
        try:
            found.update(int(p) for p in (task / "children").read_text().split())
        except (OSError, ValueError):
            continue
    return found


def _running(pid: int) -> bool:
    try:
        stat = _Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def _command_line(pid: int) -> str:
    try:
        raw = _Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return "?"
    return " ".join(part.decode(errors="replace") for part in raw.split(b"\0") if part)[:300]


def _tree(pid: int) -> list[int]:
    """``pid`` and its descendants, children first (killed before their parent)."""
    out: list[int] = []
    for child in _children_of(pid):
        out += _tree(child)
    return [*out, pid]


@_pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: _pytest.Item, nextitem: _pytest.Item | None) -> _Any:
    yield
    for pid in _children_of(_os.getpid()):
        _first_seen.setdefault(pid, item.nodeid)


def pytest_sessionfinish(session: _pytest.Session, exitstatus: int) -> None:
    if not _Path("/proc/self/task").is_dir() or session.config.pluginmanager.has_plugin(
        "dsession"  # pytest-xdist's controller: its children are the workers
    ):
        return
    left = sorted(pid for pid in _children_of(_os.getpid()) if _running(pid))
    if not left:
        return
    lines = [
        f"  pid {pid}: {_command_line(pid)} (started during {_first_seen.get(pid, 'the session')})"
        for pid in left
    ]
    for pid in left:
        for member in _tree(pid):
            with _contextlib.suppress(OSError):
                _os.kill(member, _signal.SIGKILL)
        with _contextlib.suppress(OSError):
            _os.waitpid(pid, 0)
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    message = "\n".join(
        [f"{len(left)} process(es) started by the tests were still running; killed:", *lines]
    )
    if reporter is not None:
        reporter.ensure_newline()
        reporter.write_sep("=", "processes left running", red=True)
        reporter.write_line(message, red=True)
    else:
        print(message)
    session.exitstatus = _pytest.ExitCode.TESTS_FAILED


# --- real servers (database_url, opensearch_url) ---
# A PostgreSQL and an OpenSearch node on loopback, one of each for the whole session, shared by
# every test: name your databases and indices uniquely and drop them. ``./run test`` starts both
# once (``./run services``) and passes their URLs in PDSEARCH_TEST_DATABASE_URL and
# PDSEARCH_TEST_INDEX_URL; without those (pytest run directly) the first test that asks starts
# the server it needs through pdsearch.devservices, and the session's end stops it.
from collections.abc import Iterator as _ServerIterator  # noqa: E402

from pdsearch.devservices import Options as _ServicesOptions  # noqa: E402
from pdsearch.devservices import running as _running_services  # noqa: E402

DATABASE_URL_ENV = "PDSEARCH_TEST_DATABASE_URL"
INDEX_URL_ENV = "PDSEARCH_TEST_INDEX_URL"


def _server_url(env: str, *, postgres: bool) -> _ServerIterator[str]:
    given = _os.environ.get(env)
    if given:
        yield given
        return
    with _running_services(
        _ServicesOptions(quick=True), postgres=postgres, opensearch=not postgres
    ) as services:
        url = services.database_url if postgres else services.index_url
        assert url is not None
        yield url


@_pytest.fixture(scope="session")
def database_url() -> _ServerIterator[str]:
    """``postgresql://pdsearch:<password>@127.0.0.1:<port>/pdsearch``; the role may create
    databases (not a superuser)."""
    yield from _server_url(DATABASE_URL_ENV, postgres=True)


@_pytest.fixture(scope="session")
def opensearch_url() -> _ServerIterator[str]:
    """``http://127.0.0.1:<port>``: OpenSearch 2.19.1, no security plugin, English analysis,
    Painless, and k-NN with the ``lucene`` engine only (no native libraries)."""
    yield from _server_url(INDEX_URL_ENV, postgres=False)


# --- PostgreSQL per test (postgres_schema_url) ---
# ``postgres_schema_url``: the session's PostgreSQL server (``database_url`` above) with a fresh,
# empty schema as the connection's search_path (dropped afterwards), so each test sees an empty
# database in a few milliseconds instead of the ~0.3 s a CREATE DATABASE takes. Only a role that
# may create schemas is assumed.
import secrets as _pg_secrets  # noqa: E402
from collections.abc import Iterator as _PgIterator  # noqa: E402

import psycopg as _psycopg  # noqa: E402
import sqlalchemy as _sa  # noqa: E402
from psycopg import sql as _pg_sql  # noqa: E402


def _libpq_url(url: str) -> str:
    """The URL as libpq takes it (no SQLAlchemy driver suffix)."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def with_search_path(database_url: str, schema: str) -> str:
    """``database_url`` whose connections use ``schema`` (libpq's ``options`` parameter)."""
    url = _sa.make_url(database_url)
    url = url.update_query_dict({"options": f"-csearch_path={schema}"})
    return _libpq_url(url.render_as_string(hide_password=False))


@_pytest.fixture
def postgres_schema_url(database_url: str) -> _PgIterator[str]:
    schema = f"t_{_pg_secrets.token_hex(6)}"
    with _psycopg.connect(_libpq_url(database_url), autocommit=True) as conn:
        conn.execute(_pg_sql.SQL("CREATE SCHEMA {}").format(_pg_sql.Identifier(schema)))
    try:
        yield with_search_path(database_url, schema)
    finally:
        with _psycopg.connect(_libpq_url(database_url), autocommit=True) as conn:
            conn.execute(
                _pg_sql.SQL("DROP SCHEMA {} CASCADE").format(_pg_sql.Identifier(schema))
            )
