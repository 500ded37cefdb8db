"""The records the store hands out: plain dataclasses that never hold a secret."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

AUTH_TYPES: Final = ("api_key", "oauth2")
REGIONS: Final = ("us", "eu")
#: "removing": being removed (its documents leave the index, then its state the store).
CONNECTOR_STATUSES: Final = ("new", "connected", "error", "needs_authorization", "removing")
JOB_STATUSES: Final = ("queued", "running", "succeeded", "failed", "canceled", "skipped")
ACTIVE_JOB_STATUSES: Final = ("queued", "running")
FINISHED_JOB_STATUSES: Final = ("succeeded", "failed", "canceled", "skipped")
JOB_TRIGGERS: Final = ("manual", "scheduled")
# What a job does: read the whole account, read only what changed since the last cursor, or
# refresh who is on call.
JOB_MODES: Final = ("full", "incremental", "oncall")
# What a schedule starts: one schedule per connector and mode.
SCHEDULE_MODES: Final = ("full", "incremental")
COUNT_KEYS: Final = ("added", "updated", "deleted", "unchanged", "failed")
ENTITY_TYPES: Final = ("account", "team")
# A sync with thousands of broken objects must not grow a job record without bound; the
# ``failed`` count still says how many there were.
MAX_FAILURES: Final = 100


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(dt: datetime | None) -> str | None:
    """ISO 8601 in UTC with a ``Z`` suffix, or None."""
    if dt is None:
        return None
    return dt.astimezone(UTC).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class Connector:
    """A PagerDuty connection. Its credentials live apart, encrypted
    (``store.connectors.get_credentials``)."""

    id: str
    name: str
    auth_type: str
    region: str
    base_url: str | None
    oauth_base_url: str | None
    status: str
    subdomain: str | None
    last_error: str | None
    created_at: datetime
    updated_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "auth_type": self.auth_type,
            "region": self.region,
            "base_url": self.base_url,
            "oauth_base_url": self.oauth_base_url,
            "status": self.status,
            "subdomain": self.subdomain,
            "last_error": self.last_error,
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
        }


def empty_counts() -> dict[str, int]:
    return dict.fromkeys(COUNT_KEYS, 0)


@dataclass(frozen=True)
class Job:
    """One sync run of one connector."""

    id: str
    connector_id: str
    status: str
    trigger: str
    mode: str = "full"
    counts: dict[str, int] = field(default_factory=empty_counts)
    failures: list[dict[str, str]] = field(default_factory=list)
    requests: int = 0
    error: str | None = None
    progress: dict[str, Any] = field(default_factory=dict)
    created_at: datetime = field(default_factory=utcnow)
    started_at: datetime | None = None
    finished_at: datetime | None = None
    # Someone asked it to stop (``store.jobs.request_cancel``); not part of ``to_dict``.
    cancel_requested: bool = False

    @property
    def finished(self) -> bool:
        return self.status in FINISHED_JOB_STATUSES

    @property
    def duration_seconds(self) -> float | None:
        """Run time so far (while running) or in all (when finished); None before it starts."""
        if self.started_at is None:
            return None
        end = self.finished_at or utcnow()
        return max(0.0, round((end - self.started_at).total_seconds(), 3))

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "connector_id": self.connector_id,
            "status": self.status,
            "trigger": self.trigger,
            "mode": self.mode,
            "counts": dict(self.counts),
            "failures": [dict(f) for f in self.failures],
            "requests": self.requests,
            "error": self.error,
            "progress": dict(self.progress),
            "created_at": iso(self.created_at),
            "started_at": iso(self.started_at),
            "finished_at": iso(self.finished_at),
            "duration_seconds": self.duration_seconds,
        }


@dataclass(frozen=True)
class EntityRecord:
    """A permission entity as the API shows it (DESIGN.md 2.2, 2.4).

    ``user_ids`` is every member (derived and manual, lower-cased e-mails, sorted);
    ``manual_user_ids`` those added by hand.
    """

    entity_id: str
    name: str
    type: str
    user_ids: list[str]
    manual_user_ids: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {
            "entityId": self.entity_id,
            "name": self.name,
            "type": self.type,
            "userIds": list(self.user_ids),
            "manualUserIds": list(self.manual_user_ids),
        }


@dataclass(frozen=True)
class ScheduleRecord:
    """A persisted schedule: the spec as set, when it was set, when it last fired, and what
    kind of sync it starts (``mode``: full or incremental)."""

    connector_id: str
    spec: dict[str, Any]
    updated_at: datetime
    last_fired_at: datetime | None
    mode: str = "full"
