"""``pdsearch demo``: the whole product on one machine, against a simulated PagerDuty account.

It starts the simulator (a fixed seed, so every demo shows the same account), makes a fresh
data directory and a fresh API token, creates a connector to the simulator with its API key,
connects, runs the first sync, picks three sample users who see different things (an admin,
a member of a public team, a member of a private team), prints all that, and serves the pages
and the REST API until Ctrl-C. Stopping ends the service, the simulator and their threads, and
removes the temporary data directory.

The service's port is bound before anything else starts, so a port in use is reported at once.
"""

from __future__ import annotations

import errno
import logging
import os
import secrets
import shlex
import shutil
import signal
import socket
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import uvicorn
from fastapi import FastAPI
from pydantic import SecretStr

from pdsearch.config import Settings
from pdsearch.connectors import ApiKey, ConnectorService
from pdsearch.index.base import Grant, SearchIndex
from pdsearch.index.factory import open_index
from pdsearch.permissions import normalize_email
from pdsearch.search import load_embedder
from pdsearch.simulator.config import SimulatorConfig
from pdsearch.simulator.server import SimulatorServer
from pdsearch.stopping import StoppableServer, Stopped, StopSignals, on_stop_signals
from pdsearch.store import Connector, NotFoundError, Store
from pdsearch.sync.connection import client_for
from pdsearch.sync.oncall import OnCallRefresher
from pdsearch.sync.service import SyncService

log = logging.getLogger(__name__)

DEMO_SEED = 7
DEMO_SCALE = "small"
DEMO_CONNECTOR = "Acme PagerDuty (simulated)"
DEMO_OAUTH_CLIENT_ID = "pdsearch-demo-client"


class DemoError(Exception):
    """The demo cannot start; the message says why and what to do."""


@dataclass(frozen=True)
class SampleUser:
    email: str
    kind: str  # "admin", "public team member", "private team member"
    teams: tuple[str, ...]
    visible: int  # documents this user may see


@dataclass
class DemoInfo:
    url: str
    token: str
    data_dir: Path
    temporary: bool
    simulator_url: str
    subdomain: str
    documents: int
    sync_seconds: float
    users: list[SampleUser] = field(default_factory=list)
    oauth_client_id: str = DEMO_OAUTH_CLIENT_ID
    oauth_client_secret: str = ""

    @property
    def command(self) -> str:
        """How to run pdsearch from another terminal: ``./run`` sets ``PDSEARCH_COMMAND`` to its
        own path (a clone has no ``pdsearch`` on the PATH); an installed one is ``pdsearch``."""
        return shlex.quote(os.environ.get("PDSEARCH_COMMAND") or "pdsearch")

    def describe(self) -> str:
        width = max(len(u.kind) for u in self.users) if self.users else 0
        email_width = max(len(u.email) for u in self.users) if self.users else 0
        lines = [
            "",
            "pdsearch demo is ready.",
            "",
            f"  Open        {self.url}/",
            f"  API token   {self.token}",
            "              (sign in with it; REST calls send 'Authorization: Bearer <token>')",
            f"  Data        {self.data_dir}"
            + (" (temporary, removed on exit)" if self.temporary else ""),
            "",
            "Point the command line at the demo's data (in another terminal, while it runs):",
            "",
            f"  export PDSEARCH_HOME={shlex.quote(str(self.data_dir))}",
            "",
            f"  then, e.g.: {self.command} search payments --user "
            + (self.users[0].email if self.users else "<e-mail>"),
            f"  or as an AI assistant's MCP server (stdio): {self.command} mcp --user "
            + (self.users[0].email if self.users else "<e-mail>"),
            "",
            f"Synced the simulated PagerDuty account '{self.subdomain}' ({self.simulator_url}): "
            f"{self.documents} documents in {self.sync_seconds:.1f} s.",
            "",
            f"Search as one of these sample users at {self.url}/search:",
        ]
        for user in self.users:
            teams = f" ({', '.join(user.teams)})" if user.teams else ""
            lines.append(
                f"  {user.kind.ljust(width)}  {user.email.ljust(email_width)}  sees "
                f"{user.visible} documents{teams}"
            )
        lines += [
            "",
            "To try OAuth sign-in, add a connector with client ID "
            f"{self.oauth_client_id}, client secret {self.oauth_client_secret},",
            f"and under Advanced both base URLs set to {self.simulator_url}.",
            "",
            "Press Ctrl-C to stop.",
        ]
        return "\n".join(lines)


