"""How requests prove who sends them: the ``Auth`` interface and API keys.

An ``Auth`` gives the ``Authorization`` header for the next request (refreshing an OAuth token
first when it is about to expire) and, after a 401, may renew the credential once. OAuth lives in
``oauth.py`` (``OAuthAuth``, ``AppTokenAuth``). No ``Auth`` ever shows its secret in ``repr``.
"""

from __future__ import annotations

import hashlib
import re
from abc import ABC, abstractmethod
from typing import Final

import httpx

from pdsearch.pagerduty.errors import ConfigurationError
from pdsearch.pagerduty.timing import Clock

#: What a credential may hold to travel in an HTTP header: printable ASCII, no spaces. PagerDuty's
#: keys and tokens are such (``y_NbAkKc66ryYTWUXYEu``, ``u+abcDEF...``); anything else (an accented
#: letter, a newline, a pasted space) cannot be sent, so it is refused where it is entered.
HEADER_SAFE: Final = re.compile(r"[!-~]+")
HEADER_SAFE_RULE: Final = (
    "must be printable ASCII: letters, digits and symbols such as + _ - . / =, with no spaces, "
    "control characters or accented letters"
)


def header_safe(value: str) -> bool:
    """True when ``value`` can be sent as is in an HTTP header (``HEADER_SAFE``)."""
    return HEADER_SAFE.fullmatch(value) is not None


def fingerprint(*parts: str) -> str:
    """A stable, non-reversible name for a credential (rate-limiter sharing, logs)."""
    digest = hashlib.sha256("\x00".join(parts).encode()).hexdigest()
    return digest[:16]


class Auth(ABC):
    """A credential the client signs requests with."""

    #: What the credential is, for messages: "API key", "OAuth token", "OAuth app token".
    kind: str = "credential"
    #: True when the credential is known to be account-level without asking PagerDuty.
    account_level: bool | None = None
    #: The account's subdomain when the credential already names it (app tokens).
    subdomain: str | None = None

    @abstractmethod
    async def authorization(self, http: httpx.AsyncClient, clock: Clock) -> str:
        """The ``Authorization`` header value for the next request."""

    async def renew_after_401(self, http: httpx.AsyncClient, clock: Clock, rejected: str) -> bool:
        """After a 401 for header ``rejected``: renew the credential; True when worth a retry."""
        return False

    @abstractmethod
    def secrets(self) -> list[str]:
        """Every secret this credential holds now, to scrub from any text a server sent back."""

    @abstractmethod
    def limiter_key(self) -> str:
        """Names the rate-limit budget this credential spends (a fingerprint, not a secret)."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(<{self.kind} hidden>)"


class ApiKeyAuth(Auth):
    """A PagerDuty REST API key, account-level or a user's: ``Authorization: Token token=...``."""

    kind = "API key"

    def __init__(self, api_key: str) -> None:
        key = api_key.strip()
        if not key:
            raise ConfigurationError("The PagerDuty API key is empty; paste the key again.")
        if not header_safe(key):
            # Never repeat the key: the message reaches logs, job records and pages.
            raise ConfigurationError(
                f"The PagerDuty API key cannot be sent: it {HEADER_SAFE_RULE}. Enter the key "
                "again (copy it from PagerDuty, Integrations → API Access Keys)."
            )
        self._api_key = key

    async def authorization(self, http: httpx.AsyncClient, clock: Clock) -> str:
        return f"Token token={self._api_key}"

    def secrets(self) -> list[str]:
        return [self._api_key]

    def limiter_key(self) -> str:
        return "key:" + fingerprint(self._api_key)
