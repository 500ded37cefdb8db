"""Who is calling: API keys (``Token token=``) and OAuth access tokens (``Bearer``).

A ``Principal`` is what a credential stands for: account-level (an account API key, an app token)
or a user (a user API key, a user OAuth token), with the scopes it carries (``None`` = every scope,
as for API keys) and the rate-limit bucket it counts against (FACTS §3: per key, per user across
a user's keys, per app per user, per app per account).
"""

from __future__ import annotations

import hashlib
import secrets
import string
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from pdsearch.simulator.scopes import VALID_SCOPES

PrincipalKind = Literal["api_key", "oauth_user", "oauth_app"]
_ID_CHARS = string.ascii_uppercase + string.digits


@dataclass(frozen=True)
class Principal:
    kind: PrincipalKind
    user_id: str | None  # None: account-level
    scopes: frozenset[str] | None  # None: every scope
    bucket: str
    client_id: str | None = None
    token_tail: str | None = None  # the last 4 characters, as audit records show them
    key_id: str | None = None  # an API key's own id, the actor of an account key's writes

    def allows(self, scope: str) -> bool:
        if self.scopes is None:
            return True
        if scope in self.scopes or "write" in self.scopes:
            return True
        # Classic OAuth's "read" scope covers every read.
        return scope.endswith(".read") and "read" in self.scopes


@dataclass
class AccessToken:
    principal: Principal
    expires_at: float


@dataclass
class RefreshToken:
    client_id: str
    user_id: str
    scopes: frozenset[str]


@dataclass
class AuthCode:
    client_id: str
    redirect_uri: str
    user_id: str
    scopes: frozenset[str]
    code_challenge: str
    expires_at: float


@dataclass
class TokenStore:
    """Every credential the simulator accepts; OAuth flows add to it, revocation removes."""

    clock: Callable[[], float]
    api_keys: dict[str, Principal] = field(default_factory=dict)
    access_tokens: dict[str, AccessToken] = field(default_factory=dict)
    refresh_tokens: dict[str, RefreshToken] = field(default_factory=dict)
    codes: dict[str, AuthCode] = field(default_factory=dict)

    def add_api_key(self, key: str, user_id: str | None = None) -> None:
        bucket = f"user:{user_id}" if user_id else f"key:{key}"
        self.api_keys[key] = Principal(
            "api_key", user_id, None, bucket, token_tail=key[-4:], key_id=key_id(key)
        )

    def revoke_api_key(self, key: str) -> None:
        self.api_keys.pop(key, None)

    def issue_access_token(
        self, client_id: str, user_id: str | None, scopes: frozenset[str], ttl: float
    ) -> str:
        token = "pdsim_at_" + secrets.token_urlsafe(24)
        if user_id is None:
            bucket = f"app:{client_id}:account"
        else:
            bucket = f"app:{client_id}:user:{user_id}"
        kind: PrincipalKind = "oauth_app" if user_id is None else "oauth_user"
        principal = Principal(kind, user_id, scopes, bucket, client_id, token[-4:])
        self.access_tokens[token] = AccessToken(principal, self.clock() + ttl)
        return token

    def issue_refresh_token(self, client_id: str, user_id: str, scopes: frozenset[str]) -> str:
        token = "pdsim_rt_" + secrets.token_urlsafe(24)
        self.refresh_tokens[token] = RefreshToken(client_id, user_id, scopes)
        return token

    def authenticate(self, header: str | None) -> Principal | None:
        """The principal behind an ``Authorization`` header, or ``None`` (401 code 2006)."""
        if not header:
            return None
        scheme, _, rest = header.strip().partition(" ")
        rest = rest.strip()
        if scheme == "Token" and rest.startswith("token="):
            return self.api_keys.get(rest[len("token=") :])
        if scheme.lower() == "bearer" and rest:
            access = self.access_tokens.get(rest)
            if access is None:
                return None
            if self.clock() >= access.expires_at:
                del self.access_tokens[rest]
                return None
            return access.principal
        return None


def key_id(key: str) -> str:
    """A stable PagerDuty-like id for an API key that reveals nothing of the key."""
    digest = hashlib.sha256(key.encode()).digest()
    return "P" + "".join(_ID_CHARS[b % len(_ID_CHARS)] for b in digest[:6])


def grant_scopes(requested: str) -> frozenset[str]:
    """PagerDuty grants the valid requested scopes; with none valid, only ``openid`` (FACTS §5)."""
    valid = frozenset(s for s in requested.split() if s in VALID_SCOPES)
    return valid or frozenset({"openid"})
