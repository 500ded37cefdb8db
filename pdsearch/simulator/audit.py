"""The audit trail: who changed what, in PagerDuty's ``AuditRecord`` shape, kept 12 months.

Every write appends records (``writer.py`` builds them); ``AuditTrail`` keeps them ordered by
execution time and answers the queries of ``GET /audit/records`` and the per-resource trails:
newest first, ``since`` inclusive, ``until`` exclusive, filtered by root resource type, action,
actor and method. Records older than ``RETENTION`` are dropped (PagerDuty keeps 12 months).

What an incremental reader finds in a record (examples in docs/SIMULATOR.md):

- ``root_resource``: the object changed, a reference whose ``type`` names the kind
  (``user_reference``, ``team_reference``, ``schedule_reference``, ``schedule_v3_reference``,
  ``escalation_policy_reference``, ``service_reference``) and whose ``id`` fetches it;
- ``action``: ``create``, ``update`` or ``delete``;
- ``details.fields``: changed fields with ``before_value``/``value`` (a user's account ``role``,
  a team member's ``team_role`` with ``details.resource`` naming the user);
- ``details.references``: ``members`` added/removed on a team (user references), ``teams``
  added/removed on a schedule, policy or service, ``targets``/``users`` added/removed on a policy
  or schedule.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator
from dataclasses import KW_ONLY, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pdsearch.simulator.errors import AccountError

JSON = dict[str, Any]

RETENTION = timedelta(days=365)
METHODS = ("browser", "oauth", "api_token", "identity_provider", "other")
ACTOR_TYPES = ("user_reference", "api_key_reference", "app_reference")
ACTIONS = ("create", "update", "delete")
# root_resource_types[] values; ip_allow_lists is in the spec's enum, the simulator has none.
ROOT_TYPES = ("users", "teams", "schedules", "escalation_policies", "services", "ip_allow_lists")
# A root reference's type -> its root_resource_types[] value (v2 and v3 schedules are both
# "schedules", as the filter has no v3 value).
_ROOT_TYPE_OF = {
    "user_reference": "users",
    "team_reference": "teams",
    "schedule_reference": "schedules",
    "schedule_v3_reference": "schedules",
    "escalation_policy_reference": "escalation_policies",
    "service_reference": "services",
}


@dataclass(frozen=True)
class Actor:
    """Who made a write and how, for its record's ``actors``, ``method`` and context.

    ``user_id`` names a user (a user key, a user's OAuth token); otherwise ``app_id`` (an app
    token) or ``api_key_id`` (an account key) names the actor. Only the last 4 characters of
    ``token_tail`` are ever kept."""

    user_id: str | None = None
    method: str = "api_token"
    token_tail: str | None = None
    _: KW_ONLY
    request_id: str | None = None
    remote_address: str | None = "127.0.0.1"
    api_key_id: str | None = None
    app_id: str | None = None

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {', '.join(METHODS)}")
        if self.token_tail is not None:
            object.__setattr__(self, "token_tail", self.token_tail[-4:])


def record_time(record: JSON) -> datetime:
    """A record's ``execution_time`` as an aware UTC datetime (``AccountError`` if it is not)."""
    try:
        when = datetime.fromisoformat(str(record["execution_time"]).replace("Z", "+00:00"))
    except (KeyError, ValueError):
        raise AccountError("execution_time is not an ISO 8601 date-time") from None
    if when.tzinfo is None:
        raise AccountError("execution_time needs a UTC offset")
    return when.astimezone(UTC)


def root_type(record: JSON) -> str:
    """The ``root_resource_types[]`` value a record answers to."""
    ref_type = str(record["root_resource"]["type"])
    return _ROOT_TYPE_OF.get(ref_type, ref_type.removesuffix("_reference"))


def format_time(when: datetime) -> str:
    """ISO 8601 in UTC with milliseconds, as PagerDuty writes ``execution_time``."""
    text = when.astimezone(UTC).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


