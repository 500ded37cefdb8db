"""Who a schedule layer puts on call, as intervals of whole seconds since the Unix epoch.

The rules, stated once (docs/SIMULATOR.md repeats them, and the test oracle checks them minute by
minute without sharing any of this code):

- A layer runs from its ``start`` to its ``end`` (none: forever); both are instants.
- Turns are counted on the **wall clock of the schedule's time zone**: with ``W(t)`` the local
  date and time at instant ``t`` (as seconds on a naive calendar) and ``V`` the wall-clock time of
  ``rotation_virtual_start``, instant ``t`` belongs to turn ``k = floor((W(t) - V) / L)``, ``L``
  being ``rotation_turn_length_seconds``, and turn ``k`` goes to ``users[k mod n]``. So a daily
  handoff stays at 09:00 local across a DST change (that day's turn is 23 or 25 hours long), a
  turn boundary inside a spring-forward gap happens when the clocks jump, and one inside the
  repeated autumn hour happens at both of its occurrences.
- A restriction allows the instants whose wall-clock time falls in its window: daily windows open
  every day at ``start_time_of_day`` for ``duration_seconds``; weekly ones on ISO weekday
  ``start_day_of_week`` (1 = Monday). A restricted layer is on call only where some restriction
  allows; the turn still decides who.

Everything here is linear in the window: it walks the window's stretches of constant UTC offset,
then turns and restriction windows inside each, and refuses (``RenderTooLarge``) to produce more
than ``MAX_PIECES`` pieces, so no request can make the simulator work without bound.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAY = 86_400
WEEK = 7 * DAY
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# 1970-01-01 was a Thursday: day -3 (1969-12-29) is the Monday that starts the weeks.
_MONDAY_OFFSET_DAYS = 3
# Offsets are probed this often; real zones never change offset twice within half a day.
_PROBE = 12 * 3600
MAX_PIECES = 20_000

Interval = tuple[int, int]


class RenderTooLarge(ValueError):
    """The window would hold more pieces than the simulator renders for one request."""


class BadTime(ValueError):
    """A date-time that cannot be read, or falls outside the years 1 to 9999 once shifted."""


def zone(name: str) -> ZoneInfo:
    """An IANA time zone; ``BadTime`` when the name is unknown."""
    found = _zone(name)
    if found is None:
        raise BadTime(f"{name!r} is not a known time zone")
    return found


@functools.lru_cache(maxsize=512)
def _zone(name: str) -> ZoneInfo | None:
    # ZoneInfo keeps only a few zones alive by itself; rendering asks for the same ones often.
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def instant(value: str) -> int:
    """Seconds since the epoch of an ISO 8601 date-time (UTC when it has no offset)."""
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except (ValueError, AttributeError):
        raise BadTime(f"{value!r} is not an ISO 8601 date-time") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    delta = parsed - EPOCH
    return delta.days * DAY + delta.seconds


def local(t: int, tz: ZoneInfo) -> datetime:
    try:
        return (EPOCH + timedelta(seconds=t)).astimezone(tz)
    except (OverflowError, ValueError):
        raise BadTime("a time in the window falls outside the years 1 to 9999") from None


def iso(t: int, tz: ZoneInfo) -> str:
    """``t`` as ISO 8601 with the zone's offset at that instant (``Z`` for UTC)."""
    text = local(t, tz).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def offset(t: int, tz: ZoneInfo) -> int:
    off = local(t, tz).utcoffset()
    return int(off.total_seconds()) if off is not None else 0


def wall(t: int, tz: ZoneInfo) -> int:
    """The local date and time at ``t``, as seconds on a naive calendar from 1970-01-01."""
    return t + offset(t, tz)


def _change(tz: ZoneInfo, a: int, b: int, old: int) -> int:
    """The first second in ``(a, b]`` whose offset is no longer ``old`` (one change at most)."""
    while b - a > 1:
        mid = (a + b) // 2
        if offset(mid, tz) == old:
            a = mid
        else:
            b = mid
    return b


def offset_segments(tz: ZoneInfo, lo: int, hi: int) -> list[tuple[int, int, int]]:
    """``[lo, hi)`` cut where the zone's UTC offset changes: ``(start, end, offset)`` each."""
    if hi <= lo:
        return []
    segments: list[tuple[int, int, int]] = []
    start, current = lo, offset(lo, tz)
    probe = lo
    while probe < hi - 1:
        nxt = min(probe + _PROBE, hi - 1)
        off = offset(nxt, tz)
        if off != current:
            b = _change(tz, probe, nxt, current)
            segments.append((start, b, current))
            start, current = b, off
        probe = nxt
    segments.append((start, hi, current))
    return segments


