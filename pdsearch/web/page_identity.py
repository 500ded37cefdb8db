"""Who the search page searches as.

The search page shows each person only what they may see, so whom it believes matters more
than anything else on it. In order:

1. ``pdsearch demo``: one of its sample users, picked on the page (a signed-in administrator
   may still name anyone else).
2. A signed-in administrator (``page_session``): whoever they name in ``?user=``, to check what
   that person sees; by default themselves, when a trusted proxy names them.
3. A user header (``settings.user_header``, e.g. ``X-Forwarded-Email``) set by an SSO proxy,
   believed only when the request comes from an address in ``settings.trusted_proxies`` (the
   TCP peer, not a forwarded-for header, which anyone can write). A proxy in front must set the
   header and drop any copy a client sent; naming its address here is what makes pdsearch
   believe it, the way uvicorn's ``--forwarded-allow-ips`` works for forwarded headers.
4. Nobody: without trusted proxies the page needs a signed-in session (the caller redirects to
   sign-in); with them, it says that the single sign-on did not name anyone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from fastapi import Request

from pdsearch.config import Settings

How = Literal["demo", "admin", "header", "none"]


@dataclass(frozen=True)
class SearchIdentity:
    email: str  # "" when nobody is known
    how: How
    #: A user header arrived from an address that is not a trusted proxy, and was ignored.
    header_ignored: bool = False


def trusted_header_user(settings: Settings, request: Request) -> tuple[str, bool]:
    """The user the header names when a trusted proxy sent it, and whether one was ignored."""
    value = (request.headers.get(settings.user_header) or "").strip()
    if not value:
        return "", False
    peer = request.client.host if request.client else None
    if settings.trusts_proxy(peer):
        return value, False
    return "", True


def search_identity(
    settings: Settings,
    request: Request,
    *,
    signed_in: bool,
    chosen: str,
    demo_users: list[str],
) -> SearchIdentity:
    """Whom the search page searches as (see the module); ``chosen`` is ``?user=``."""
    header_user, ignored = trusted_header_user(settings, request)
    chosen = chosen.strip()
    known = {email.lower(): email for email in demo_users}
    if demo_users and (not signed_in or not chosen or chosen.lower() in known):
        # The demo: one of its sample users, never anyone else (unless an admin asks).
        return SearchIdentity(known.get(chosen.lower(), demo_users[0]), "demo", ignored)
    if signed_in:
        # A signed-in administrator checks what anyone sees; by default, themselves.
        return SearchIdentity(chosen or header_user, "admin", ignored)
    if header_user:
        return SearchIdentity(header_user, "header")
    return SearchIdentity("", "none", ignored)
