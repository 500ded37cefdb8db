"""Request and response bodies of the REST API (DESIGN.md 2.4), as pydantic models.

Requests forbid unknown fields, so a typo ("intervall_minutes") is a clear 422 instead of being
ignored. Secrets arrive as ``SecretStr``: they never show in a repr, a log line or an error.
"""

from __future__ import annotations

from typing import Annotated, Any, Generic, Literal, TypeVar
from urllib.parse import urlsplit

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from pdsearch.pagerduty.regions import is_loopback_host

T = TypeVar("T")

MAX_LIST_LIMIT = 500
DEFAULT_LIST_LIMIT = 50
MAX_SEARCH_LIMIT = 100

Region = Literal["us", "eu"]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


def _check_url(value: str | None) -> str | None:
    """The client's rules (``pagerduty.regions``), checked up front so a bad URL is a 422 now
    rather than a failed Connect later. Messages never repeat the URL: it could hold a password."""
    if value is None or not value.strip():
        return None
    if any(c.isspace() or not c.isprintable() for c in value.strip()):
        # NUL, escapes or spaces would only fail later, inside a request to PagerDuty.
        raise ValueError("must not contain spaces or control characters")
    try:
        parts = urlsplit(value.strip())
        parts.port  # noqa: B018 - raises ValueError for a port out of range
        httpx.URL(value.strip())
    except (ValueError, httpx.InvalidURL):
        raise ValueError("must be a full URL such as https://api.pagerduty.com") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be a full URL such as https://api.pagerduty.com")
    if parts.username or parts.password:
        raise ValueError("must not carry a user name or password")
    if parts.scheme == "http" and not is_loopback_host(parts.hostname):
        raise ValueError(
            "must use https:// (plain http:// only for localhost or 127.0.0.1, so credentials "
            "are never sent unencrypted)"
        )
    if parts.query or parts.fragment:
        raise ValueError("must not carry a query string or fragment")
    return value.strip().rstrip("/")


# --- errors -------------------------------------------------------------------------------


class ErrorDetail(BaseModel):
    code: str = Field(examples=["not_found"])
    message: str = Field(examples=["No connector with id 'c_123'. List them to see which exist."])


class ErrorOut(BaseModel):
    error: ErrorDetail


class Page(BaseModel, Generic[T]):
    """Every list: one page of items and the total count."""

    data: list[T]
    total: int


# --- connectors ---------------------------------------------------------------------------


class ApiKeyAuthIn(_Request):
    type: Literal["api_key"]
    api_key: SecretStr = Field(min_length=1, description="a PagerDuty REST API key")


class OAuth2AuthIn(_Request):
    type: Literal["oauth2"]
    client_id: str = Field(min_length=1, max_length=500)
    client_secret: SecretStr = Field(min_length=1)


AuthIn = Annotated[ApiKeyAuthIn | OAuth2AuthIn, Field(discriminator="type")]


class ConnectorCreate(_Request):
    name: str = Field(min_length=1, max_length=200)
    auth: AuthIn
    region: Region = "us"
    base_url: str | None = Field(
        default=None, description="the REST API's base URL, when not the region's default"
    )
    oauth_base_url: str | None = Field(
        default=None, description="the OAuth host, when not identity.pagerduty.com"
    )

    @field_validator("base_url", "oauth_base_url")
    @classmethod
    def _urls(cls, value: str | None) -> str | None:
        return _check_url(value)


