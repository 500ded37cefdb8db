"""Schedule overrides: stored per schedule in creation order, checked as PagerDuty checks them.

An override puts one user on call for ``[start, end)`` on top of every layer; where overrides
overlap the most recently created one wins (PagerDuty: "the last created override will have
priority"). The store keeps them in the account (``--save`` writes them as ``"overrides"``, a
list of ``{"schedule_id", "id", "start", "end", "user"}`` in creation order) and counts a
``version`` that moves with every change, so rendered answers can be cached against it.
"""

from __future__ import annotations

import random
import string
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from pdsearch.simulator.errors import AccountError
from pdsearch.simulator.schedule_render import OverrideSpan
from pdsearch.simulator.timeline import EPOCH, BadTime, instant, iso, zone

JSON = dict[str, Any]
_ID_ALPHABET = string.ascii_uppercase + string.digits


@dataclass(frozen=True)
class Override:
    id: str
    schedule_id: str
    start: int
    end: int
    user_id: str
    seq: int

    def span(self) -> OverrideSpan:
        return OverrideSpan(self.id, self.start, self.end, self.user_id, self.seq)


class OverrideStore:
    """Every override of the account, by schedule id, oldest first."""

    def __init__(self, rng: random.Random | None = None) -> None:
        self._by_schedule: dict[str, list[Override]] = {}
        self._seq = 0
        self._ids: set[str] = set()
        # Ids only need to be unique; a seeded stream keeps generated accounts reproducible.
        self._rng = rng or random.Random(0)
        self.version = 0

    def __len__(self) -> int:
        return sum(len(v) for v in self._by_schedule.values())

    def __iter__(self) -> Iterator[Override]:
        every = (o for items in self._by_schedule.values() for o in items)
        return iter(sorted(every, key=lambda o: o.seq))

    def __eq__(self, other: object) -> bool:
        # Two stores are equal when they hold the same overrides in the same creation order.
        if not isinstance(other, OverrideStore):
            return NotImplemented
        return list(self) == list(other)

    __hash__ = None  # type: ignore[assignment]  # mutable, compared by content

    def new_id(self) -> str:
        # PagerDuty's override ids are 14 characters starting with Q (e.g. Q3X6MJ1LUKD6QW).
        while True:
            candidate = "Q" + "".join(self._rng.choices(_ID_ALPHABET, k=13))
            if candidate not in self._ids:
                return candidate

    def add(
        self,
        schedule_id: str,
        start: int,
        end: int,
        user_id: str,
        *,
        override_id: str | None = None,
    ) -> Override:
        if end <= start:
            raise AccountError("Override must end after its start")
        oid = override_id or self.new_id()
        if oid in self._ids:
            raise AccountError(f"the override id {oid} is used twice")
        self._seq += 1
        override = Override(oid, schedule_id, start, end, user_id, self._seq)
        self._by_schedule.setdefault(schedule_id, []).append(override)
        self._ids.add(oid)
        self.version += 1
        return override

    def of(self, schedule_id: str) -> list[Override]:
        return list(self._by_schedule.get(schedule_id, ()))

    def spans(self, schedule_id: str) -> list[OverrideSpan]:
        return [o.span() for o in self._by_schedule.get(schedule_id, ())]

    def get(self, schedule_id: str, override_id: str) -> Override | None:
        return next(
            (o for o in self._by_schedule.get(schedule_id, ()) if o.id == override_id), None
        )

    def remove(self, schedule_id: str, override_id: str) -> None:
        items = self._by_schedule.get(schedule_id, [])
        self._by_schedule[schedule_id] = [o for o in items if o.id != override_id]
        self._ids.discard(override_id)
        self.version += 1

    def truncate(self, schedule_id: str, override_id: str, end: int) -> Override:
        """End an override early (a delete of one already under way)."""
        items = self._by_schedule.get(schedule_id, [])
        for n, o in enumerate(items):
            if o.id == override_id:
                items[n] = Override(o.id, o.schedule_id, o.start, end, o.user_id, o.seq)
                self.version += 1
                return items[n]
        raise KeyError(override_id)

    def drop_schedule(self, schedule_id: str) -> None:
        for o in self._by_schedule.pop(schedule_id, []):
            self._ids.discard(o.id)
        self.version += 1

    # ------------------------------------------------------------------ the account file

    def to_json(self, schedules: Mapping[str, Any], users: Mapping[str, Any]) -> list[JSON]:
        """Overrides of schedules and users that still exist, oldest first, times in UTC."""
        utc = ZoneInfo("UTC")
        return [
            {
                "schedule_id": o.schedule_id,
                "id": o.id,
                "start": _utc(o.start, utc),
                "end": _utc(o.end, utc),
                "user": {"id": o.user_id, "type": "user_reference"},
            }
            for o in self
            if o.schedule_id in schedules and o.user_id in users
        ]

    def load(
        self, items: list[Any], schedules: Mapping[str, JSON], users: Mapping[str, JSON]
    ) -> None:
        """Add ``to_json()`` items, checking them; ``AccountError`` names the bad one."""
        for i, item in enumerate(items):
            where = f"overrides[{i}]"
            if not isinstance(item, dict):
                raise AccountError(f"{where} must be an object")
            schedule_id = item.get("schedule_id")
            schedule = schedules.get(str(schedule_id))
            if schedule is None or schedule.get("type") == "schedule_v3":
                raise AccountError(f"{where}: layer-based schedule {schedule_id!r} does not exist")
            try:
                start, end, user_id = parse_override(item, users, str(schedule["time_zone"]))
                override_id = item.get("id")
                if not isinstance(override_id, str) or not override_id:
                    raise AccountError("has no 'id'")
                self.add(str(schedule_id), start, end, user_id, override_id=override_id)
            except AccountError as exc:
                raise AccountError(f"{where}: {exc}") from None