def bind_port(host: str, port: int) -> socket.socket:
    """Bind the service's socket now; a port in use is a ``DemoError`` saying what to do."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise DemoError(
                f"Port {port} on {host} is already in use (another pdsearch demo or serve?). "
                f"Stop what uses it, or pick another port: pdsearch demo --port {port + 1}"
            ) from None
        raise DemoError(f"Cannot listen on {host}:{port}: {exc.strerror}.") from None
    sock.listen(128)
    return sock


class Demo:
    """The demo's parts, started by ``start()`` and all stopped by ``close()``."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 8000,
        data_dir: Path | None = None,
        seed: int = DEMO_SEED,
        scale: str = DEMO_SCALE,
        log_level: str = "warning",
    ) -> None:
        self.host = host
        self.port = port
        self.seed = seed
        self.scale = scale
        self.log_level = log_level
        self._given_dir = data_dir
        self.data_dir: Path | None = None
        self.socket: socket.socket | None = None
        self.simulator: SimulatorServer | None = None
        self.app: FastAPI | None = None
        self.info: DemoInfo | None = None
        self.server: StoppableServer | None = None
        self._stop_requested = False
        self._stopped_by: int | None = None

    # --- start ---------------------------------------------------------------------------

    def start(self, say: Callable[[str], None] = print) -> DemoInfo:
        """Everything up to serving: port, simulator, connector, first sync, sample users."""
        self.socket = bind_port(self.host, self.port)
        self.port = self.socket.getsockname()[1]
        self._check_stop()
        if self._given_dir is not None:
            self.data_dir = self._given_dir.expanduser().resolve()
            self.data_dir.mkdir(parents=True, exist_ok=True)
        else:
            self.data_dir = Path(tempfile.mkdtemp(prefix="pdsearch-demo-"))
        say("Starting the simulated PagerDuty account…")
        oauth_secret = secrets.token_urlsafe(24)
        config = SimulatorConfig.for_scale(
            self.scale,
            seed=self.seed,
            api_key=secrets.token_urlsafe(24),
            oauth_client_id=DEMO_OAUTH_CLIENT_ID,
            oauth_client_secret=oauth_secret,
            rate_limit=0,
        )
        self.simulator = SimulatorServer(config).start()
        self._check_stop()
        token = secrets.token_urlsafe(32)
        settings = Settings(
            home=self.data_dir,
            api_token=SecretStr(token),
            secret_key=None,
            public_url=None,
            host=self.host,
            port=self.port,
        )
        say("Creating the connector, connecting and running the first sync…")
        started = time.monotonic()
        # A stop signal now cancels the first sync, which is recorded as canceled.
        stop = StopSignals()
        try:
            documents, users = stop.run(self._prepare(settings))
        except DemoError:
            if stop.received is None:
                raise
        if stop.received is not None:
            raise Stopped(stop.received)
        elapsed = time.monotonic() - started
        self._check_stop()
        from pdsearch.web.app import create_app

        self.app = create_app(settings, demo_users=[u.email for u in users])
        host = f"[{self.host}]" if ":" in self.host else self.host
        self.info = DemoInfo(
            url=f"http://{host}:{self.port}",
            token=token,
            data_dir=self.data_dir,
            temporary=self._given_dir is None,
            simulator_url=self.simulator.base_url,
            subdomain=self.simulator.subdomain,
            documents=documents,
            sync_seconds=elapsed,
            users=users,
            oauth_client_secret=oauth_secret,
        )
        return self.info

    async def _prepare(self, settings: Settings) -> tuple[int, list[SampleUser]]:
        if self.simulator is None:
            raise RuntimeError("the demo's simulator is not running; start() starts it")
        store = Store.open(settings)
        index = open_index(settings)
        try:
            embedder = load_embedder(settings.semantic)  # on by default: vectors at once
            sync = SyncService(store, index, oncall=OnCallRefresher(store, index),
                               embedder=embedder)
            connectors = ConnectorService(store, index, sync)
            connector = self._connector(connectors)
            await connectors.connect(connector.id)
            job = await connectors.run_sync(connector.id, "manual")
            if job.status != "succeeded":
                raise DemoError(f"The first sync did not succeed ({job.status}): {job.error}")
            users = await self._sample_users(store, index, store.connectors.get(connector.id))
            return index.count(connector.id), users
        finally:
            index.close()
            store.close()

    def _connector(self, connectors: ConnectorService) -> Connector:
        """The demo's connector; a reused data directory gets it pointed at this simulator."""
        if self.simulator is None:
            raise RuntimeError("the demo's simulator is not running; start() starts it")
        key = ApiKey(self.simulator.api_key)
        try:
            existing = connectors.store.connectors.get_by_name(DEMO_CONNECTOR)
        except NotFoundError:
            return connectors.create(DEMO_CONNECTOR, key, "us", base_url=self.simulator.base_url)
        return connectors.update(
            existing.id,
            {"region": "us", "base_url": self.simulator.base_url, "oauth_base_url": None},
            key,
        )

    async def _sample_users(
        self, store: Store, index: SearchIndex, connector: Connector
    ) -> list[SampleUser]:
        """An admin, a member of a public team and one of a private team, each seeing a
        different set of documents; read from the synced entities and PagerDuty's teams."""
        async with client_for(connector, store.connectors) as client:
            private = {t.id for t in [t async for t in client.teams()] if t.private}
        entities, _ = store.entities.list(connector.id, limit=1000)
        names = {e.entity_id: e.name for e in entities}
        admins = sorted(
            {normalize_email(m) for e in entities if e.type == "account" for m in e.user_ids}
        )

        def visible(email: str) -> tuple[frozenset[str], tuple[str, ...]]:
            ents = store.entities.for_user(email, connector.id)
            hits = index.search("", {Grant(connector.id, e) for e in ents}, limit=1000).hits
            teams = tuple(
                sorted(
                    names.get(e, e) + (" (private team)" if e in private else "")
                    for e in ents
                    if e != connector.subdomain
                )
            )
            return frozenset(h.id for h in hits), teams

        chosen: list[SampleUser] = []
        seen: list[frozenset[str]] = []

        def pick(kind: str, candidates: list[str]) -> None:
            for email in candidates:
                docs, teams = visible(email)
                if docs and docs not in seen and email not in {u.email for u in chosen}:
                    seen.append(docs)
                    chosen.append(SampleUser(email, kind, () if kind == "admin" else teams,
                                             len(docs)))
                    return

        non_admin = {
            normalize_email(m)
            for e in entities
            if e.type == "team"
            for m in e.user_ids
        } - set(admins)
        in_private = {
            normalize_email(m) for e in entities if e.entity_id in private for m in e.user_ids
        }
        pick("admin", admins)
        pick("public team member", sorted(non_admin - in_private))
        pick("private team member", sorted(non_admin & in_private))
        return chosen

    # --- serve and stop ----------------------------------------------------------------------

    def serve(self) -> None:
        """Serve until a stop signal (or ``stop()``); returns once the service has shut down."""
        if self.app is None or self.socket is None:
            raise RuntimeError("the demo is not started; call start() before serve()")
        config = uvicorn.Config(
            self.app,
            log_level=self.log_level,
            access_log=False,
            timeout_graceful_shutdown=3,
        )
        # The demo's own handlers (run_demo) stop it, so uvicorn installs none.
        self.server = StoppableServer(config, handle_signals=False)
        if self._stop_requested:  # stopped before the server existed
            return
        self.server.run(sockets=[self.socket])

    def stop(self) -> None:
        """Ask the demo to stop: a serving one shuts down, one about to serve will not."""
        self._stop_requested = True
        if self.server is not None:
            self.server.request_stop()

    def on_signal(self, signum: int) -> None:
        """A stop signal: while starting, the next step does not begin (and the first sync is
        canceled by its own handlers); while serving, the service shuts down (a second signal
        forces it). Nothing is raised here, so nothing is left half done."""
        self._stopped_by = self._stopped_by or signum
        self.stop()

    def _check_stop(self) -> None:
        if self._stop_requested:
            raise Stopped(self._stopped_by or signal.SIGTERM)

    def close(self) -> None:
        """Stop the simulator, release the port and remove a temporary data directory."""
        if self.simulator is not None:
            self.simulator.stop()
            self.simulator = None
        if self.socket is not None:
            self.socket.close()
            self.socket = None
        if self._given_dir is None and self.data_dir is not None:
            shutil.rmtree(self.data_dir, ignore_errors=True)


def run_demo(
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    data_dir: Path | None = None,
    say: Callable[[str], None] = print,
) -> int:
    """What ``pdsearch demo`` runs: 0 after Ctrl-C, 1 when the demo could not start."""
    demo = Demo(host=host, port=port, data_dir=data_dir)
    try:
        # SIGTERM always stops the demo, Ctrl-C too unless it was started with SIGINT ignored.
        with on_stop_signals(demo.on_signal):
            try:
                info = demo.start(say)
            except DemoError as exc:
                say(f"Error: {exc}")
                return 1
            say(info.describe())
            demo.serve()
        say("Stopped.")
        return 0
    except Stopped:
        say("Stopped.")
        return 0
    finally:
        demo.close()
