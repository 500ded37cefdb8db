"""Who is on call, per connector (``store.oncall``): the shifts of a window, replaced whole.

A refresh (``pdsearch/sync/oncall.py``) reads PagerDuty and calls ``replace`` with every shift
from ``since`` to ``until``; searches read the shifts of the documents on one page with
``shifts_for`` (one query) and the windows with ``windows`` (one more). The sync records the
account's people (``replace_people``) so that a page can show times in the viewer's own zone.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, NamedTuple

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection

from pdsearch.permissions import normalize_email
from pdsearch.store.database import Database
from pdsearch.store.errors import InvalidValueError, NotFoundError
from pdsearch.store.records import utcnow
from pdsearch.store.schema import connectors, oncall_people, oncall_shifts, oncall_windows

#: How many rows one INSERT carries (SQLite's bound on variables is 32,766).
_BATCH: Final = 2_000


class OnCallShift(NamedTuple):
    """One user on call: on a policy's ``level`` (``policy_id`` set; ``schedule_id`` None when
    the level targets the user directly) or on a schedule (``policy_id`` None). ``start`` and
    ``end`` None: always (a directly targeted user)."""

    policy_id: str | None
    level: int | None
    schedule_id: str | None
    user_id: str
    user_name: str
    user_email: str
    user_time_zone: str | None
    start: datetime | None
    end: datetime | None

    def covers(self, at: datetime) -> bool:
        return (self.start is None or self.start <= at) and (self.end is None or at < self.end)


@dataclass(frozen=True)
class OnCallWindow:
    """What a connector's stored shifts cover, and when and at what cost they were read."""

    connector_id: str
    since: datetime
    until: datetime
    refreshed_at: datetime
    requests: int
    unknown: frozenset[str] = frozenset()  # document ids whose on-call could not be read

    def holds(self, at: datetime) -> bool:
        return self.since <= at <= self.until


@dataclass(frozen=True)
class Person:
    """A PagerDuty user: for naming on-call people and a viewer's time zone."""

    user_id: str
    email: str
    name: str
    time_zone: str | None


#: (connector id, schedule ids, policy ids): the documents of one connector on a page.
DocumentKeys = tuple[str, Sequence[str], Sequence[str]]

ShiftsByDocument = dict[tuple[str, str, str], list["OnCallShift"]]

_COLUMNS: Final = (
    oncall_shifts.c.position, oncall_shifts.c.connector_id, oncall_shifts.c.policy_id,
    oncall_shifts.c.level,
    oncall_shifts.c.schedule_id, oncall_shifts.c.user_id, oncall_shifts.c.user_name,
    oncall_shifts.c.user_email, oncall_shifts.c.user_time_zone, oncall_shifts.c.start,
    oncall_shifts.c.end,
)


# Every connector's window: a few rows, read on every search with on-call answers.
_WINDOWS: Final = sa.select(
    oncall_windows.c.connector_id, oncall_windows.c.since, oncall_windows.c.until,
    oncall_windows.c.refreshed_at, oncall_windows.c.requests, oncall_windows.c.unknown,
)
_NEVER: Final = datetime.min.replace(tzinfo=UTC)


