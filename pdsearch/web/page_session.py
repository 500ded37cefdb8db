"""How the admin pages authenticate: a signed session cookie and a CSRF token.

The REST API takes ``Authorization: Bearer <token>``. Holding that token in the browser
(``sessionStorage``) would let any script that ever ran on the page read it, so the pages never
see it after sign-in:

- ``POST /signin`` checks the typed token (constant time) and sets ``pdsearch_session``: an
  opaque value ``<expires>.<nonce>.<hmac>``, ``HttpOnly`` (no script can read it),
  ``SameSite=Lax`` (not sent by cross-site subrequests or form posts; Lax rather than Strict so
  the return from PagerDuty's OAuth consent page still arrives signed in), ``Secure`` when the
  service is reached over https, ``Path=/``, twelve hours at most. The signing key is derived
  from the API token, so changing the token signs everyone out, and a restart does not. The
  nonce is a ticket in the database (``store.tickets``, only its hash stored): a session is
  good on every replica while its ticket lives, and signing out on any replica ends it on all.
- Every page carries a CSRF token (an HMAC of the session's nonce) in a ``<meta>`` tag; the
  pages' JavaScript sends it as ``X-CSRF-Token`` and forms as a hidden field. A request without
  it is refused, so another site cannot make a signed-in browser change anything.
- The JavaScript calls ``/api/v1/...`` itself: ``api_auth.ApiTokenMiddleware`` admits a
  request without a bearer header when its session cookie is valid and it carries the CSRF
  token. The API's answers and error messages reach the page unchanged.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

from fastapi import Request
from fastapi.responses import Response

from pdsearch.config import Settings
from pdsearch.store import StoreError, TicketRepository

COOKIE_NAME = "pdsearch_session"
CSRF_HEADER = "X-CSRF-Token"
SESSION_SECONDS = 12 * 3600
#: The tickets that are page sessions (``store.tickets``).
SESSION_PURPOSE = "page-session"


@dataclass(frozen=True)
class PageSession:
    nonce: str
    expires: int
    csrf: str


class PageSessions:
    """Issues and checks session cookies and their CSRF tokens for one service."""

    def __init__(self, settings: Settings, tickets: TicketRepository) -> None:
        token = settings.api_token.get_secret_value() if settings.api_token else ""
        # No token configured: a random key, and sign-in refuses anyway.
        seed = token.encode() if token else secrets.token_bytes(32)
        self._key = hmac.new(seed, b"pdsearch page sessions v1", hashlib.sha256).digest()
        self._tickets = tickets

    def _mac(self, purpose: str, text: str) -> str:
        return hmac.new(self._key, f"{purpose}|{text}".encode(), hashlib.sha256).hexdigest()

    def issue(self) -> str:
        expires = int(time.time()) + SESSION_SECONDS
        nonce = self._tickets.issue(SESSION_PURPOSE, SESSION_SECONDS)
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
        if expires < time.time():
            return None
        try:
            if not self._tickets.live(SESSION_PURPOSE, nonce):
                return None
        except StoreError:  # the database cannot confirm it: sign in again (which says why)
            return None
        return PageSession(nonce=nonce, expires=expires, csrf=self._mac("csrf", nonce))

    def revoke(self, session: PageSession) -> None:
        """End the session on every replica (its ticket is redeemed)."""
        self._tickets.redeem(SESSION_PURPOSE, session.nonce)

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
