"""Every way a PagerDuty call can fail, as one exception hierarchy.

::

    PagerDutyError             anything this package raises on purpose
    ├── ConfigurationError     bad region, base URL or OAuth host (also a ValueError); nothing sent
    ├── AuthenticationError    401: key or token refused (the message suggests region/base URL)
    ├── OAuthError             the OAuth token endpoint refused (expired refresh token, bad code)
    ├── ScopeError             403: the credential lacks a scope (``.scope`` names it)
    ├── AbilityError           402: the account lacks an ability (``.ability`` names it)
    ├── NotFoundError          404
    ├── BadRequestError        any other 4xx PagerDuty refused (never retried)
    ├── RateLimitError         429 past the bound on waiting
    ├── ServerError            5xx or 408 past the bound on retries
    ├── TransportError         timeouts and broken connections past the bound on retries
    ├── InvalidResponseError   malformed JSON or a shape that isn't PagerDuty's (names the path)
    └── PagingLimitError       a listing past the 10,000 offset cap that no filter could split

Every error carries ``method`` and ``path`` (never a query string, never a header) and, for HTTP
errors, ``status_code`` and PagerDuty's numeric ``code``. Messages say what happened and what to
do. They never contain a secret: the client scrubs every credential it knows from any text a
server sent back before it goes into a message (``scrub``).
"""

from __future__ import annotations

from collections.abc import Iterable


class PagerDutyError(Exception):
    """Base class; ``str(error)`` is a message fit for a person."""

    def __init__(
        self,
        message: str,
        *,
        method: str | None = None,
        path: str | None = None,
        status_code: int | None = None,
        code: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.method = method
        self.path = path
        self.status_code = status_code
        self.code = code


class ConfigurationError(PagerDutyError, ValueError):
    """The client was configured in a way that cannot work; nothing was sent."""


class AuthenticationError(PagerDutyError):
    """PagerDuty answered 401: the credential is wrong, revoked, expired or for another region."""


class OAuthError(PagerDutyError):
    """The OAuth token endpoint refused a grant; ``.error`` is the OAuth error code."""

    def __init__(
        self,
        message: str,
        *,
        error: str | None = None,
        method: str | None = None,
        path: str | None = None,
        status_code: int | None = None,
        code: int | None = None,
    ) -> None:
        super().__init__(message, method=method, path=path, status_code=status_code, code=code)
        self.error = error


class ScopeError(PagerDutyError):
    """PagerDuty answered 403: the credential lacks the scope named in ``.scope``."""

    def __init__(
        self,
        message: str,
        *,
        scope: str | None = None,
        method: str | None = None,
        path: str | None = None,
        status_code: int | None = None,
        code: int | None = None,
    ) -> None:
        super().__init__(message, method=method, path=path, status_code=status_code, code=code)
        self.scope = scope


class AbilityError(PagerDutyError):
    """PagerDuty answered 402: the account's plan lacks the ability named in ``.ability``."""

    def __init__(
        self,
        message: str,
        *,
        ability: str | None = None,
        method: str | None = None,
        path: str | None = None,
        status_code: int | None = None,
        code: int | None = None,
    ) -> None:
        super().__init__(message, method=method, path=path, status_code=status_code, code=code)
        self.ability = ability


class NotFoundError(PagerDutyError):
    """PagerDuty answered 404."""


class BadRequestError(PagerDutyError):
    """PagerDuty answered 400 to a request this client built; a bug here or a changed API."""


class RateLimitError(PagerDutyError):
    """PagerDuty kept answering 429 for longer than the client is allowed to wait."""


class ServerError(PagerDutyError):
    """PagerDuty kept answering 5xx (or 408) after every retry."""


class TransportError(PagerDutyError):
    """The request never got an answer (timeout, refused or broken connection) after retries."""


class InvalidResponseError(PagerDutyError):
    """The answer was not JSON, or not shaped like PagerDuty's objects."""


class PagingLimitError(PagerDutyError):
    """A listing exceeds PagerDuty's 10,000 offset cap and could not be split to read it whole."""


def scrub(text: str, secrets: Iterable[str | None]) -> str:
    """``text`` with every non-trivial secret replaced, for text that came from elsewhere."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "[redacted]")
    return text