class OnCallRepository:
    """Shifts, windows and people, per connector."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._by_document = _by_document(db.dialect)

    def replace(
        self,
        connector_id: str,
        shifts: Iterable[OnCallShift],
        since: datetime,
        until: datetime,
        *,
        requests: int = 0,
        unknown: Iterable[str] = (),
        refreshed_at: datetime | None = None,
    ) -> OnCallWindow:
        """Make the connector's shifts exactly ``shifts`` for the window ``[since, until]``, in
        one transaction (a search sees the old set or the new, never half)."""
        if until < since:
            raise InvalidValueError("An on-call window cannot end before it starts.")
        rows = _rows(connector_id, shifts, 0)
        now = refreshed_at or utcnow()
        missing = frozenset(unknown)
        window = {"since": since, "until": until, "refreshed_at": now, "requests": requests,
                  "unknown": json.dumps(sorted(missing))}
        mine = oncall_shifts.c.connector_id == connector_id
        with self._db.write() as conn:
            _require_connector(conn, connector_id)
            conn.execute(oncall_shifts.delete().where(mine))
            for i in range(0, len(rows), _BATCH):
                conn.execute(oncall_shifts.insert(), rows[i : i + _BATCH])
            updated = conn.execute(
                oncall_windows.update()
                .where(oncall_windows.c.connector_id == connector_id)
                .values(**window)
            )
            if updated.rowcount == 0:
                conn.execute(oncall_windows.insert().values(connector_id=connector_id, **window))
        return OnCallWindow(connector_id, since, until, now, requests, missing)

    def replace_part(
        self,
        connector_id: str,
        policy_ids: Iterable[str],
        schedule_ids: Iterable[str],
        shifts: Iterable[OnCallShift],
        *,
        requests: int,
        unknown: Iterable[str] = (),
        refreshed_at: datetime | None = None,
    ) -> OnCallWindow:
        """Within the stored window, make the on-calls of ``policy_ids`` and the shifts of
        ``schedule_ids`` exactly those of ``shifts`` (what changed since the last refresh); the
        rest stays. ``unknown`` replaces the unknown state of those schedules. One transaction.
        ``NotFoundError`` when the connector has no window yet."""
        policies, schedules = sorted(set(policy_ids)), sorted(set(schedule_ids))
        now = refreshed_at or utcnow()
        mine = oncall_shifts.c.connector_id == connector_id
        with self._db.write() as conn:
            row = conn.execute(
                sa.select(oncall_windows).where(oncall_windows.c.connector_id == connector_id)
            ).mappings().one_or_none()
            if row is None:
                raise NotFoundError(f"Connector {connector_id!r} has no on-call data to update.")
            for i in range(0, len(policies), _BATCH):
                conn.execute(oncall_shifts.delete().where(
                    mine, oncall_shifts.c.policy_id.in_(policies[i : i + _BATCH])))
            for i in range(0, len(schedules), _BATCH):
                conn.execute(oncall_shifts.delete().where(
                    mine, oncall_shifts.c.policy_id.is_(None),
                    oncall_shifts.c.schedule_id.in_(schedules[i : i + _BATCH])))
            last = conn.execute(
                sa.select(sa.func.max(oncall_shifts.c.position)).where(mine)
            ).scalar_one_or_none()
            start = (last if isinstance(last, int) else -1) + 1
            rows = _rows(connector_id, shifts, start)
            for i in range(0, len(rows), _BATCH):
                conn.execute(oncall_shifts.insert(), rows[i : i + _BATCH])
            gone = {"schedule:" + s for s in schedules}
            missing = (frozenset(json.loads(row["unknown"])) - gone) | frozenset(unknown)
            conn.execute(
                oncall_windows.update()
                .where(oncall_windows.c.connector_id == connector_id)
                .values(refreshed_at=now, requests=requests,
                        unknown=json.dumps(sorted(missing)))
            )
        return OnCallWindow(connector_id, row["since"], row["until"], now, requests, missing)

    def window(self, connector_id: str) -> OnCallWindow | None:
        """The connector's stored window; None before its first refresh."""
        return self.windows([connector_id]).get(connector_id)

    def windows(self, connector_ids: Iterable[str] | None = None) -> dict[str, OnCallWindow]:
        """Windows by connector id (every connector's when ``connector_ids`` is None). On the
        search path: one statement compiled once, run straight on the driver."""
        wanted = None if connector_ids is None else set(connector_ids)
        if wanted is not None and not wanted:
            return {}
        found: dict[str, OnCallWindow] = {}
        for cid, since, until, refreshed_at, requests, unknown in self._db.fetch_all(_WINDOWS, {}):
            if wanted is None or cid in wanted:
                found[cid] = OnCallWindow(
                    cid, _time(since) or _NEVER, _time(until) or _NEVER,
                    _time(refreshed_at) or _NEVER, int(requests),
                    frozenset(json.loads(unknown)),
                )
        return found

    def shifts(self, connector_id: str) -> list[OnCallShift]:
        """Every stored shift of the connector, in the order they were given."""
        query = (
            sa.select(*_COLUMNS)
            .where(oncall_shifts.c.connector_id == connector_id)
            .order_by(oncall_shifts.c.position)
        )
        with self._db.read() as conn:
            return [_shift(tuple(r)) for r in conn.execute(query).all()]

    def shifts_for(
        self, keys: Sequence[DocumentKeys], at: datetime | None = None
    ) -> ShiftsByDocument:
        """The shifts of the given documents, keyed by ``(connector id, "schedule" or
        "escalation_policy", PagerDuty id)``: a schedule's own shifts (not those through a
        policy) and a policy's on-calls. Documents with none are missing. With ``at``, only
        those an answer at ``at`` needs: the shifts covering it, and per document and level
        those starting soonest after it.

        On the search path: one statement per connector on the page (usually one), compiled
        once and run straight on the driver, the ids passed as one JSON array; rows are chosen
        before they are turned into shifts (times compared as stored: ISO text in UTC on
        SQLite, which orders as the times do)."""
        found: ShiftsByDocument = {}
        for connector_id, schedule_ids, policy_ids in keys:
            if not schedule_ids and not policy_ids:
                continue
            params = {
                "cid": connector_id,
                "sids": json.dumps(sorted(set(schedule_ids))),
                "pids": json.dumps(sorted(set(policy_ids))),
            }
            rows = self._db.fetch_all(self._by_document, params)
            if at is not None:
                rows = _needed_at(rows, at)
            for row in sorted(rows, key=_position):
                shift = _shift(row)
                if shift.policy_id is not None:
                    key = (connector_id, "escalation_policy", shift.policy_id)
                else:
                    key = (connector_id, "schedule", shift.schedule_id or "")
                found.setdefault(key, []).append(shift)
        return found

    def covered(self, connector_id: str) -> tuple[set[str], set[str]]:
        """The schedules with shifts of their own and the policies with on-calls stored (a
        refresh reads the indexed documents missing from these)."""
        mine = oncall_shifts.c.connector_id == connector_id
        schedules = sa.select(oncall_shifts.c.schedule_id).distinct().where(
            mine, oncall_shifts.c.policy_id.is_(None))
        policies = sa.select(oncall_shifts.c.policy_id).distinct().where(
            mine, oncall_shifts.c.policy_id.is_not(None))
        with self._db.read() as conn:
            return (
                {str(r[0]) for r in conn.execute(schedules).all()},
                {str(r[0]) for r in conn.execute(policies).all()},
            )

    def policies_using(self, connector_id: str, schedule_ids: Iterable[str]) -> set[str]:
        """Policies whose stored on-calls go through one of these schedules."""
        wanted = sorted(set(schedule_ids))
        if not wanted:
            return set()
        query = sa.select(oncall_shifts.c.policy_id).distinct().where(
            oncall_shifts.c.connector_id == connector_id,
            oncall_shifts.c.policy_id.is_not(None),
            oncall_shifts.c.schedule_id.in_(wanted),
        )
        with self._db.read() as conn:
            return {str(r[0]) for r in conn.execute(query).all()}

    def clear(self, connector_id: str) -> None:
        """Forget the connector's shifts and window (answers become unknown)."""
        with self._db.write() as conn:
            conn.execute(oncall_shifts.delete().where(oncall_shifts.c.connector_id == connector_id))
            conn.execute(
                oncall_windows.delete().where(oncall_windows.c.connector_id == connector_id)
            )

    # -- people ---------------------------------------------------------------------------

    def replace_people(self, connector_id: str, people: Iterable[Person]) -> None:
        """Make the connector's people exactly ``people`` (the sync's user listing)."""
        rows = {
            p.user_id: {"connector_id": connector_id, "user_id": p.user_id,
                        "email": normalize_email(p.email), "name": p.name,
                        "time_zone": p.time_zone}
            for p in people
        }
        listed = list(rows.values())
        with self._db.write() as conn:
            _require_connector(conn, connector_id)
            conn.execute(oncall_people.delete().where(oncall_people.c.connector_id == connector_id))
            for i in range(0, len(listed), _BATCH):
                conn.execute(oncall_people.insert(), listed[i : i + _BATCH])

    def people(self, connector_id: str, user_ids: Iterable[str] | None = None) -> dict[str, Person]:
        """The connector's people by user id (only ``user_ids`` when given)."""
        query = sa.select(oncall_people).where(oncall_people.c.connector_id == connector_id)
        if user_ids is not None:
            query = query.where(oncall_people.c.user_id.in_(sorted(set(user_ids))))
        with self._db.read() as conn:
            rows = conn.execute(query).mappings().all()
        return {
            r["user_id"]: Person(r["user_id"], r["email"], r["name"], r["time_zone"]) for r in rows
        }

    def time_zone_of(self, email: str) -> str | None:
        """The PagerDuty time zone of the user with this e-mail (any connector's); None when
        unknown."""
        query = (
            sa.select(oncall_people.c.time_zone)
            .where(oncall_people.c.email == normalize_email(email),
                   oncall_people.c.time_zone.is_not(None))
            .order_by(oncall_people.c.connector_id)
            .limit(1)
        )
        with self._db.read() as conn:
            found = conn.execute(query).scalar_one_or_none()
        return found if isinstance(found, str) else None


