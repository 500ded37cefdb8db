"""OAuth 2.0 with PagerDuty: authorization code with PKCE, refresh with rotation, app tokens.

The protocol pieces (PKCE S256 challenge, random state and verifier, authorization URL, token
request bodies) come from authlib; the HTTP goes through the client's own httpx transport, so the
simulator, proxies and tests see one client.

- ``authorization_request(...)`` builds the URL a person opens to approve access, with ``state``
  and the PKCE ``code_verifier`` to keep until the callback.
- ``exchange_code(...)`` swaps the callback's ``code`` for an ``OAuthToken``.
- ``OAuthAuth`` signs requests with a user's token. It refreshes ``refresh_leeway`` seconds ahead
  of expiry and once more after a 401. PagerDuty rotates refresh tokens, so every new token is
  handed to ``on_refresh`` (to be saved) *before* it is used; if saving fails, the new token is
  not used and the error says so.
- ``AppTokenAuth`` gets an account-level app token with the ``client_credentials`` grant and the
  ``as_account-<region>.<subdomain>`` scope, and simply asks for a new one when it runs out.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import random
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
from authlib.common.security import generate_token
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri, prepare_token_request
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from pdsearch.pagerduty.auth import Auth, fingerprint
from pdsearch.pagerduty.errors import AuthenticationError, ConfigurationError, OAuthError, scrub
from pdsearch.pagerduty.regions import check_region
from pdsearch.pagerduty.regions import oauth_base_url as resolve_oauth_base
from pdsearch.pagerduty.timing import SYSTEM_CLOCK, Clock, RetryPolicy

log = logging.getLogger("pdsearch.pagerduty")

#: The scopes the connector cannot work without (scoped OAuth apps must grant all of them).
REQUIRED_SCOPES: tuple[str, ...] = (
    "users.read",
    "teams.read",
    "schedules.read",
    "escalation_policies.read",
    "tags.read",
)
#: Used when granted: abilities (else the client probes ``/teams``) and audit records.
OPTIONAL_SCOPES: tuple[str, ...] = ("abilities.read", "audit_records.read")
#: What ``authorization_request`` asks for unless told otherwise.
DEFAULT_SCOPES: tuple[str, ...] = (*REQUIRED_SCOPES, "abilities.read")

DEFAULT_REFRESH_LEEWAY = 60.0
_TOKEN_ATTEMPTS = 3

@dataclass(frozen=True)
class OAuthToken:
    """A user's OAuth token; ``expires_at`` is Unix time in seconds (``None``: unknown)."""

    access_token: str = field(repr=False)
    refresh_token: str | None = field(default=None, repr=False)
    expires_at: float | None = None
    scope: str = ""

    @classmethod
    def from_response(
        cls, data: Mapping[str, Any], now: float, previous_refresh_token: str | None = None
    ) -> OAuthToken:
        """The token in a token endpoint's JSON answer; keeps the old refresh token if none came."""
        access = data.get("access_token")
        if not isinstance(access, str) or not access:
            raise OAuthError(
                "PagerDuty's token endpoint answered without an access token. Try again; if it "
                "persists, check the OAuth host setting."
            )
        expires_in = data.get("expires_in")
        expires_at = (
            now + float(expires_in)
            if isinstance(expires_in, int | float) and not isinstance(expires_in, bool)
            else None
        )
        refresh = data.get("refresh_token")
        if not isinstance(refresh, str) or not refresh:
            refresh = previous_refresh_token  # no rotation this time: the old one still works
        scope = data.get("scope")
        return cls(
            access_token=access,
            refresh_token=refresh,
            expires_at=expires_at,
            scope=scope if isinstance(scope, str) else "",
        )

    @property
    def scopes(self) -> frozenset[str]:
        return frozenset(self.scope.split())


#: Called with every new token before it is used; may be a coroutine function.
OnRefresh = Callable[[OAuthToken], Awaitable[None] | None]


@dataclass(frozen=True)
class AuthorizationRequest:
    """Where to send the person, and what to keep (server-side) until the callback."""

    url: str
    state: str
    code_verifier: str = field(repr=False)


def authorization_request(
    client_id: str,
    redirect_uri: str,
    *,
    region: str = "us",
    oauth_base_url: str | None = None,
    scopes: Sequence[str] = DEFAULT_SCOPES,
    state: str | None = None,
) -> AuthorizationRequest:
    """The authorization URL with PKCE (S256) and a fresh random ``state``."""
    base = resolve_oauth_base(region, oauth_base_url)
    code_verifier = generate_token(64)  # RFC 7636: 43 to 128 unreserved characters
    state = state or generate_token(32)
    url = prepare_grant_uri(
        f"{base}/oauth/authorize",
        client_id,
        "code",
        redirect_uri=redirect_uri,
        scope=" ".join(scopes),
        state=state,
        code_challenge=create_s256_code_challenge(code_verifier),
        code_challenge_method="S256",
    )
    return AuthorizationRequest(url=url, state=state, code_verifier=code_verifier)


