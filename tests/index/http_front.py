"""A small HTTP server on 127.0.0.1 in front of the test node, for what the node can't be made
to answer on demand: a whole request refused (429, 503), credentials refused (401), a cluster
without a plugin. It answers the statuses queued in ``refuse``, or what ``answer`` returns for a
request, and forwards everything else to the node unchanged."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

#: ``answer(method, path, body)``: None to carry on, or (status, JSON body) to answer with.
Answer = Callable[[str, str, bytes], tuple[int, dict[str, Any]] | None]


class Front:
    """Answers the statuses queued in ``refuse`` (one per request, in OpenSearch's error
    shape), then what ``answer`` says, and forwards the rest to ``target`` (or answers 401 to
    them when ``target`` is None)."""

    def __init__(self, target: str | None, answer: Answer | None = None) -> None:
        self.target = target
        self.answer = answer
        self.refuse: list[int] = []
        self.seen: list[tuple[str, str, str | None]] = []  # method, path, Authorization
        self.lock = threading.Lock()
        front = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with front.lock:
                    front.seen.append((self.command, self.path, self.headers.get("Authorization")))
                    status = front.refuse.pop(0) if front.refuse else None
                if front.target is None:
                    status = 401
                given = front.answer(self.command, self.path, body) if front.answer else None
                if status is None and given is not None:
                    self._send(given[0], json.dumps(given[1]).encode(), "application/json")
                    return
                if status is not None:
                    payload = json.dumps({"error": {"type": "busy", "reason": f"said {status}"},
                                          "status": status}).encode()
                    self._send(status, payload, "application/json")
                    return
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() in ("content-type", "accept")}
                response = httpx.request(self.command, f"{front.target}{self.path}",
                                         content=body, headers=headers, timeout=60)
                self._send(response.status_code, response.content,
                           response.headers.get("content-type", "application/json"))

            def _send(self, status: int, payload: bytes, kind: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _answer

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Front:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)