@dataclass(frozen=True)
class Restriction:
    period: int  # DAY or WEEK
    anchor: int  # wall seconds of one window's opening
    duration: int

    @classmethod
    def parse(cls, data: dict[str, Any]) -> Restriction:
        h, m, *s = (int(p) for p in str(data.get("start_time_of_day", "00:00:00")).split(":"))
        time_of_day = h * 3600 + m * 60 + (s[0] if s else 0)
        duration = int(data.get("duration_seconds") or 0)
        if data.get("type") == "weekly_restriction":
            day = int(data.get("start_day_of_week") or 1) - 1
            return cls(WEEK, (day - _MONDAY_OFFSET_DAYS) * DAY + time_of_day, duration)
        return cls(DAY, time_of_day, duration)

    def windows(self, w0: int, w1: int) -> Iterable[Interval]:
        """Its windows meeting the wall-clock range ``[w0, w1)``."""
        if self.duration >= self.period:
            yield (w0, w1)
            return
        n = (w0 - self.anchor - self.duration) // self.period
        while True:
            a = self.anchor + n * self.period
            if a >= w1:
                return
            b = a + self.duration
            if b > w0:
                yield (max(a, w0), min(b, w1))
            n += 1


def merge(intervals: Iterable[Interval]) -> list[Interval]:
    """Overlapping or touching intervals joined, in order."""
    out: list[Interval] = []
    for a, b in sorted(intervals):
        if out and a <= out[-1][1]:
            if b > out[-1][1]:
                out[-1] = (out[-1][0], b)
        else:
            out.append((a, b))
    return out


@dataclass(frozen=True)
class Layer:
    """A layer's definition in seconds; ``users`` are ids in rotation order."""

    start: int
    end: int | None
    virtual_start: int  # an instant; its wall-clock time in the zone is V
    turn: int
    users: tuple[str, ...]
    restrictions: tuple[Restriction, ...]

    @classmethod
    def parse(cls, data: dict[str, Any]) -> Layer:
        start = instant(data["start"])
        return cls(
            start=start,
            end=instant(data["end"]) if data.get("end") else None,
            virtual_start=instant(data.get("rotation_virtual_start") or data["start"]),
            turn=max(1, int(data.get("rotation_turn_length_seconds") or 0)),
            users=tuple(str(u["user"]["id"]) for u in data.get("users") or []),
            restrictions=tuple(Restriction.parse(r) for r in data.get("restrictions") or []),
        )


@dataclass(frozen=True)
class Piece:
    """An interval ``[start, end)`` on call for ``user``; ``turn`` is the layer's turn index."""

    start: int
    end: int
    user: str
    turn: int


class Budget:
    """Counts pieces across one render so a request cannot grow without bound."""

    def __init__(self, limit: int = MAX_PIECES) -> None:
        self.left = limit

    def spend(self, n: int = 1) -> None:
        self.left -= n
        if self.left < 0:
            raise RenderTooLarge(
                "the window holds too many on-call entries for one answer; ask for a shorter "
                "since/until window"
            )


def layer_pieces(
    layer: Layer,
    tz: ZoneInfo,
    segments: Sequence[tuple[int, int, int]],
    budget: Budget,
) -> list[Piece]:
    """The layer's on-call pieces within the segments' span, one per turn and allowed window."""
    if not layer.users:
        return []
    v = wall(layer.virtual_start, tz)
    span_end = layer.end if layer.end is not None else None
    pieces: list[Piece] = []
    for s0, s1, off in segments:
        a, b = max(s0, layer.start), s1 if span_end is None else min(s1, span_end)
        if a >= b:
            continue
        w0, w1 = a + off, b + off
        if layer.restrictions:
            allowed = merge(w for r in layer.restrictions for w in r.windows(w0, w1))
            budget.spend(len(allowed))
        else:
            allowed = [(w0, w1)]
        for x0, x1 in allowed:
            k = (x0 - v) // layer.turn
            while True:
                t0 = v + k * layer.turn
                if t0 >= x1:
                    break
                p0, p1 = max(x0, t0), min(x1, t0 + layer.turn)
                if p1 > p0:
                    budget.spend()
                    user = layer.users[k % len(layer.users)]
                    last = pieces[-1] if pieces else None
                    if last and last.turn == k and last.end == p0 - off:
                        # The same turn carried on across a change of offset.
                        pieces[-1] = Piece(last.start, p1 - off, user, k)
                    else:
                        pieces.append(Piece(p0 - off, p1 - off, user, k))
                k += 1
    return pieces


def at_wall(w: int, tz: ZoneInfo) -> int:
    """The first instant whose wall-clock time in ``tz`` is ``w`` or later.

    For most times that is the one instant showing ``w``; in an autumn fold, the first of the
    two; in a spring gap (a time the clocks skip), the moment the clocks jump."""
    before, after = offset(w - DAY, tz), offset(w + DAY, tz)
    for off in sorted({before, after}, reverse=True):  # the larger offset is the earlier instant
        t = w - off
        if t + offset(t, tz) == w:
            return t
    # In a gap: the clocks jump between the two readings.
    return _change(tz, w - after - 1, w - before, before)
