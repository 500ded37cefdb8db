"""Injected faults: what a flaky network or a struggling PagerDuty does to a client.

Each kind answers instead of the real handler, so a faulted request never changes the account:

- ``500``, ``502``, ``503``: an error status with PagerDuty's error body.
- ``timeout``: nothing for ``slow_seconds`` (longer than any sane client timeout), then a 504.
  The wait ends early when the client hangs up, so no task outlives its connection.
- ``cut``: the headers promise a body; half of it is sent and the connection is dropped.
- ``malformed``: 200 with a body that is not JSON.
- ``429``: a 429 with neither ``ratelimit-*`` headers nor a body, which PagerDuty warns can happen.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Sequence

import httpx
from starlette.types import Receive, Send

DEFAULT_SLOW_SECONDS = 120.0


class ConnectionCut(httpx.RemoteProtocolError):
    """Raised from the app after half a body; an in-process client sees what a socket client sees.

    Over a socket, uvicorn closes the connection when the app raises after the response started;
    through ``httpx.ASGITransport`` the exception reaches the client as the transport error it
    would get from a real dropped connection.
    """

    def __init__(self) -> None:
        super().__init__("peer closed connection without sending complete message body")


def pick_fault(rng: random.Random, rate: float, kinds: Sequence[str]) -> str | None:
    if rate <= 0 or not kinds:
        return None
    if rng.random() >= rate:
        return None
    return rng.choice(list(kinds))


async def _send(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _error_body(status: int) -> bytes:
    messages = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}
    message = messages.get(status, "Gateway Timeout")
    return json.dumps({"error": {"message": message, "code": 2000 + status}}).encode()


async def _wait_or_disconnect(receive: Receive, seconds: float) -> bool:
    """Sleep ``seconds``; True when the client disconnected first."""

    async def disconnected() -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return

    watcher = asyncio.ensure_future(disconnected())
    try:
        done, _ = await asyncio.wait({watcher}, timeout=seconds)
        return bool(done)
    finally:
        watcher.cancel()


async def send_fault(kind: str, receive: Receive, send: Send, slow_seconds: float) -> None:
    json_type = (b"content-type", b"application/json; charset=utf-8")
    if kind in ("500", "502", "503"):
        body = _error_body(int(kind))
        await _send(
            send, int(kind), body, [json_type, (b"content-length", str(len(body)).encode())]
        )
    elif kind == "429":
        await _send(send, 429, b"", [(b"content-length", b"0")])
    elif kind == "malformed":
        body = b'{"users": [{"id": "PQ9K7I8", "type": "user", "name": "Ada'
        await _send(send, 200, body, [json_type, (b"content-length", str(len(body)).encode())])
    elif kind == "cut":
        body = json.dumps({"users": [], "limit": 25, "offset": 0, "more": True}).encode() * 4
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [json_type, (b"content-length", str(len(body)).encode())],
            }
        )
        await send(
            {"type": "http.response.body", "body": body[: len(body) // 2], "more_body": True}
        )
        raise ConnectionCut()
    elif kind == "timeout":
        if await _wait_or_disconnect(receive, slow_seconds):
            return
        body = _error_body(504)
        await _send(send, 504, body, [json_type, (b"content-length", str(len(body)).encode())])
    else:  # pragma: no cover - kinds are validated where they are configured
        raise ValueError(f"unknown fault kind {kind!r}")
