"""How the admin pages authenticate: a signed session cookie, a CSRF token, and a bridge to the API.

The REST API takes ``Authorization: Bearer <token>``. Holding that token in the browser
(``sessionStorage``) would let any script that ever ran on the page read it, so the pages never
see it after sign-in:

- ``POST /signin`` checks the typed token (constant time) and sets ``pdsearch_session``: an
  opaque value ``<expires>.<nonce>.<hmac>``, ``HttpOnly`` (no script can read it),
  ``SameSite=Lax`` (not sent by cross-site subrequests or form posts; Lax rather than Strict so
  the return from PagerDuty's OAuth consent page still arrives signed in), ``Secure`` when the
  service is reached over https, ``Path=/``, twelve hours at most. The signing key is derived
  from the API token, so changing the token signs everyone out, and a restart does not.
- Every page carries a CSRF token (an HMAC of the session's nonce) in a ``<meta>`` tag; the
  pages' JavaScript sends it as ``X-CSRF-Token`` and forms as a hidden field. A request without
  it is refused, so another site cannot make a signed-in browser change anything.
- The JavaScript calls ``/ui/api/v1/...``: the bridge checks cookie and CSRF token, then hands
  the request, with the bearer header added server-side, to the same app's ``/api/v1/...``
  route in-process. The API's answers and error messages reach the page unchanged.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass

import httpx
from fastapi import Request
from fastapi.responses import JSONResponse, Response

from pdsearch.config import Settings

COOKIE_NAME = "pdsearch_session"
CSRF_HEADER = "X-CSRF-Token"
SESSION_SECONDS = 12 * 3600
#: Headers of the API's answer that the bridge passes on.
_PASSED_HEADERS = ("content-type", "location", "retry-after")


@dataclass(frozen=True)
class PageSession:
    nonce: str
    expires: int
    csrf: str


class PageSessions:
    """Issues and checks session cookies and their CSRF tokens for one service."""

    def __init__(self, settings: Settings) -> None:
        token = settings.api_token.get_secret_value() if settings.api_token else ""
        # No token configured: a random key, and sign-in refuses anyway.
        seed = token.encode() if token else secrets.token_bytes(32)
        self._key = hmac.new(seed, b"pdsearch page sessions v1", hashlib.sha256).digest()
        self._revoked: dict[str, float] = {}
        self._lock = threading.Lock()

    def _mac(self, purpose: str, text: str) -> str:
        return hmac.new(self._key, f"{purpose}|{text}".encode(), hashlib.sha256).hexdigest()

    def issue(self) -> str:
        expires = int(time.time()) + SESSION_SECONDS
        nonce = secrets.token_urlsafe(18)
        return f"{expires}.{nonce}.{self._mac('session', f'{expires}.{nonce}')}"

    def check(self, cookie: str | None) -> PageSession | None:
        if not cookie or len(cookie) > 200:
            return None
        try:
            expires_text, nonce, signature = cookie.split(".", 2)
            expires = int(expires_text)
        except ValueError:
            return None
        if not hmac.compare_digest(signature, self._mac("session", f"{expires}.{nonce}")):
            return None
        now = time.time()
        with self._lock:
            if expires < now or nonce in self._revoked:
                return None
        return PageSession(nonce=nonce, expires=expires, csrf=self._mac("csrf", nonce))

    def revoke(self, session: PageSession) -> None:
        now = time.time()
        with self._lock:
            for nonce, until in list(self._revoked.items()):
                if until < now:
                    del self._revoked[nonce]
            self._revoked[session.nonce] = session.expires

    @staticmethod
    def csrf_ok(session: PageSession, presented: str | None) -> bool:
        return bool(presented) and hmac.compare_digest(session.csrf, presented or "")


def sessions_of(request: Request) -> PageSessions:
    sessions = getattr(request.app.state, "page_sessions", None)
    if not isinstance(sessions, PageSessions):  # pragma: no cover - install_pages not called
        raise RuntimeError("the pages are not installed on this app")
    return sessions


def current_session(request: Request) -> PageSession | None:
    return sessions_of(request).check(request.cookies.get(COOKIE_NAME))


def is_secure(settings: Settings, request: Request) -> bool:
    if settings.public_url:
        return settings.public_url.startswith("https://")
    return request.url.scheme == "https"


def set_session_cookie(response: Response, value: str, secure: bool) -> None:
    response.set_cookie(
        COOKIE_NAME,
        value,
        max_age=SESSION_SECONDS,
        path="/",
        httponly=True,
        samesite="lax",
        secure=secure,
    )


def clear_session_cookie(response: Response, secure: bool) -> None:
    response.delete_cookie(COOKIE_NAME, path="/", httponly=True, samesite="lax", secure=secure)


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


async def bridge(request: Request, path: str, api_token: str | None) -> Response:
    """Forward a page's call to ``/api/<path>`` of this app with the bearer header added."""
    session = current_session(request)
    if session is None:
        return _error(401, "signed_out", "Your session has ended. Sign in again to continue.")
    if not PageSessions.csrf_ok(session, request.headers.get(CSRF_HEADER)):
        return _error(
            403, "csrf_failed", "This request did not come from a pdsearch page. Reload the page."
        )
    if not path.startswith("v1/") or ".." in path:
        return _error(404, "not_found", "The pages reach only the API under /api/v1.")
    if not api_token:
        return _error(503, "unavailable", "The service has no API token configured.")
    headers = {"authorization": f"Bearer {api_token}", "accept": "application/json"}
    if "content-type" in request.headers:
        headers["content-type"] = request.headers["content-type"]
    body = await request.body()
    client_host = request.client.host if request.client else "127.0.0.1"
    transport = httpx.ASGITransport(
        app=request.app, raise_app_exceptions=False, client=(client_host, 0)
    )
    async with httpx.AsyncClient(
        transport=transport, base_url=str(request.base_url).rstrip("/")
    ) as client:
        answer = await client.request(
            request.method,
            "/api/" + path,
            params=list(request.query_params.multi_items()),
            content=body,
            headers=headers,
        )
    passed = {k: v for k, v in answer.headers.items() if k.lower() in _PASSED_HEADERS}
    location = passed.get("location")
    if location and location.startswith("/api/"):
        passed["location"] = "/ui" + location
    return Response(answer.content, status_code=answer.status_code, headers=passed)