class ConnectorUpdate(_Request):
    """Only the fields given change. ``base_url``/``oauth_base_url`` set to null go back to the
    region's default."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    auth: AuthIn | None = None
    region: Region | None = None
    base_url: str | None = None
    oauth_base_url: str | None = None

    @field_validator("base_url", "oauth_base_url")
    @classmethod
    def _urls(cls, value: str | None) -> str | None:
        return _check_url(value)

    @model_validator(mode="after")
    def _not_empty(self) -> ConnectorUpdate:
        if not self.model_fields_set:
            raise ValueError("give at least one of name, auth, region, base_url, oauth_base_url")
        if "name" in self.model_fields_set and self.name is None:
            raise ValueError("name cannot be null")
        if "region" in self.model_fields_set and self.region is None:
            raise ValueError("region cannot be null")
        if "auth" in self.model_fields_set and self.auth is None:
            raise ValueError("auth cannot be null")
        return self


class ConnectorOut(BaseModel):
    id: str
    name: str
    auth_type: Literal["api_key", "oauth2"] | str
    region: str
    base_url: str | None
    oauth_base_url: str | None
    status: str = Field(description="new, connected, error or needs_authorization")
    subdomain: str | None
    last_error: str | None
    created_at: str | None
    updated_at: str | None
    oauth_redirect_uri: str | None = Field(
        default=None,
        description="for OAuth connectors: the redirect URL to register in the PagerDuty app",
    )


class AccountOut(BaseModel):
    subdomain: str
    account_level: bool | None = None
    abilities: list[str] = Field(default_factory=list)


class ConnectOut(BaseModel):
    status: Literal["connected"]
    account: AccountOut


class AuthorizeLinkOut(BaseModel):
    url: str = Field(description="open this in a browser within expires_in seconds, once")
    expires_in: int


# --- jobs ---------------------------------------------------------------------------------


class JobStarted(BaseModel):
    job_id: str


class JobOut(BaseModel):
    id: str
    connector_id: str
    status: str = Field(description="queued, running, succeeded, failed, canceled or skipped")
    trigger: str = Field(description="manual or scheduled")
    counts: dict[str, int]
    failures: list[dict[str, str]]
    requests: int
    error: str | None
    progress: dict[str, Any]
    created_at: str | None
    started_at: str | None
    finished_at: str | None
    duration_seconds: float | None


# --- schedule -----------------------------------------------------------------------------


class ScheduleIn(_Request):
    """Exactly one of the three; the scheduler checks the values (``pdsearch.scheduler``)."""

    # strict: true or "5" is a mistake to report, not a number of minutes to guess.
    interval_minutes: int | None = Field(
        default=None, strict=True, description="every n minutes (1..525600)"
    )
    cron: str | None = Field(
        default=None, max_length=200, description="a five-field crontab line, in UTC"
    )
    run_at: str | None = Field(
        default=None,
        max_length=64,
        description="once, at an ISO 8601 time with a time zone, e.g. 2030-01-01T09:00:00Z",
    )
    timezone: str | None = Field(
        default=None,
        max_length=64,
        description="with cron only: the IANA time zone the cron line is read in (default UTC)",
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> ScheduleIn:
        given = [k for k in ("interval_minutes", "cron", "run_at") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                "give exactly one of interval_minutes (a whole number of minutes), cron (five "
                "fields in UTC, e.g. '0 3 * * *') or run_at (an ISO 8601 time with a time zone)"
            )
        return self


class ScheduleOut(BaseModel):
    interval_minutes: int | None = None
    cron: str | None = None
    timezone: str | None = None
    run_at: str | None = None
    next_run_at: str | None = Field(description="when it fires next (UTC); null if it will not")
    last_run_at: str | None = Field(
        default=None, description="when it last fired (UTC); null if it has not yet"
    )


# --- documents, entities, search ----------------------------------------------------------


class DocumentOut(BaseModel):
    id: str
    type: str
    title: str
    content: str
    url: str
    sys_racl: list[str]
    source: str = Field(description="the id of the connector the document came from")
    content_hash: str


class EntityOut(BaseModel):
    entityId: str
    name: str
    type: str = Field(description="account or team")
    userIds: list[str]
    manualUserIds: list[str]


class UserListIn(_Request):
    userList: list[str] = Field(min_length=1, max_length=1000, description="e-mail addresses")

    @field_validator("userList")
    @classmethod
    def _emails(cls, value: list[str]) -> list[str]:
        out: list[str] = []
        for i, email in enumerate(value):
            email = email.strip()
            if "@" not in email or len(email) > 320 or any(c.isspace() for c in email):
                raise ValueError(f"item {i} is not an e-mail address")
            out.append(email)
        return out


class SearchIn(_Request):
    query: str = Field(max_length=10_000)
    user: str = Field(min_length=1, max_length=320, description="the searching user's e-mail")
    limit: int = Field(default=10, ge=1, le=MAX_SEARCH_LIMIT, strict=True)
    offset: int = Field(default=0, ge=0, le=10_000, strict=True)


class SearchResultOut(BaseModel):
    id: str
    type: str
    title: str
    snippet: str
    url: str
    score: float


class SearchOut(BaseModel):
    total: int
    results: list[SearchResultOut]
