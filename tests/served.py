"""The service (``create_app``, lifespan on) served by uvicorn on 127.0.0.1 in a thread, for
tests that need a real HTTP server in-process: the browser tests and the MCP HTTP tests."""

from __future__ import annotations

import asyncio
import socket
import threading
from typing import Any

import uvicorn

from pdsearch.config import Settings
from pdsearch.web.app import create_app


class ServiceThread:
    """``with ServiceThread(settings, **create_app_options) as svc``: ``svc.url``, ``svc.app``;
    the server is stopped and its thread joined on leaving, whatever the test did."""

    def __init__(self, settings: Settings, **app_options: Any) -> None:
        self.app = create_app(settings, **app_options)
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        config = uvicorn.Config(self.app, log_level="warning", access_log=False,
                                timeout_graceful_shutdown=2)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=lambda: asyncio.run(self.server.serve(sockets=[self.sock])), daemon=True
        )

    def __enter__(self) -> ServiceThread:
        self.thread.start()
        for _ in range(1000):
            if self.server.started:
                return self
            if not self.thread.is_alive():
                break
            threading.Event().wait(0.01)
        self.__exit__()
        raise RuntimeError("the service did not start")

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()
        if self.thread.is_alive():
            raise RuntimeError("the service did not stop within 10 s")
