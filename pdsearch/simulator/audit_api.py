"""``GET /audit/records`` and the per-resource trails, as PagerDuty documents them (FACTS §1).

- Newest first, cursor paged (``limit`` default and maximum 100, ``cursor``/``next_cursor``, an
  opaque keyset cursor: records written between two pages shift nothing).
- ``since`` defaults to 24 hours before now, ``until`` to now; ``until`` may be at most 31 days
  after ``since`` and not before it (400 otherwise). "Now" is the simulator's clock.
- Records older than 12 months (``audit.RETENTION``) are gone.
- Filters: ``root_resource_types[]``, ``actions[]``, ``actor_type`` (+ ``actor_id``),
  ``method_type`` (+ ``method_truncated_token``); ``actor_id`` and ``method_truncated_token``
  need their qualifier (400 without it), as the spec says.
- An account without the Audit Trail feature (no ``audit_trail`` ability) gets 402 everywhere
  here; ``/audit/records`` is for the owner, admins and account-level credentials (403 for other
  users' tokens); the per-resource trails for any caller who may read the resource. OAuth tokens
  need ``audit_records.read`` (checked by the app, 403).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from pdsearch.simulator.api import ApiError, Call, Handler, Reply, invalid
from pdsearch.simulator.audit import (
    ACTIONS,
    ACTOR_TYPES,
    METHODS,
    RETENTION,
    ROOT_TYPES,
    record_time,
)
from pdsearch.simulator.constants import AUDIT_READER_ROLES, REFERENCES
from pdsearch.simulator.errors import NotFound
from pdsearch.simulator.paging import cursor_page
from pdsearch.simulator.reads import require_ability
from pdsearch.simulator.rendering import parse_time

MAX_SPAN = timedelta(days=31)
DEFAULT_SPAN = timedelta(hours=24)


async def list_audit_records(call: Call) -> Reply:
    require_ability(call, "audit_trail")
    principal = call.principal
    if principal.user_id is not None:
        role = call.sim.account.users.get(principal.user_id, {}).get("role")
        if role not in AUDIT_READER_ROLES:
            raise ApiError(
                403,
                2010,
                "Access Denied",
                ["Only admins, the account owner and account-level tokens may read audit records."],
            )
    return _page(call)


def resource_records(kind: str) -> Handler:
    """The handler of ``/{kind}/{id}/audit/records`` (``schedules_v3``: ``/v3/schedules/...``)."""

    async def handler(call: Call) -> Reply:
        require_ability(call, "audit_trail")
        object_id = call.params["id"]
        account = call.sim.account
        ref_type = REFERENCES[kind][0]
        known = account.exists(kind, object_id) or any(
            r["root_resource"]["id"] == object_id and r["root_resource"]["type"] == ref_type
            for r in account.audit_records
        )
        if not known:  # neither there now nor ever audited (a deleted one keeps its trail)
            raise NotFound(kind, object_id)
        return _page(call, object_id, ref_type)

    return handler


def _page(call: Call, resource_id: str | None = None, ref_type: str | None = None) -> Reply:
    now = call.sim.now()
    since, until = _window(call, now)
    query = call.query
    types = set(call.list_param("root_resource_types"))
    actions = set(call.list_param("actions"))
    if types - set(ROOT_TYPES):
        raise invalid(f"root_resource_types[] must be among {', '.join(ROOT_TYPES)}.")
    if actions - set(ACTIONS):
        raise invalid(f"actions[] must be among {', '.join(ACTIONS)}.")
    actor_type, actor_id = query.get("actor_type"), query.get("actor_id")
    method_type, token = query.get("method_type"), query.get("method_truncated_token")
    if actor_type is not None and actor_type not in ACTOR_TYPES:
        raise invalid(f"actor_type must be one of {', '.join(ACTOR_TYPES)}.")
    if actor_id is not None and actor_type is None:
        raise invalid("actor_id must be qualified by actor_type.")
    if method_type is not None and method_type not in METHODS:
        raise invalid(f"method_type must be one of {', '.join(METHODS)}.")
    if token is not None and method_type is None:
        raise invalid("method_truncated_token must be qualified by method_type.")
    trail = call.sim.account.audit_records
    trail.prune(now - RETENTION)
    records = trail(
        since=max(since, now - RETENTION),
        until=until,
        root_resource_types=types or None,
        actions=actions or None,
        resource_id=resource_id,
        actor_type=actor_type,
        actor_id=actor_id,
        method_type=method_type,
        method_truncated_token=token,
    )
    if ref_type is not None:  # a v2 and a v3 schedule's trails are apart
        records = [r for r in records if r["root_resource"]["type"] == ref_type]
    page, meta = cursor_page(records, query, _key)
    return Reply(200, {"records": list(page), **meta})


def _window(call: Call, now: datetime) -> tuple[datetime, datetime]:
    raw_since, raw_until = call.query.get("since"), call.query.get("until")
    try:
        # In UTC at once: a date a time zone pushes past year 1 or 9999 is refused here.
        since = (parse_time(raw_since) if raw_since else now - DEFAULT_SPAN).astimezone(UTC)
        until = (parse_time(raw_until) if raw_until else now).astimezone(UTC)
        span = until - since
    except (ValueError, OverflowError):
        raise invalid("since and until must be ISO 8601 date-times.", 2004) from None
    if span < timedelta(0):
        raise invalid("until must not be before since.", 2005)
    if span > MAX_SPAN:
        raise invalid("until may not be more than 31 days after since.", 2005)
    return since, until


def _key(record: dict[str, Any]) -> str:
    """The trail's order as text (UTC time, then id), for the keyset cursor."""
    return f"{record_time(record).strftime('%Y-%m-%dT%H:%M:%S.%f')}|{record['id']}"