def _rows(connector_id: str, shifts: Iterable[OnCallShift], start: int) -> list[dict[str, Any]]:
    return [
        {"connector_id": connector_id, "position": n, "policy_id": s.policy_id,
         "level": s.level, "schedule_id": s.schedule_id, "user_id": s.user_id,
         "user_name": s.user_name, "user_email": normalize_email(s.user_email),
         "user_time_zone": s.user_time_zone, "start": s.start, "end": s.end}
        for n, s in enumerate(shifts, start=start)
    ]


def _require_connector(conn: Connection, connector_id: str) -> None:
    found = conn.execute(
        sa.select(connectors.c.id).where(connectors.c.id == connector_id)
    ).scalar_one_or_none()
    if found is None:
        raise NotFoundError(f"No connector with id {connector_id!r}.")


def _ids(dialect: str, name: str) -> sa.Select[Any]:
    """The ids in the JSON array parameter ``name``, as rows of one column ``value``."""
    if dialect == "postgresql":
        array: Any = sa.cast(sa.bindparam(name, type_=sa.Text), postgresql.JSONB)
        values = sa.func.jsonb_array_elements_text(array).table_valued("value")
    else:
        values = sa.func.json_each(sa.bindparam(name, type_=sa.Text)).table_valued("value")
    return sa.select(values.c.value)


