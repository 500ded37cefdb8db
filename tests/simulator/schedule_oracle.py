"""An independent oracle for schedule rendering: who is on call, looked up minute by minute.

It shares no code with the simulator. From the layer definitions a client wrote, it asks, for
every minute of the window, the question PagerDuty's rules answer (docs/SIMULATOR.md):

- a layer covers instant ``t`` when ``start <= t < end`` and, if it has restrictions, the local
  wall-clock time at ``t`` lies in one of their windows;
- it then puts ``users[k mod n]`` on call, ``k = floor((wall(t) - wall(virtual start)) / turn)``;
- the final schedule takes the last written layer covering ``t``, and the last created override
  covering ``t`` beats every layer.

Runs of equal answers become the expected entries. Everything the simulator is given sits on
whole minutes, so minute steps see every change.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

MINUTE = 60
QUARTER = 15 * MINUTE
# Wall-clock seconds are counted from this naive date; 1970-01-05 was a Monday.
NAIVE_EPOCH = datetime(1970, 1, 1)
FIRST_MONDAY = datetime(1970, 1, 5)
DAY = 86400
WEEK = 7 * DAY


def seconds(value: str) -> int:
    return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp())


def wall_seconds(moment: datetime) -> int:
    """Seconds from 1970-01-01 00:00 on the naive calendar to ``moment``'s local date and time."""
    return int((moment.replace(tzinfo=None) - NAIVE_EPOCH).total_seconds())


@dataclass(frozen=True)
class OracleLayer:
    name: str
    start: int
    end: int | None
    virtual_wall: int
    turn: int
    users: list[str]
    daily: list[tuple[int, int]]  # (opening second of the day, duration)
    weekly: list[tuple[int, int]]  # (opening second of the week from Monday 00:00, duration)

    @classmethod
    def from_body(cls, body: dict[str, Any], zone: ZoneInfo) -> OracleLayer:
        virtual = datetime.fromisoformat(body["rotation_virtual_start"]).astimezone(zone)
        daily, weekly = [], []
        for r in body.get("restrictions") or []:
            h, m, s = (int(x) for x in r["start_time_of_day"].split(":"))
            opening = h * 3600 + m * 60 + s
            if r["type"] == "daily_restriction":
                daily.append((opening, r["duration_seconds"]))
            else:
                weekly.append(
                    ((r["start_day_of_week"] - 1) * 86400 + opening, r["duration_seconds"])
                )
        return cls(
            name=body["name"],
            start=seconds(body["start"]),
            end=seconds(body["end"]) if body.get("end") else None,
            virtual_wall=wall_seconds(virtual),
            turn=body["rotation_turn_length_seconds"],
            users=[u["user"]["id"] for u in body["users"]],
            daily=daily,
            weekly=weekly,
        )

    def allowed(self, of_day: list[int], of_week: list[int]) -> list[bool] | None:
        """Per minute, whether a restriction window holds it (``None``: no restrictions)."""
        if not self.daily and not self.weekly:
            return None
        masks = [[(x - a) % DAY < d for x in of_day] for a, d in self.daily]
        masks += [[(x - a) % WEEK < d for x in of_week] for a, d in self.weekly]
        return [any(column) for column in zip(*masks, strict=True)]



@dataclass(frozen=True)
class OracleOverride:
    start: int
    end: int
    user: str


@dataclass
class Expected:
    """``(start, end, user)`` entries of each layer (in written order), of the overrides and of
    the final schedule, and coverage percentages in the same order (then final, overrides)."""

    layers: list[list[tuple[int, int, str]]]
    overrides: list[tuple[int, int, str]]
    final: list[tuple[int, int, str]]
    layer_coverage: list[float]
    coverage: dict[str, float]


def offsets_by_quarter(zone: ZoneInfo, since: int, until: int) -> list[int]:
    """The UTC offset for each quarter hour of the window, checked constant within it."""
    out = []
    for q in range(since, until, QUARTER):
        first = datetime.fromtimestamp(q, zone).utcoffset()
        last = datetime.fromtimestamp(q + QUARTER - 1, zone).utcoffset()
        assert first == last, f"{zone} changes offset inside a quarter hour at {q}"
        assert first is not None
        out.append(int(first.total_seconds()))
    return out


def runs(values: list[Any], since: int) -> list[tuple[int, int, Any]]:
    """Stretches of equal values (``None`` left out) as ``(start, end, value)``."""
    out: list[tuple[int, int, Any]] = []
    n = 0
    for value, group in itertools.groupby(values):
        length = len(list(group))
        if value is not None:
            out.append((since + n * MINUTE, since + (n + length) * MINUTE, value))
        n += length
    return out


def percent(values: list[Any]) -> float:
    return round(100.0 * (len(values) - values.count(None)) / len(values), 2)


def _index(t: int, since: int, until: int) -> int:
    """The first minute of the window at or after ``t`` (clamped to the window)."""
    return min(max(0, -(-(t - since) // MINUTE)), (until - since) // MINUTE)


def expect(
    zone_name: str,
    layers: list[OracleLayer],
    overrides: list[OracleOverride],
    since: int,
    until: int,
) -> Expected:
    assert since % MINUTE == 0
    assert until % MINUTE == 0
    assert since % QUARTER == 0
    zone = ZoneInfo(zone_name)
    offsets = offsets_by_quarter(zone, since, until)
    count = (until - since) // MINUTE
    walls = [since + i * MINUTE + offsets[i * MINUTE // QUARTER] for i in range(count)]
    of_day = [w % DAY for w in walls]
    monday = wall_seconds(FIRST_MONDAY)
    of_week = [(w - monday) % WEEK for w in walls]
    # Each layer painted minute by minute; then the final schedule painted layer over layer,
    # in written order, and the overrides over it in creation order: the last paint stays.
    per_layer: list[list[tuple[int, str] | None]] = []
    for layer in layers:
        first = _index(layer.start, since, until)
        last = count if layer.end is None else _index(layer.end, since, until)
        allowed = layer.allowed(of_day, of_week)
        column: list[tuple[int, str] | None] = [None] * count
        for i in range(first, last):
            if allowed is not None and not allowed[i]:
                continue
            k = (walls[i] - layer.virtual_wall) // layer.turn
            column[i] = (k, layer.users[k % len(layer.users)])
        per_layer.append(column)
    final: list[str | None] = [None] * count
    for column in per_layer:
        for i, cell in enumerate(column):
            if cell is not None:
                final[i] = cell[1]
    in_force: list[int | None] = [None] * count
    for n, o in enumerate(overrides):
        for i in range(_index(o.start, since, until), _index(o.end, since, until)):
            in_force[i] = n
            final[i] = o.user
    return Expected(
        layers=[[(a, b, v[1]) for a, b, v in runs(column, since)] for column in per_layer],
        layer_coverage=[percent(column) for column in per_layer],
        coverage={"Final Schedule": percent(final), "Overrides": percent(in_force)},
        overrides=[(a, b, overrides[v].user) for a, b, v in runs(in_force, since)],
        final=runs(final, since),
    )


def utc(t: int) -> str:
    return (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=t)).isoformat()
