"""One request, done properly: auth, the shared rate limit, the concurrency cap, retries, errors.

This is the only place that sends REST API requests and the only place that retries them:

- 2xx: the JSON body. A body that isn't JSON (typically cut short) is retried like a broken
  connection, then becomes ``InvalidResponseError``.
- 429: wait ``ratelimit-reset`` seconds (or back off exponentially with jitter when PagerDuty sends
  no headers), for at most ``RetryPolicy.max_rate_limit_wait`` seconds, then ``RateLimitError``.
- 5xx, 408, timeouts, broken connections: exponential backoff with jitter, at most
  ``max_attempts`` tries and ``max_elapsed`` seconds, then ``ServerError`` / ``TransportError``.
  A refused connection (nothing listens at the address) gets one quick retry, then a
  ``TransportError`` naming the host: a person pressing Connect hears of it within a second.
- 401: the credential is renewed once (OAuth refresh) and the request tried again; then
  ``AuthenticationError``. 400, 402, 403 and 404 are never retried.
- A request that cannot even be written (a credential with a newline or an accented letter, a
  URL httpx refuses) is ``ConfigurationError`` at once: sending it again cannot help, and calling
  it "unreachable" would send people looking at the network.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Mapping, Sequence
from typing import Any, NoReturn, TypedDict

import httpx

from pdsearch.pagerduty.auth import HEADER_SAFE_RULE, Auth, header_safe
from pdsearch.pagerduty.errors import (
    AbilityError,
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    InvalidResponseError,
    NotFoundError,
    PagerDutyError,
    PagingLimitError,
    RateLimitError,
    ScopeError,
    ServerError,
    TransportError,
    scrub,
)
from pdsearch.pagerduty.ratelimit import RateLimiter
from pdsearch.pagerduty.regions import API_BASE_URLS
from pdsearch.pagerduty.timing import Clock, RetryPolicy

log = logging.getLogger("pdsearch.pagerduty")

ACCEPT = "application/vnd.pagerduty+json;version=2"
#: A refused connection is tried once more after this many seconds, then reported.
REFUSED_RETRY_DELAY = 0.25
REFUSED_RETRIES = 1
Params = Mapping[str, str | int | bool | Sequence[str]]

# The scope each path needs (FACTS §1, ``x-pd-requires-scope``); the first match wins.
_SCOPE_BY_PATH: tuple[tuple[str, str], ...] = (
    ("/audit/records", "audit_records.read"),
    ("/v3/schedules", "schedules.read"),
    ("/escalation_policies", "escalation_policies.read"),
    ("/schedules", "schedules.read"),
    ("/teams", "teams.read"),
    ("/users", "users.read"),
    ("/abilities", "abilities.read"),
    ("/tags", "tags.read"),
    ("/services", "services.read"),
)


def scope_for(path: str) -> str | None:
    for marker, scope in _SCOPE_BY_PATH:
        if marker == "/audit/records" and marker in path:
            return scope
        if path == marker or path.startswith(marker + "/"):
            return scope
    return None


def _ability_for(path: str, params: Params | None) -> str | None:
    if "/audit/records" in path:
        return "audit_trail"
    if path.startswith("/teams") or (params is not None and "team_ids[]" in params):
        return "teams"
    if path.startswith("/abilities/"):
        return path.rsplit("/", 1)[-1]
    return None


def _error_detail(response: httpx.Response) -> tuple[int | None, str]:
    """PagerDuty's error code and text; ``errors`` may be a list or an object (v3)."""
    try:
        data = response.json()
    except ValueError:
        return None, ""
    error = data.get("error") if isinstance(data, dict) else None
    if not isinstance(error, dict):
        return None, ""
    code = error.get("code") if isinstance(error.get("code"), int) else None
    parts = [str(error.get("message") or "")]
    errors = error.get("errors")
    if isinstance(errors, list):
        parts += [str(e) for e in errors]
    elif isinstance(errors, dict):
        parts += [f"{k}: {v}" for k, v in errors.items()]
    return code, "; ".join(p.rstrip(". ") for p in parts if p)[:500]