def make_record(
    record_id: str,
    when: datetime,
    actor: Actor,
    actors: list[JSON],
    root: JSON,
    action: str,
    *,
    resource: JSON | None = None,
    fields: list[JSON] | None = None,
    references: list[JSON] | None = None,
) -> JSON:
    """One ``AuditRecord``; ``resource`` defaults to the root (it differs for a member's role)."""
    details: JSON = {"resource": resource or root}
    if fields:
        details["fields"] = fields
    if references:
        details["references"] = references
    return {
        "id": record_id,
        "execution_time": format_time(when),
        "execution_context": {
            "request_id": actor.request_id,
            "remote_address": actor.remote_address,
        },
        "actors": actors,
        "method": {"type": actor.method, "truncated_token": actor.token_tail},
        "root_resource": root,
        "action": action,
        "details": details,
    }


class AuditTrail:
    """The account's records in execution-time order (oldest first); call it to query.

    ``len``, iteration and indexing see every record kept, oldest first;
    ``trail(since, until, root_resource_types, actions, resource_id, ...)`` answers newest first.
    """

    def __init__(self) -> None:
        self._keys: list[tuple[datetime, str]] = []  # (execution time, id), sorted
        self._records: list[JSON] = []
        self._ids: set[str] = set()
        self._counter = 0

    def __len__(self) -> int:
        return len(self._records)

    def __iter__(self) -> Iterator[JSON]:
        return iter(list(self._records))

    def __getitem__(self, index: int) -> JSON:
        return self._records[index]

    def __bool__(self) -> bool:
        return bool(self._records)

    def new_id(self, when: datetime) -> str:
        """A record id that sorts with time and is never reused."""
        while True:
            self._counter += 1
            candidate = f"PD{when.astimezone(UTC).strftime('%Y%m%d%H%M%S')}{self._counter:08d}"
            if candidate not in self._ids:
                return candidate

    def add(self, record: JSON) -> None:
        """Keep ``record`` (its id must be new); out-of-order times are placed in order."""
        if record["id"] in self._ids:
            raise AccountError(f"the audit record id {record['id']} is used twice")
        key = (record_time(record), str(record["id"]))
        self._ids.add(key[1])
        if not self._keys or key >= self._keys[-1]:
            self._keys.append(key)
            self._records.append(record)
            return
        at = bisect.bisect(self._keys, key)
        self._keys.insert(at, key)
        self._records.insert(at, record)

    def prune(self, before: datetime) -> int:
        """Drop records executed before ``before`` (past retention); returns how many."""
        cut = bisect.bisect_left(self._keys, (before, ""))
        if cut:
            self._ids.difference_update(key[1] for key in self._keys[:cut])
            del self._keys[:cut]
            del self._records[:cut]
        return cut

    def __call__(
        self,
        since: datetime | None = None,
        until: datetime | None = None,
        root_resource_types: Iterable[str] | None = None,
        actions: Iterable[str] | None = None,
        resource_id: str | None = None,
        *,
        actor_type: str | None = None,
        actor_id: str | None = None,
        method_type: str | None = None,
        method_truncated_token: str | None = None,
    ) -> list[JSON]:
        """Records newest first: ``since`` inclusive, ``until`` exclusive (aware datetimes);
        sets of values within a filter are ORed, filters ANDed."""
        lo = 0 if since is None else bisect.bisect_left(self._keys, (since, ""))
        hi = len(self._keys) if until is None else bisect.bisect_left(self._keys, (until, ""))
        types = set(root_resource_types) if root_resource_types is not None else None
        wanted = set(actions) if actions is not None else None
        out: list[JSON] = []
        for record in reversed(self._records[lo:hi]):
            if types is not None and root_type(record) not in types:
                continue
            if wanted is not None and record["action"] not in wanted:
                continue
            if resource_id is not None and record["root_resource"]["id"] != resource_id:
                continue
            if actor_type is not None and not any(
                a.get("type") == actor_type and actor_id in (None, a.get("id"))
                for a in record.get("actors") or []
            ):
                continue
            method = record.get("method") or {}
            if method_type is not None and method.get("type") != method_type:
                continue
            if method_truncated_token is not None and (
                method.get("truncated_token") != method_truncated_token
            ):
                continue
            out.append(record)
        return out