def _utc(t: int, utc: ZoneInfo) -> str:
    return iso(t, utc)


def check_shape(obj: Any) -> None:
    """Raise ``AccountError`` unless ``obj`` has the request's ``Override`` shape: an object
    with ``start`` and ``end`` ISO 8601 strings and a ``user`` reference with an ``id``.

    A request holding an item of another shape is refused whole (400), as its body breaks the
    spec's request schema; well-shaped items PagerDuty refuses (an unknown user, an end before
    the start) are answered one by one."""
    if not isinstance(obj, dict):
        raise AccountError("an override must be an object with start, end and user")
    missing = [k for k in ("start", "end", "user") if obj.get(k) in (None, "")]
    if missing:
        raise AccountError(f"Override is missing {', '.join(missing)}")
    user = obj["user"]
    if not isinstance(user, dict) or not isinstance(user.get("id"), str):
        raise AccountError("user must be a user reference with an id")
    for key in ("start", "end"):
        value = obj[key]
        if not isinstance(value, str):
            raise AccountError(f"{key} must be an ISO 8601 date-time string")
        try:
            datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise AccountError(f"{key} {value!r} is not an ISO 8601 date-time") from None


def parse_override(obj: Any, users: Mapping[str, JSON], schedule_zone: str) -> tuple[int, int, str]:
    """``(start, end, user_id)`` of an override as a client sends it, or ``AccountError``.

    A start or end without a UTC offset is read in the item's ``time_zone`` (PagerDuty's request
    example sends one), else in the schedule's."""
    check_shape(obj)
    user_id = obj["user"]["id"]
    if user_id not in users:
        raise AccountError(f"User {user_id!r} does not exist")
    try:
        tz = zone(str(obj.get("time_zone") or schedule_zone))
        start, end = _moment(obj["start"], tz), _moment(obj["end"], tz)
    except BadTime as exc:
        raise AccountError(f"Override times must be ISO 8601 date-times: {exc}") from None
    if end <= start:
        raise AccountError("Override must end after its start")
    return start, end, user_id


def _moment(value: Any, tz: ZoneInfo) -> int:
    if not isinstance(value, str):
        raise BadTime(f"{value!r} is not an ISO 8601 date-time")
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise BadTime(f"{value!r} is not an ISO 8601 date-time") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=tz)
        try:
            delta = parsed - EPOCH
        except OverflowError:
            raise BadTime(f"{value!r} is out of range") from None
        return delta.days * 86_400 + delta.seconds
    return instant(value)


def render_override(o: Override, tz: ZoneInfo, user_ref: Callable[[str], JSON]) -> JSON:
    """An Override in the spec's shape, times in ``tz``."""
    return {
        "id": o.id,
        "start": iso(o.start, tz),
        "end": iso(o.end, tz),
        "user": user_ref(o.user_id),
    }