def _refused(exc: BaseException) -> bool:
    """Whether a connect error is a refusal (nothing listens there): the OS said so, anywhere
    in the chain of causes httpx and its transport wrap it in."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ConnectionRefusedError) or "Connection refused" in str(current):
            return True
        current = current.__cause__ or current.__context__
    return False


def _reason(exc: BaseException) -> str:
    return str(exc).strip() or type(exc).__name__


def _host(url: str) -> str:
    """host:port of a URL, as a person would look for it."""
    parsed = httpx.URL(url)
    return f"{parsed.host}:{parsed.port}" if parsed.port else parsed.host


def _flat_params(params: Params | None) -> httpx.QueryParams:
    flat: list[tuple[str, str | int | float | bool | None]] = []
    for name, value in (params or {}).items():
        if isinstance(value, bool):
            flat.append((name, "true" if value else "false"))
        elif isinstance(value, str | int):
            flat.append((name, str(value)))
        else:
            flat.extend((name, str(v)) for v in value)
    return httpx.QueryParams(flat)


class _Where(TypedDict):
    method: str
    path: str
    status_code: int
    code: int | None


class Session:
    """Sends requests for one ``PagerDutyClient``; see the module docstring."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        base_url: str,
        auth: Auth,
        limiter: RateLimiter,
        *,
        max_concurrency: int,
        timeout: float,
        policy: RetryPolicy,
        clock: Clock,
        rng: random.Random,
    ) -> None:
        self.http = http
        self.base_url = base_url
        self.auth = auth
        self.limiter = limiter
        self.policy = policy
        self.clock = clock
        self.rng = rng
        self.timeout = timeout
        self._semaphore = asyncio.Semaphore(max_concurrency)
        self.retries = 0

    def _scrub(self, text: str) -> str:
        return scrub(text, self.auth.secrets())

    def _auth_hint(self) -> str:
        if self.base_url == API_BASE_URLS["us"]:
            return (
                "If the account is in PagerDuty's EU service region, set the region to eu. "
                "Otherwise check that the credential is right and has not been revoked."
            )
        if self.base_url == API_BASE_URLS["eu"]:
            return (
                "If the account is in PagerDuty's US service region, set the region to us. "
                "Otherwise check that the credential is right and has not been revoked."
            )
        return (
            f"Check that the base URL {self.base_url} is the PagerDuty API of the account's "
            "region, and that the credential is right and has not been revoked."
        )

    def _raise_for(
        self, response: httpx.Response, method: str, path: str, params: Params | None, renewed: bool
    ) -> NoReturn:
        status = response.status_code
        code, detail = _error_detail(response)
        detail = self._scrub(detail)
        said = f" PagerDuty said: {detail}." if detail else ""
        where = _Where(method=method, path=path, status_code=status, code=code)
        if status == 401:
            again = " even after renewing it" if renewed else ""
            raise AuthenticationError(
                f"PagerDuty rejected the {self.auth.kind}{again} (401 Unauthorized) on "
                f"{method} {path} at {self.base_url}. {self._auth_hint()}",
                **where,
            )
        if status == 403:
            scope = scope_for(path)
            needs = (
                f"the credential lacks the '{scope}' scope (or the user may not see this)"
                if scope
                else "the credential may not read this"
            )
            raise ScopeError(
                f"PagerDuty refused {method} {path} (403 Forbidden): {needs}.{said} Grant "
                f"{scope or 'read access'} to the app or use a key with read access, then "
                "connect again.",
                scope=scope,
                **where,
            )
        if status == 402:
            ability = _ability_for(path, params)
            raise AbilityError(
                f"PagerDuty refused {method} {path} (402 Payment Required): the account lacks "
                f"the '{ability or 'required'}' ability on its plan.{said}",
                ability=ability,
                **where,
            )
        if status == 404:
            raise NotFoundError(
                f"PagerDuty has no {path} (404 Not Found); it may have been deleted.{said}",
                **where,
            )
        if status == 400 and code == 2002:
            raise PagingLimitError(
                f"PagerDuty refused {method} {path}: offset + limit past its 10,000 cap.{said}",
                **where,
            )
        raise BadRequestError(
            f"PagerDuty refused {method} {path} ({status}).{said} This is likely a bug in "
            "pdsearch or a change in PagerDuty's API; please report it.",
            **where,
        )

    def _unsendable(self, method: str, path: str, authorization: str) -> ConfigurationError:
        """The error for a request httpx refused to write, naming what to fix."""
        _scheme, _, credential = authorization.partition(" ")
        if not header_safe(credential):
            again = (
                "Enter the API key again."
                if self.auth.kind == "API key"
                else "Authorize the connector with PagerDuty again."
            )
            message = (
                f"The {self.auth.kind} cannot be sent to PagerDuty: it {HEADER_SAFE_RULE}. "
                f"{again} Nothing was sent."
            )
        else:
            message = (
                f"The request {method} {path} to {self.base_url} cannot be sent: httpx refused "
                "to write it. Check the connector's base URL. Nothing was sent."
            )
        return ConfigurationError(message, method=method, path=path)

    def _transport_problem(
        self, exc: TimeoutError | httpx.TransportError, method: str, path: str, url: str
    ) -> TransportError:
        """The error for a request that got no answer: timed out, refused, or cut."""
        if isinstance(exc, (TimeoutError, httpx.TimeoutException)):
            return TransportError(
                f"PagerDuty did not answer {method} {path} within {self.timeout:g} s.",
                method=method,
                path=path,
            )
        if isinstance(exc, httpx.ConnectError):
            if _refused(exc):
                return TransportError(
                    f"nothing answered at {_host(url)} (connection refused, {method} "
                    f"{path}): no server listens at {self.base_url}.",
                    method=method,
                    path=path,
                )
            return TransportError(
                f"Could not connect to {_host(url)} during {method} {path} ({_reason(exc)}).",
                method=method,
                path=path,
            )
        return TransportError(
            f"The connection to {self.base_url} failed during {method} {path} "
            f"({type(exc).__name__}).",
            method=method,
            path=path,
        )

    def _outcome(
        self, response: httpx.Response, method: str, path: str, params: Params | None, renewed: bool
    ) -> tuple[int, Any] | PagerDutyError:
        """A 2xx answer's status and decoded JSON (or None), or the error worth a retry (a 5xx,
        a 408, a body that is not JSON); raises for any other answer."""
        status = response.status_code
        if 200 <= status < 300:
            if status == 204 or not response.content:
                return status, None
            try:
                return status, json.loads(response.content)
            except ValueError:
                return InvalidResponseError(
                    f"PagerDuty's answer to {method} {path} is not valid JSON; it may "
                    "have been cut short, or a proxy answered instead of PagerDuty.",
                    method=method,
                    path=path,
                    status_code=status,
                )
        if status >= 500 or status == 408:
            _, detail = _error_detail(response)
            return ServerError(
                f"PagerDuty answered {status} to {method} {path}"
                + (f" ({self._scrub(detail)})" if detail else "")
                + ". It may be having trouble; try again later.",
                method=method,
                path=path,
                status_code=status,
            )
        self._raise_for(response, method, path, params, renewed)

    async def request(
        self, method: str, path: str, params: Params | None = None
    ) -> tuple[int, Any]:
        """Send one request (with retries); returns the status and the decoded JSON (or None)."""
        url = self.base_url + path
        query = _flat_params(params)
        started = self.clock.monotonic()
        attempts = 0
        rate_waited = 0.0
        renewed = tried_renewal = False
        refused = 0
        while True:
            authorization = await self.auth.authorization(self.http, self.clock)
            headers = {"Authorization": authorization, "Accept": ACCEPT}
            problem: PagerDutyError | None = None
            unsendable: ConfigurationError | None = None
            async with self._semaphore:
                await self.limiter.acquire()
                response: httpx.Response | None = None
                try:
                    async with asyncio.timeout(self.timeout):
                        response = await self.http.request(
                            method, url, params=query, headers=headers
                        )
                except (
                    UnicodeEncodeError,
                    httpx.LocalProtocolError,
                    httpx.InvalidURL,
                    httpx.UnsupportedProtocol,
                ):
                    unsendable = self._unsendable(method, path, authorization)
                except (TimeoutError, httpx.TransportError) as exc:
                    problem = self._transport_problem(exc, method, path, url)
                    refused += isinstance(exc, httpx.ConnectError) and _refused(exc)
                finally:
                    limited = response is not None and response.status_code == 429
                    self.limiter.release(
                        response.headers if response is not None else None, rate_limited=limited
                    )
            if unsendable is not None:
                # Raised out here, not in the except clause, so httpx's error (whose message
                # quotes the header, secret and all) is not kept as its context.
                raise unsendable
            if response is not None:
                status = response.status_code
                log.debug("%s %s -> %d", method, path, status)
                if status == 429:
                    pause = self.limiter.on_429(response.headers, self.policy, self.rng)
                    rate_waited += pause
                    if rate_waited > self.policy.max_rate_limit_wait:
                        raise RateLimitError(
                            f"PagerDuty kept answering 429 Too Many Requests to {method} {path} "
                            f"for over {self.policy.max_rate_limit_wait:g} s. Another program "
                            "may be spending this credential's request budget; try again later.",
                            method=method,
                            path=path,
                            status_code=429,
                        )
                    log.warning(
                        "PagerDuty rate limit reached on %s %s; pausing %.1f s", method, path, pause
                    )
                    await self.clock.sleep(pause)
                    continue
                self.limiter.on_success()
                if status == 401 and not tried_renewal:
                    tried_renewal = True
                    # Only a credential that can be renewed (an OAuth token) was: an API key
                    # never is, and its message must not say so.
                    if await self.auth.renew_after_401(self.http, self.clock, authorization):
                        renewed = True
                        log.info("401 on %s %s; retrying with a renewed credential", method, path)
                        continue
                outcome = self._outcome(response, method, path, params, renewed)
                if not isinstance(outcome, PagerDutyError):
                    return outcome
                problem = outcome
            if problem is None:
                raise RuntimeError(f"{method} {path} neither answered nor failed")
            attempts += 1
            delay = self.policy.backoff(attempts, self.rng)
            if refused:
                # A refused connection is answered at once and rarely mends within seconds:
                # one quick retry (a server restarting), not a 5xx's backoff.
                delay = min(delay, REFUSED_RETRY_DELAY)
            elapsed = self.clock.monotonic() - started
            if (
                attempts >= self.policy.max_attempts
                or refused > REFUSED_RETRIES
                or elapsed + delay > self.policy.max_elapsed
            ):
                problem.message = problem.message + f" Gave up after {attempts} attempts."
                problem.args = (problem.message,)
                raise problem
            self.retries += 1
            log.info("%s Retrying in %.1f s (attempt %d).", problem.message, delay, attempts + 1)
            await self.clock.sleep(delay)
