"""Request and response bodies of the REST API (DESIGN.md 2.4), as pydantic models.

Requests forbid unknown fields, so a typo ("intervall_minutes") is a clear 422 instead of being
ignored. Secrets arrive as ``SecretStr``: they never show in a repr, a log line or an error.
The text fields follow ``web.fields``, so the OpenAPI description says exactly what is accepted.
"""

from __future__ import annotations

from typing import Annotated, Any, Final, Generic, Literal, TypeVar
from urllib.parse import urlsplit

import httpx
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)
from pydantic.config import JsonDict

from pdsearch.pagerduty.regions import is_loopback_host
from pdsearch.web.fields import (
    CREDENTIAL_PATTERN,
    MAX_CREDENTIAL_LENGTH,
    NOT_BLANK,
    ConnectorName,
    Credential,
    Email,
    NotBlank,
    Trimmed,
    check_email,
    client_id_rule,
)

T = TypeVar("T")

MAX_LIST_LIMIT = 500
DEFAULT_LIST_LIMIT = 50
MAX_SEARCH_LIMIT = 100
MAX_QUERY_LENGTH = 10_000

Region = Literal["us", "eu"]

class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


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


#: What each error status means, for the OpenAPI description of every route that answers it.
ERROR_MEANINGS: Final[dict[int, str]] = {
    400: "PagerDuty refused the connector's credentials or settings; the code says which",
    401: "missing or wrong API token (checked before anything else, body and parameters "
    "included)",
    404: "no such connector, job, schedule, entity or document",
    409: "conflicts with the current state: the code says which (name taken, sync running, "
    "job finished, OAuth not authorized...)",
    413: "the request body is over 1 MiB",
    422: "the request is malformed (a body that is not UTF-8 JSON included); the message names "
    "each field",
    500: "an unexpected error (logged, answered without details), or the service's own state "
    "failing (store_error)",
    502: "PagerDuty could not be reached or failed",
    503: "the service is starting or stopping, or PagerDuty's rate limit outlasted the retries",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for these error statuses, each in the error shape."""
    return {
        status: {"model": ErrorOut, "description": ERROR_MEANINGS[status]} for status in statuses
    }


class Page(BaseModel, Generic[T]):
    """Every list: one page of items and the total count."""

    data: list[T]
    total: int


# --- connectors ---------------------------------------------------------------------------


class ApiKeyAuthIn(_Request):
    type: Literal["api_key"]
    api_key: Credential = Field(
        description="a PagerDuty REST API key, exactly as PagerDuty shows it: printable ASCII "
        "without spaces (e.g. y_NbAkKc66ryYTWUXYEu)"
    )


class OAuth2AuthIn(_Request):
    type: Literal["oauth2"]
    client_id: Annotated[
        str,
        Field(
            min_length=1,
            max_length=MAX_CREDENTIAL_LENGTH,
            json_schema_extra={"pattern": CREDENTIAL_PATTERN},
            description="the OAuth app's client id: printable ASCII without spaces",
        ),
        AfterValidator(client_id_rule),
    ]
    client_secret: Credential = Field(
        description="the OAuth app's client secret: printable ASCII without spaces"
    )


AuthIn = Annotated[ApiKeyAuthIn | OAuth2AuthIn, Field(discriminator="type")]


class ConnectorCreate(_Request):
    name: ConnectorName
    auth: AuthIn
    region: Region = "us"
    base_url: str | None = Field(
        default=None, description="the REST API's base URL, when not the region's default"
    )
    oauth_base_url: str | None = Field(
        default=None, description="the OAuth host, when not identity.pagerduty.com"
    )
    default_schedules: bool = Field(
        default=True,
        strict=True,
        description="give the new connector the default schedules (an incremental sync every "
        "5 minutes, a full sync once a day between 01:00 and 04:59 UTC); false: none",
    )

    @field_validator("base_url", "oauth_base_url")
    @classmethod
    def _urls(cls, value: str | None) -> str | None:
        return _check_url(value)


_NOT_NULL: Final = ("name", "auth", "region")


def _update_schema(schema: JsonDict) -> None:
    """At least one field; ``name``, ``auth`` and ``region`` without null (see the model)."""
    schema["minProperties"] = 1
    properties = schema.get("properties")
    if not isinstance(properties, dict):
        return
    for key in _NOT_NULL:
        prop = properties.get(key)
        if not isinstance(prop, dict):
            continue
        prop.pop("default", None)
        options = prop.pop("anyOf", None)
        if isinstance(options, list):
            kept = [o for o in options if o != {"type": "null"}]
            if len(kept) == 1 and isinstance(kept[0], dict):
                prop.update(kept[0])
            else:
                prop["anyOf"] = kept


class ConnectorUpdate(_Request):
    """Only the fields given change. ``base_url``/``oauth_base_url`` set to null go back to the
    region's default; ``name``, ``auth`` and ``region`` cannot be null (leave them out to keep
    them), which the schema says by not listing null for them."""

    # Null is refused rather than read as "unchanged": in a PATCH null means "clear", and a
    # connector cannot be without a name, credentials or a region. ``_update_schema`` keeps
    # null out of the description; the validator below answers it with a clear 422. (Typed
    # ``| None`` so that pydantic reports errors inside ``auth`` as 'auth.api_key'.)
    name: ConnectorName | None = None
    auth: AuthIn | None = None
    region: Region | None = None
    base_url: str | None = None
    oauth_base_url: str | None = None

    model_config = ConfigDict(json_schema_extra=_update_schema)

    @field_validator("base_url", "oauth_base_url")
    @classmethod
    def _urls(cls, value: str | None) -> str | None:
        return _check_url(value)

    @model_validator(mode="after")
    def _not_empty(self) -> ConnectorUpdate:
        if not self.model_fields_set:
            raise ValueError("give at least one of name, auth, region, base_url, oauth_base_url")
        for key in _NOT_NULL:
            if key in self.model_fields_set and getattr(self, key) is None:
                raise ValueError(f"{key} cannot be null; leave it out to keep it")
        return self


class IncrementalOut(BaseModel):
    available: bool | None = Field(
        description="true: the audit trail can be read; false: it cannot (see reason), every "
        "sync is full; null: not known before the first sync"
    )
    reason: str | None = Field(description="why incremental syncs are unavailable")
    cursor: str | None = Field(
        description="the next incremental sync reads audit records since this time"
    )
    last_record_at: str | None = Field(description="the newest audit record a sync has seen")


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
    incremental: IncrementalOut | None = Field(
        default=None,
        description="whether incremental syncs (from PagerDuty's audit records) are available "
        "to this connector, why not, and where the next one starts reading",
    )


class AccountOut(BaseModel):
    subdomain: str
    account_level: bool | None = None
    abilities: list[str] = Field(default_factory=list)


class ConnectOut(BaseModel):
    status: Literal["connected"]
    account: AccountOut
    warnings: list[str] = Field(
        default_factory=list,
        description="e.g. another connector reads the same PagerDuty account",
    )


class AuthorizeLinkOut(BaseModel):
    url: str = Field(description="open this in a browser within expires_in seconds, once")
    expires_in: int


# --- jobs ---------------------------------------------------------------------------------


class JobStarted(BaseModel):
    job_id: str


class SyncIn(_Request):
    mode: Literal["incremental", "full"] | None = Field(
        default=None,
        description="incremental: only what PagerDuty's audit records say changed; full: the "
        "whole account. Left out: incremental where available, else full. An incremental sync "
        "that cannot run (no cursor yet, a cursor over 31 days old, no Audit Trail feature) "
        "runs as a full one, and the job says why in progress.fallback.",
    )


class JobOut(BaseModel):
    id: str
    connector_id: str
    status: str = Field(description="queued, running, succeeded, failed, canceled or skipped")
    trigger: str = Field(description="manual or scheduled")
    mode: str = Field(description="full, incremental or oncall (an on-call refresh)")
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


def _one_given(key: str, kind: str) -> dict[str, Any]:
    return {"required": [key], "properties": {key: {"type": kind}}}


ScheduleMode = Literal["full", "incremental"]


class ScheduleIn(_Request):
    """Exactly one of the three; the scheduler checks the values (``pdsearch.scheduler``)."""

    # strict: true or "5" is a mistake to report, not a number of minutes to guess.
    interval_minutes: int | None = Field(
        default=None, strict=True, ge=1, le=525_600, description="every n minutes (1..525600)"
    )
    cron: Annotated[str, Field(max_length=200), Trimmed] | None = Field(
        default=None, description="a five-field crontab line, in UTC"
    )
    run_at: Annotated[str, Field(max_length=64), Trimmed] | None = Field(
        default=None,
        description="once, at an ISO 8601 time with a time zone, e.g. 2030-01-01T09:00:00Z",
    )
    timezone: Annotated[str, Field(max_length=64), Trimmed] | None = Field(
        default=None,
        description="with cron only: the IANA time zone the cron line is read in (default UTC)",
    )
    mode: ScheduleMode = Field(
        default="full",
        description="what the schedule starts: a full sync (default) or an incremental one; "
        "a connector has one schedule of each mode at most",
    )

    # "Exactly one of them, not null" in the description too.
    model_config = ConfigDict(
        json_schema_extra={
            "oneOf": [
                _one_given("interval_minutes", "integer"),
                _one_given("cron", "string"),
                _one_given("run_at", "string"),
            ]
        }
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
    mode: ScheduleMode = Field(default="full", description="full or incremental")
    interval_minutes: int | None = None
    cron: str | None = None
    timezone: str | None = None
    run_at: str | None = None
    next_run_at: str | None = Field(description="when it fires next (UTC); null if it will not")
    last_run_at: str | None = Field(
        default=None, description="when it last fired (UTC); null if it has not yet"
    )


class ScheduleList(BaseModel):
    data: list[ScheduleOut] = Field(description="the connector's schedules, full first")


# --- documents, entities, search ----------------------------------------------------------


class DocumentOut(BaseModel):
    id: str
    connector_id: str = Field(description="the connector the document belongs to")
    type: str
    title: str
    content: str
    url: str
    sys_racl: list[str]
    source: str = Field(description="the same as connector_id (kept for older clients)")
    content_hash: str


class EntityOut(BaseModel):
    entityId: str
    name: str
    type: str = Field(description="account or team")
    userIds: list[str]
    manualUserIds: list[str]


class UserListIn(_Request):
    userList: list[Email] = Field(
        min_length=1, max_length=1000, description="e-mail addresses, each as user@domain"
    )

    @field_validator("userList")
    @classmethod
    def _emails(cls, value: list[str]) -> list[str]:
        for i, email in enumerate(value):
            if not check_email(email):
                raise ValueError(f"item {i} is not an e-mail address")
        return value


class SearchIn(_Request):
    query: Annotated[str, Trimmed] = Field(
        max_length=MAX_QUERY_LENGTH,
        description=f"the words to search for, at most {MAX_QUERY_LENGTH:,} characters as sent "
        "(blank: everything the user may see)",
    )
    user: Annotated[str, NotBlank] = Field(
        min_length=1,
        max_length=320,
        json_schema_extra=NOT_BLANK,
        description="the searching user's e-mail",
    )
    limit: int = Field(default=10, ge=1, le=MAX_SEARCH_LIMIT, strict=True)
    offset: int = Field(default=0, ge=0, le=10_000, strict=True)


class OnCallUserOut(BaseModel):
    id: str
    name: str
    email: str


class OnCallEntryOut(BaseModel):
    level: int | None = Field(description="the policy's escalation level; null on a schedule")
    user: OnCallUserOut
    schedule_id: str | None = Field(description="the schedule that puts the user on call; "
                                    "null for a user the policy targets directly")
    start: str | None = Field(description="ISO 8601 UTC; null: always on call")
    end: str | None = Field(description="ISO 8601 UTC; null: always on call")


class OnCallOut(BaseModel):
    now: list[OnCallEntryOut] = Field(description="who is on call at the time asked")
    next: list[OnCallEntryOut] = Field(description="who takes the following shift")


class SearchResultOut(BaseModel):
    id: str
    connector_id: str = Field(description="the connector the document belongs to")
    type: str
    title: str
    snippet: str
    url: str
    score: float
    oncall: OnCallOut | None = Field(
        default=None, description="who is on call now and next (DESIGN 2.5); null where unknown"
    )


class SearchOut(BaseModel):
    total: int
    results: list[SearchResultOut]
    notice: str | None = Field(
        default=None,
        description="Said when the words that matter match nothing the user may see (or not "
        "all together), e.g. 'Nothing matches “payments”. Showing what is closest in "
        "meaning.'; null otherwise.",
    )
