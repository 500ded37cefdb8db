"""Who is on call when: a layer's rotation, its restrictions and the final schedule over a window.

A layer hands each turn of ``rotation_turn_length_seconds`` to the next user in order, counting
from ``rotation_virtual_start``, between its ``start`` and ``end``. Restrictions narrow a turn to
the daily or weekly windows given in the schedule's time zone. The final schedule stacks the
layers: the first layer in ``schedule_layers`` wins where layers overlap (PagerDuty lists the
highest layer first), and a gap is left where no layer covers. Entries are clipped to the
``[since, until]`` window unless ``overflow`` is asked for.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

Interval = tuple[float, float]


def parse_time(value: str) -> datetime:
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _fmt(ts: float, tz: ZoneInfo) -> str:
    return datetime.fromtimestamp(ts, tz).isoformat()


def _merge(intervals: Iterable[Interval]) -> list[Interval]:
    merged: list[Interval] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _restriction_windows(
    restrictions: list[dict[str, Any]], tz: ZoneInfo, lo: float, hi: float
) -> list[Interval]:
    """The allowed intervals in ``[lo, hi]``; every restriction can reach back a week."""
    first = datetime.fromtimestamp(lo, tz).date() - timedelta(days=8)
    last = datetime.fromtimestamp(hi, tz).date() + timedelta(days=1)
    windows: list[Interval] = []
    day: date = first
    while day <= last:
        for r in restrictions:
            if r.get("type") == "weekly_restriction" and day.isoweekday() != int(
                r.get("start_day_of_week") or 1
            ):
                continue
            start_time = time.fromisoformat(str(r.get("start_time_of_day", "00:00:00")))
            begin = datetime.combine(day, start_time, tzinfo=tz).timestamp()
            windows.append((begin, begin + float(r.get("duration_seconds", 0))))
        day += timedelta(days=1)
    return [(max(a, lo), min(b, hi)) for a, b in _merge(windows) if b > lo and a < hi]


def layer_entries(
    layer: dict[str, Any], tz: ZoneInfo, lo: float, hi: float
) -> list[dict[str, Any]]:
    """On-call entries of one layer intersecting ``[lo, hi]``, each a turn (or part of one)."""
    users = [u.get("user", u) for u in layer.get("users") or []]
    turn = float(layer.get("rotation_turn_length_seconds") or 0)
    if not users or turn <= 0:
        return []
    virtual = parse_time(layer["rotation_virtual_start"]).timestamp()
    start = max(lo, parse_time(layer["start"]).timestamp() if layer.get("start") else lo)
    end = min(hi, parse_time(layer["end"]).timestamp() if layer.get("end") else hi)
    if start >= end:
        return []
    restrictions = layer.get("restrictions") or []
    allowed = _restriction_windows(restrictions, tz, start, end) if restrictions else [(start, end)]
    entries: list[dict[str, Any]] = []
    for a, b in allowed:
        k = math.floor((a - virtual) / turn)
        while True:
            turn_start = virtual + k * turn
            s, e = max(a, turn_start), min(b, turn_start + turn)
            if s >= b:
                break
            if e > s:
                entries.append({"user": users[k % len(users)], "start": s, "end": e})
            k += 1
    return entries


def _coverage(entries: list[dict[str, Any]], lo: float, hi: float) -> float:
    if hi <= lo:
        return 0.0
    covered = sum(b - a for a, b in _merge((e["start"], e["end"]) for e in entries))
    return round(100.0 * covered / (hi - lo), 2)


def _final(layers_entries: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    points = sorted(
        {p for entries in layers_entries for e in entries for p in (e["start"], e["end"])}
    )
    final: list[dict[str, Any]] = []
    for a, b in itertools.pairwise(points):
        mid = (a + b) / 2
        for entries in layers_entries:  # first layer wins
            hit = next((e for e in entries if e["start"] <= mid < e["end"]), None)
            if hit is not None:
                if final and final[-1]["end"] == a and final[-1]["user"]["id"] == hit["user"]["id"]:
                    final[-1]["end"] = b
                else:
                    final.append({"user": hit["user"], "start": a, "end": b})
                break
    return final


def _user_ref(user: dict[str, Any]) -> dict[str, Any]:
    ref = dict(user)
    if ref.get("type") == "user":
        ref["type"] = "user_reference"
    return ref


def _out(entries: list[dict[str, Any]], tz: ZoneInfo) -> list[dict[str, Any]]:
    return [
        {"user": _user_ref(e["user"]), "start": _fmt(e["start"], tz), "end": _fmt(e["end"], tz)}
        for e in entries
    ]


def render_window(since: str | None, until: str | None, now: datetime) -> tuple[datetime, datetime]:
    """PagerDuty's defaults: a missing bound is two weeks from the other; neither means from now."""
    two_weeks = timedelta(days=14)
    lo = parse_time(since) if since else None
    hi = parse_time(until) if until else None
    if lo is None and hi is None:
        lo = now.replace(microsecond=0)
    if lo is None:
        assert hi is not None
        lo = hi - two_weeks
    if hi is None:
        hi = lo + two_weeks
    return lo, hi


def render_schedule(
    schedule: dict[str, Any],
    since: datetime,
    until: datetime,
    *,
    time_zone: str | None = None,
    overflow: bool = False,
) -> dict[str, Any]:
    """``schedule`` (with ``schedule_layers``) with rendered entries and its final schedule."""
    tz = zone(time_zone or schedule.get("time_zone"))
    lo, hi = since.timestamp(), until.timestamp()
    # With overflow, whole turns that cross the window edges are kept; look a turn further out.
    reach = max(
        (
            float(layer.get("rotation_turn_length_seconds") or 0)
            for layer in schedule.get("schedule_layers") or []
        ),
        default=0.0,
    )
    wide_lo, wide_hi = (lo - reach, hi + reach) if overflow else (lo, hi)
    out = dict(schedule)
    per_layer: list[list[dict[str, Any]]] = []
    layers = []
    for layer in schedule.get("schedule_layers") or []:
        entries = layer_entries(layer, tz, wide_lo, wide_hi)
        if overflow:
            entries = [e for e in entries if e["end"] > lo and e["start"] < hi]
        per_layer.append(entries)
        rendered = dict(layer)
        rendered["rendered_schedule_entries"] = _out(entries, tz)
        rendered["rendered_coverage_percentage"] = _coverage(entries, lo, hi)
        layers.append(rendered)
    out["schedule_layers"] = layers
    final = _final(per_layer)
    out["final_schedule"] = {
        "name": "Final Schedule",
        "rendered_schedule_entries": _out(final, tz),
        "rendered_coverage_percentage": _coverage(final, lo, hi),
    }
    out["overrides_subschedule"] = {
        "name": "Overrides",
        "rendered_schedule_entries": [],
        "rendered_coverage_percentage": 0.0,
    }
    return out