def _describe(data: Any) -> tuple[str | None, str]:
    if isinstance(data, dict):
        error = data.get("error")
        description = data.get("error_description")
        if isinstance(error, dict):  # a REST-style error body
            return None, str(error.get("message") or "")
        return (
            error if isinstance(error, str) else None,
            description if isinstance(description, str) else "",
        )
    return None, ""


_ADVICE = {
    "refresh_token": (
        "The refresh token has expired or was revoked (or already used); authorize the "
        "connector with PagerDuty again."
    ),
    "authorization_code": (
        "Authorization codes are valid for 30 seconds and only once; start the authorization "
        "again."
    ),
    "client_credentials": (
        "Check the app's client ID and secret, the account subdomain and the region."
    ),
}


async def _token_call(
    http: httpx.AsyncClient,
    base: str,
    grant_type: str,
    form: dict[str, str],
    *,
    secrets: Sequence[str | None],
    clock: Clock,
) -> dict[str, Any]:
    """POST a grant to ``/oauth/token``; retries 5xx and broken connections a few times."""
    url = f"{base}/oauth/token"
    body = prepare_token_request(grant_type, **form)
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "Accept": "application/json",
    }
    policy = RetryPolicy()
    rng = random.Random()
    for attempt in range(1, _TOKEN_ATTEMPTS + 1):
        problem: str
        try:
            response = await http.post(url, content=body, headers=headers)
        except httpx.TransportError as exc:
            problem = f"could not reach {base} ({type(exc).__name__})"
        else:
            try:
                data: Any = response.json()
            except ValueError:
                data = None
            if response.status_code < 300 and isinstance(data, dict):
                return data
            if response.status_code < 500:
                error, description = _describe(data)
                what = error or f"HTTP {response.status_code}"
                detail = scrub(f"{what}: {description}" if description else what, secrets)
                if error == "invalid_client":
                    advice = "Check the OAuth app's client ID and secret."
                else:
                    advice = _ADVICE.get(grant_type, "")
                raise OAuthError(
                    f"PagerDuty refused the OAuth {grant_type.replace('_', ' ')} grant "
                    f"({detail}). {advice}".strip(),
                    error=error,
                    method="POST",
                    path="/oauth/token",
                    status_code=response.status_code,
                )
            problem = f"{base} answered {response.status_code}"
        if attempt == _TOKEN_ATTEMPTS:
            raise OAuthError(
                f"PagerDuty's OAuth token endpoint failed ({problem}) after {attempt} attempts. "
                "Try again later; check the OAuth host setting if it persists.",
                method="POST",
                path="/oauth/token",
            )
        delay = policy.backoff(attempt, rng)
        log.info("OAuth token request failed (%s); retrying in %.1f s", problem, delay)
        await clock.sleep(delay)
    raise AssertionError("unreachable")


async def exchange_code(
    client_id: str,
    client_secret: str,
    code: str,
    code_verifier: str,
    redirect_uri: str,
    *,
    region: str = "us",
    oauth_base_url: str | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    clock: Clock = SYSTEM_CLOCK,
    timeout_seconds: float = 30.0,
) -> OAuthToken:
    """Swap an authorization ``code`` (and its PKCE verifier) for a token."""
    base = resolve_oauth_base(region, oauth_base_url)
    async with httpx.AsyncClient(transport=transport, timeout=timeout_seconds) as http:
        data = await _token_call(
            http,
            base,
            "authorization_code",
            {
                "code": code,
                "redirect_uri": redirect_uri,
                "client_id": client_id,
                "client_secret": client_secret,
                "code_verifier": code_verifier,
            },
            secrets=[client_secret, code, code_verifier],
            clock=clock,
        )
    token = OAuthToken.from_response(data, clock.time())
    log.info("OAuth authorization code exchanged for a token (scope: %s)", token.scope or "-")
    return token