def _by_document(dialect: str) -> sa.Select[Any]:
    """One connector's shifts of some policies and some schedules (the search path's read)."""
    # Two halves, each on its own index ((connector, policy), (connector, schedule)), and no
    # ORDER BY (the caller sorts): with an OR, or an ORDER BY position, SQLite walked the
    # connector's every shift by its primary key (20-60 ms on the large account instead of
    # well under one). tests/store/test_oncall_store.py pins the plan.
    mine = oncall_shifts.c.connector_id == sa.bindparam("cid", type_=sa.Text)
    policy_ids = _ids(dialect, "pids")
    policies = sa.select(*_COLUMNS).where(mine, oncall_shifts.c.policy_id.in_(policy_ids))
    schedules = sa.select(*_COLUMNS).where(
        mine,
        oncall_shifts.c.schedule_id.in_(_ids(dialect, "sids")),
        oncall_shifts.c.policy_id.is_(None),
    )
    return sa.union_all(policies, schedules)  # type: ignore[return-value]


def _needed_at(rows: list[tuple[Any, ...]], at: datetime) -> list[tuple[Any, ...]]:
    """The rows covering ``at`` and, per (policy, level, schedule-or-not), those starting
    soonest after it. Columns: position, connector, policy, level, schedule, ..., start, end."""
    if not rows:
        return rows
    texts = any(isinstance(r[9], str) or isinstance(r[10], str) for r in rows)
    moment: Any = at.astimezone(UTC).isoformat() if texts else at
    kept: list[tuple[Any, ...]] = []
    soonest: dict[tuple[Any, ...], list[tuple[Any, ...]]] = {}
    for row in rows:
        start, end = row[9], row[10]
        if start is None or end is None or start <= moment < end:
            kept.append(row)
        elif start > moment:
            group = (row[2], row[3], row[4] if row[2] is None else None)
            held = soonest.get(group)
            if held is None or start < held[0][9]:
                soonest[group] = [row]
            elif start == held[0][9]:
                held.append(row)
    return kept + [row for group in soonest.values() for row in group]


def _position(row: Sequence[Any]) -> int:
    return int(row[0])


def _time(value: object) -> datetime | None:
    """A stored time: a datetime (PostgreSQL, or through SQLAlchemy) or ISO text (SQLite's
    driver read directly)."""
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    if isinstance(value, str):
        return _parsed(value)
    return None


@functools.lru_cache(maxsize=8192)
def _parsed(text: str) -> datetime:
    return datetime.fromisoformat(text)  # written in UTC, with its offset


def _shift(row: Sequence[object]) -> OnCallShift:
    (_pos, _cid, policy_id, level, schedule_id, user_id, name, email, tz, start, end) = row
    return OnCallShift(
        policy_id if isinstance(policy_id, str) else None,
        level if isinstance(level, int) else None,
        schedule_id if isinstance(schedule_id, str) else None,
        str(user_id), str(name), str(email),
        tz if isinstance(tz, str) else None,
        _time(start),
        _time(end),
    )
