"""Reaching the node: the URL, the client, one retry policy and errors a person can act on.

Retries live here and only here (the client's own are off): a request answered 429, 502, 503
or 504, or not answered at all, is tried again after a growing, jittered pause, a bounded number
of times; then it fails with an error naming the node and what happened. Writes are safe to
repeat (each carries its document's ``_id``). The password is handed to the client and to
nothing else: messages show the URL without credentials, and any message that would still hold
the password has it blanked.
"""

from __future__ import annotations

import logging
import random
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Final, TypeVar
from urllib.parse import unquote, urlsplit

from opensearchpy import OpenSearch
from opensearchpy.exceptions import ConnectionError as ClientConnectionError
from opensearchpy.exceptions import ConnectionTimeout, SSLError, TransportError

from pdsearch.index.errors import IndexSettingsError
from pdsearch.index.opensearch.errors import (
    OpenSearchAuthError,
    OpenSearchIndexError,
    OpenSearchUnavailableError,
)

log = logging.getLogger(__name__)

T = TypeVar("T")
E = TypeVar("E", bound=OpenSearchIndexError)

RETRY_STATUSES: Final = frozenset({429, 502, 503, 504})
DEFAULT_TIMEOUT: Final = 30.0


@dataclass(frozen=True)
class RetryPolicy:
    """``attempts`` tries in all; the pause before try n+1 is ``first_delay`` × 2ⁿ⁻¹, at most
    ``max_delay``, each between half and all of that (jitter spreads replicas' retries)."""

    attempts: int
    first_delay: float
    max_delay: float

    def delays(self, rng: random.Random | None = None) -> Iterator[float]:
        pick = rng or random
        delay = self.first_delay
        for _ in range(self.attempts - 1):
            yield delay * (0.5 + pick.random() / 2)
            delay = min(delay * 2, self.max_delay)

    @property
    def longest_wait(self) -> float:
        """The most a request can spend pausing between its tries."""
        total, delay = 0.0, self.first_delay
        for _ in range(self.attempts - 1):
            total += delay
            delay = min(delay * 2, self.max_delay)
        return total


#: Reads: a person is waiting; a short hiccup (a node restarting, a full queue) is bridged.
READ_RETRY: Final = RetryPolicy(attempts=3, first_delay=0.2, max_delay=1.0)
#: Writes (a sync's batches): long enough for a busy node to drain its queues, about 30 s.
WRITE_RETRY: Final = RetryPolicy(attempts=8, first_delay=0.5, max_delay=8.0)


@dataclass(frozen=True)
class Endpoint:
    """Where the node is. ``url`` is how messages name it: never with credentials."""

    url: str
    scheme: str
    host: str
    port: int
    path: str
    username: str | None = None
    password: str | None = None


