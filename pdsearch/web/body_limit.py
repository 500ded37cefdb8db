"""A cap on request bodies, answered in the service's error shape.

No request of the API needs more than a few hundred kilobytes (a full ``userList`` is ~320 KB),
so a bigger body is refused with ``413 payload_too_large`` before it is read into memory and
parsed: at once when ``Content-Length`` says so, or as soon as a streamed body passes the cap.
"""

from __future__ import annotations

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pdsearch.web.errors import error_response

#: The largest request body the service reads (1 MiB).
MAX_BODY_BYTES = 1 << 20


def _message(limit: int) -> str:
    return (
        f"The request body is larger than {limit // 1024} KiB, more than any call needs. "
        "Send less (for example fewer e-mails per userList)."
    )


class BodyLimitMiddleware:
    """Pure ASGI (no buffering): checks ``Content-Length`` first, then counts what arrives."""

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_bytes
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0  # the server refuses a malformed length itself
                if declared > limit:
                    response = error_response(413, "payload_too_large", _message(limit))
                    await response(scope, receive, send)
                    return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    # Raised inside the route's body read, which lets an HTTPException through
                    # (anything else becomes a 400), so the app's handlers answer it (413).
                    raise HTTPException(413, _message(limit))
            return message

        await self.app(scope, counted, send)
