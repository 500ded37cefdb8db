"""The records the store hands out: plain dataclasses that never hold a secret."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

AUTH_TYPES: Final = ("api_key", "oauth2")
REGIONS: Final = ("us", "eu")
CONNECTOR_STATUSES: Final = ("new", "connected", "error", "needs_authorization")
JOB_STATUSES: Final = ("queued", "running", "succeeded", "failed", "canceled", "skipped")
ACTIVE_JOB_STATUSES: Final = ("queued", "running")
FINISHED_JOB_STATUSES: Final = ("succeeded", "failed", "canceled", "skipped")
JOB_TRIGGERS: Final = ("manual", "scheduled")
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


def to_db_time(dt: datetime | None) -> str | None:
    if dt is None:
        return None
    if dt.tzinfo is None:
        raise ValueError("times given to the store must carry a time zone")
    return dt.astimezone(UTC).isoformat()


def from_db_time(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


@dataclass(frozen=True)
class Connector:
    """A PagerDuty connection. Its credentials live apart, encrypted (``Store.get_credentials``)."""

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
    counts: dict[str, int] = field(default_factory=empty_counts)
    failures: list[dict[str, str]] = field(default_factory=list)
    requests: int = 0
    error: str | None = None
    progress: dict[str, Any] = field(default_factory=dict)
    created_at: datetime = field(default_factory=utcnow)
    started_at: datetime | None = None
    finished_at: datetime | None = None

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
    """A persisted schedule: the spec as set, when it was set, and when it last fired."""

    connector_id: str
    spec: dict[str, Any]
    updated_at: datetime
    last_fired_at: datetime | None