def parse_url(url: str) -> Endpoint:
    """``http(s)://[user:password@]host[:port][/path]``; ``IndexSettingsError`` (a
    ``ValueError``) for anything else."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise IndexSettingsError(
            "the OpenSearch URL must look like http(s)://host:port, e.g. http://127.0.0.1:9200 "
            f"(got {_without_credentials(url)!r})"
        )
    if parts.query or parts.fragment:
        raise IndexSettingsError("the OpenSearch URL takes no query string or fragment")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 9200)
    except ValueError:
        raise IndexSettingsError(
            f"the OpenSearch URL {_without_credentials(url)!r} has an invalid port"
        ) from None
    host = parts.hostname
    shown_host = f"[{host}]" if ":" in host else host
    path = parts.path.rstrip("/")
    return Endpoint(
        url=f"{parts.scheme}://{shown_host}:{port}{path}",
        scheme=parts.scheme,
        host=host,
        port=port,
        path=path,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
    )


def _without_credentials(url: str) -> str:
    return re.sub(r"//[^/@]*@", "//", url)


def make_client(
    endpoint: Endpoint,
    *,
    username: str | None,
    password: str | None,
    verify_certs: bool,
    ca_certs: str | None,
    timeout: float,
) -> OpenSearch:
    if password and not username:
        raise IndexSettingsError("an OpenSearch password was given without a username")
    host: dict[str, Any] = {"host": endpoint.host, "port": endpoint.port,
                            "scheme": endpoint.scheme}
    if endpoint.path:
        host["url_prefix"] = endpoint.path
    options: dict[str, Any] = {}
    if endpoint.scheme == "https":
        options.update(use_ssl=True, verify_certs=verify_certs, ssl_show_warn=False)
        if ca_certs:
            options["ca_certs"] = ca_certs
        if not verify_certs:
            log.warning("TLS certificates of OpenSearch at %s are not verified", endpoint.url)
    return OpenSearch(
        hosts=[host],
        http_auth=(username, password or "") if username else None,
        timeout=timeout,
        max_retries=0,  # retries are ours (call), with pauses; the client's have none
        retry_on_timeout=False,
        pool_maxsize=32,  # the service searches from a pool of threads
        **options,
    )


class Caller:
    """Makes requests with retries and turns failures into ``OpenSearchIndexError``s."""

    def __init__(
        self, endpoint: Endpoint, secrets: tuple[str, ...], sleep: Callable[[float], None]
    ) -> None:
        self.endpoint = endpoint
        self._secrets = tuple(s for s in secrets if s)
        self.sleep = sleep

    def call(self, doing: str, request: Callable[[], T], policy: RetryPolicy = READ_RETRY) -> T:
        """``request()``, tried again per ``policy`` while it fails in a way that may pass.
        ``doing`` completes "could not ..." in the error."""
        delays = policy.delays()
        while True:
            try:
                return request()
            except TransportError as exc:
                delay = next(delays, None) if retryable(exc) else None
                if delay is None:
                    raise self.error(exc, doing) from exc
                log.info("OpenSearch at %s: %s (%s); trying again in %.1f s",
                         self.endpoint.url, doing, status_text(exc), delay)
                self.sleep(delay)

    def error(self, exc: TransportError, doing: str) -> OpenSearchIndexError:
        """The error a person sees for ``exc``."""
        url = self.endpoint.url
        if isinstance(exc, ClientConnectionError):
            why = connection_reason(exc)
            if isinstance(exc, SSLError):
                return self.scrub(OpenSearchUnavailableError(
                    f"OpenSearch at {url} did not answer: the TLS handshake failed ({why}). "
                    "Check the certificate authority (ca_certs), or whether the node speaks "
                    "https at all."
                ))
            return self.scrub(OpenSearchUnavailableError(
                f"OpenSearch at {url} did not answer: {why}. Check that the node runs and that "
                "the index URL names it."
            ))
        status = exc.status_code
        reason = error_reason(exc)
        if status == 401:
            return self.scrub(OpenSearchAuthError(
                f"OpenSearch at {url} refused the credentials (401) while trying to {doing}. "
                "Check the index username and password."
            ))
        if status == 403:
            return self.scrub(OpenSearchAuthError(
                f"OpenSearch at {url} does not let this user {doing} (403: {reason}). Grant "
                "the user the index permissions pdsearch needs (docs/DEPLOY.md)."
            ))
        if isinstance(status, int) and (status in RETRY_STATUSES or status >= 500):
            return self.scrub(OpenSearchUnavailableError(
                f"OpenSearch at {url} could not {doing} ({status}: {reason}), even after "
                "retrying. Check the cluster's health; then try again."
            ))
        return self.scrub(OpenSearchIndexError(
            f"OpenSearch at {url} refused to {doing} ({status}: {reason})."
        ))

    def scrub(self, error: E) -> E:
        """``error`` with any secret blanked from its message."""
        message = str(error)
        clean = message
        for secret in self._secrets:
            clean = clean.replace(secret, "***")
        if clean != message:
            error.args = (clean,)
        return error


def retryable(exc: TransportError) -> bool:
    if isinstance(exc, ClientConnectionError):
        return not isinstance(exc, SSLError)  # a bad certificate won't get better
    return exc.status_code in RETRY_STATUSES


def status_text(exc: TransportError) -> str:
    if isinstance(exc, ClientConnectionError):
        return connection_reason(exc)
    return f"{exc.status_code}: {error_reason(exc)}"


_ERRNO = re.compile(r"\[Errno -?\d+\] ([^'\")\]]+)")


def connection_reason(exc: TransportError) -> str:
    """A short reason for a request that got no answer: "Connection refused", "timed out"."""
    if isinstance(exc, ConnectionTimeout):
        return "the request timed out"
    text = " ".join(str(part) for part in (exc.error, exc.info, exc.__cause__) if part)
    found = _ERRNO.search(text)
    if found:
        return found.group(1).strip()
    if "Name or service not known" in text or "nodename nor servname" in text:
        return "the host name does not resolve"
    return type(exc.info).__name__ if isinstance(exc.info, Exception) else "no answer"


def error_reason(exc: TransportError) -> str:
    """OpenSearch's own reason for an error answer, cut short."""
    info = exc.info
    reason: object = exc.error
    if isinstance(info, dict):
        err = info.get("error")
        if isinstance(err, dict):
            reason = err.get("reason") or err.get("type") or reason
        elif isinstance(err, str):
            reason = err
    text = str(reason)
    return text if len(text) <= 300 else text[:300] + "…"


def wait(seconds: float) -> None:
    """The default pause between tries (tests pass their own)."""
    time.sleep(seconds)
