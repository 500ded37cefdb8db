"""The simulator on a loopback socket: uvicorn in a background thread, started and stopped cleanly.

    with SimulatorServer(SimulatorConfig(api_key="k")) as server:
        httpx.get(server.base_url + "/users", headers={"Authorization": "Token token=k"})

``port=0`` picks a free port; ``base_url`` tells which. The same host serves ``/oauth/authorize``
and ``/oauth/token`` (``oauth_base_url``).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from types import TracebackType
from typing import Any

import uvicorn

from pdsearch.simulator.account import Account
from pdsearch.simulator.app import create_app
from pdsearch.simulator.config import SimulatorConfig
from pdsearch.simulator.faults import DEFAULT_SLOW_SECONDS, ConnectionCut
from pdsearch.simulator.state import Simulator

START_TIMEOUT_SECONDS = 30.0


class _HideInjectedCuts(logging.Filter):
    """An injected ``cut`` fault is the simulator working, not failing: keep it out of the log."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], ConnectionCut))


class SimulatorServer:
    def __init__(
        self,
        config: SimulatorConfig,
        account: Account | None = None,
        *,
        abilities: set[str] | None = None,
        slow_seconds: float = DEFAULT_SLOW_SECONDS,
        log_level: str = "warning",
    ) -> None:
        if account is None:
            account = build_account(config)
        self.config = config
        self.account = account
        self.app = create_app(account, config, abilities=abilities, slow_seconds=slow_seconds)
        self.simulator: Simulator = self.app.state.simulator
        self._log_level = log_level
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None
        self._error: BaseException | None = None
        self.port = 0

    @property
    def api_key(self) -> str:
        return self.simulator.api_key

    @property
    def subdomain(self) -> str:
        return self.account.subdomain

    @property
    def base_url(self) -> str:
        return f"http://{_url_host(self.config.host)}:{self.port}"

    @property
    def oauth_base_url(self) -> str:
        return self.base_url

    def ready_info(self) -> dict[str, Any]:
        """Where to reach the running server and how to authenticate: ``pdsearch simulate``'s
        ready line. The OAuth part is there only when an OAuth client is configured."""
        info: dict[str, Any] = {
            "base_url": self.base_url,
            "api_key": self.api_key,
            "subdomain": self.account.subdomain,
            "region": self.account.region,
        }
        if self.config.oauth_client_id is not None:
            info["oauth"] = {
                "client_id": self.config.oauth_client_id,
                "oauth_base_url": self.oauth_base_url,
                "authorize_url": self.oauth_base_url + "/oauth/authorize",
                "token_url": self.oauth_base_url + "/oauth/token",
                "token_ttl": self.config.token_ttl,
            }
        return info

    def start(self) -> SimulatorServer:
        """Bind, start serving in a thread, and return once requests are answered."""
        sock = socket.socket(
            socket.AF_INET6 if ":" in self.config.host else socket.AF_INET, socket.SOCK_STREAM
        )
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # Accepted sockets inherit this. With Nagle on, an answer written in two parts waits
        # for the client's delayed ACK: about 40 ms more per request on loopback.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            sock.bind((self.config.host, self.config.port))
        except OSError:
            sock.close()
            raise
        sock.listen(1024)
        self._socket = sock
        self.port = sock.getsockname()[1]
        error_log = logging.getLogger("uvicorn.error")
        if not any(isinstance(f, _HideInjectedCuts) for f in error_log.filters):
            error_log.addFilter(_HideInjectedCuts())
        config = uvicorn.Config(
            self.app,
            log_level=self._log_level,
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=2,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._run, name="pdsearch-simulator", daemon=True)
        self._thread.start()
        waited = 0.0
        while not self._server.started:
            if self._error is not None or not self._thread.is_alive():
                self.stop()
                raise RuntimeError(f"the simulator did not start: {self._error}")
            if waited > START_TIMEOUT_SECONDS:
                self.stop()
                raise RuntimeError("the simulator did not start within 30 seconds")
            threading.Event().wait(0.01)
            waited += 0.01
        return self

    def _run(self) -> None:
        if self._server is None or self._socket is None:
            raise RuntimeError("the simulator's server thread runs only after start()")
        try:
            asyncio.run(self._server.serve(sockets=[self._socket]))
        except BaseException as exc:  # reported to start() or stop()
            self._error = exc

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    def __enter__(self) -> SimulatorServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def build_account(config: SimulatorConfig) -> Account:
    """The account a config asks for: loaded from ``config.load``, or generated from its seed."""
    if config.load is not None:
        return Account.load(config.load)
    return Account.generate(
        config.seed,
        config.teams,
        config.users,
        config.schedules,
        config.policies,
        subdomain=config.subdomain,
        region=config.region,
    )


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