class OAuthAuth(Auth):
    """A user's OAuth token (``Authorization: Bearer ...``), refreshed and rotated as needed."""

    kind = "OAuth token"

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        token: OAuthToken,
        on_refresh: OnRefresh | None = None,
        oauth_base_url: str | None = None,
        region: str = "us",
        *,
        refresh_leeway: float = DEFAULT_REFRESH_LEEWAY,
    ) -> None:
        self.client_id = client_id
        self._client_secret = client_secret
        self._token = token
        self._on_refresh = on_refresh
        self.region = check_region(region)
        self.oauth_base_url = resolve_oauth_base(region, oauth_base_url)
        self.refresh_leeway = refresh_leeway
        self._lock: asyncio.Lock | None = None
        self._limiter_key = "oauth:" + fingerprint(
            client_id, token.refresh_token or token.access_token
        )
        self.refreshes = 0

    @property
    def token(self) -> OAuthToken:
        return self._token

    def _get_lock(self) -> asyncio.Lock:
        if self._lock is None:
            self._lock = asyncio.Lock()
        return self._lock

    def _due(self, token: OAuthToken, clock: Clock) -> bool:
        if token.expires_at is None:
            return False
        return token.expires_at - clock.time() <= self.refresh_leeway

    async def authorization(self, http: httpx.AsyncClient, clock: Clock) -> str:
        token = self._token
        if self._due(token, clock):
            async with self._get_lock():
                if self._token is token:  # nobody refreshed it while we waited
                    if token.refresh_token:
                        await self._refresh(http, clock)
                    elif token.expires_at is not None and token.expires_at <= clock.time():
                        raise AuthenticationError(
                            "The OAuth access token has expired and there is no refresh token "
                            "to renew it. Authorize the connector with PagerDuty again."
                        )
        return f"Bearer {self._token.access_token}"

    async def renew_after_401(self, http: httpx.AsyncClient, clock: Clock, rejected: str) -> bool:
        async with self._get_lock():
            if f"Bearer {self._token.access_token}" != rejected:
                return True  # already renewed by a concurrent request
            if not self._token.refresh_token:
                return False
            await self._refresh(http, clock)
            return True

    async def _refresh(self, http: httpx.AsyncClient, clock: Clock) -> None:
        old = self._token
        if old.refresh_token is None:
            raise RuntimeError("_refresh needs a token with a refresh token; callers check first")
        data = await _token_call(
            http,
            self.oauth_base_url,
            "refresh_token",
            {
                "refresh_token": old.refresh_token,
                "client_id": self.client_id,
                "client_secret": self._client_secret,
            },
            secrets=self.secrets(),
            clock=clock,
        )
        new = OAuthToken.from_response(data, clock.time(), old.refresh_token)
        if self._on_refresh is not None:
            try:
                result = self._on_refresh(new)
                if inspect.isawaitable(result):
                    await result
            except Exception as exc:
                log.error("saving the refreshed OAuth token failed (%s)", type(exc).__name__)
                raise OAuthError(
                    "PagerDuty issued a new OAuth token but saving it failed "
                    f"({type(exc).__name__}). The previous refresh token no longer works, so "
                    "authorize the connector with PagerDuty again."
                ) from None
        self._token = new
        self.refreshes += 1
        if new.expires_at is None:
            log.info("refreshed the OAuth access token")
        else:
            valid = new.expires_at - clock.time()
            log.info("refreshed the OAuth access token (valid for %.0f s)", valid)

    def secrets(self) -> list[str]:
        return [
            s
            for s in (self._client_secret, self._token.access_token, self._token.refresh_token)
            if s
        ]

    def limiter_key(self) -> str:
        return self._limiter_key


class AppTokenAuth(Auth):
    """An account-level app token from the ``client_credentials`` grant (scoped OAuth apps)."""

    kind = "OAuth app token"
    account_level = True

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        subdomain: str,
        region: str = "us",
        oauth_base_url: str | None = None,
        *,
        scopes: Sequence[str] = DEFAULT_SCOPES,
        refresh_leeway: float = DEFAULT_REFRESH_LEEWAY,
    ) -> None:
        if not subdomain.strip():
            raise ConfigurationError(
                "An app token needs the account's subdomain (the 'acme' of acme.pagerduty.com)."
            )
        self.client_id = client_id
        self._client_secret = client_secret
        self.subdomain = subdomain.strip().lower()
        self.region = check_region(region)
        self.oauth_base_url = resolve_oauth_base(region, oauth_base_url)
        self.scopes = tuple(scopes)
        self.refresh_leeway = refresh_leeway
        self._token: OAuthToken | None = None
        self._lock: asyncio.Lock | None = None
        self.fetches = 0

    @property
    def account_scope(self) -> str:
        return f"as_account-{self.region}.{self.subdomain}"

    def _get_lock(self) -> asyncio.Lock:
        if self._lock is None:
            self._lock = asyncio.Lock()
        return self._lock

    async def _fetch(self, http: httpx.AsyncClient, clock: Clock) -> OAuthToken:
        data = await _token_call(
            http,
            self.oauth_base_url,
            "client_credentials",
            {
                "scope": " ".join((self.account_scope, *self.scopes)),
                "client_id": self.client_id,
                "client_secret": self._client_secret,
            },
            secrets=self.secrets(),
            clock=clock,
        )
        token = OAuthToken.from_response(data, clock.time())
        self.fetches += 1
        log.info("obtained an OAuth app token for %s", self.account_scope)
        return token

    async def authorization(self, http: httpx.AsyncClient, clock: Clock) -> str:
        token = self._token
        due = token is None or (
            token.expires_at is not None
            and token.expires_at - clock.time() <= self.refresh_leeway
        )
        if due:
            async with self._get_lock():
                if self._token is token:
                    self._token = await self._fetch(http, clock)
        if self._token is None:
            raise RuntimeError("no access token after fetching one")
        return f"Bearer {self._token.access_token}"

    async def renew_after_401(self, http: httpx.AsyncClient, clock: Clock, rejected: str) -> bool:
        async with self._get_lock():
            if self._token is not None and f"Bearer {self._token.access_token}" != rejected:
                return True
            self._token = await self._fetch(http, clock)
            return True

    def secrets(self) -> list[str]:
        found = [self._client_secret]
        if self._token is not None:
            found.append(self._token.access_token)
        return [s for s in found if s]

    def limiter_key(self) -> str:
        return "app:" + fingerprint(self.client_id, self.region, self.subdomain or "")
