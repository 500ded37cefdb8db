"""A layer-based schedule rendered over a window: each layer's entries, overrides, final schedule.

Stacking follows PagerDuty: a later layer (later in the list a client wrote) beats an earlier one
wherever it has someone on call, and overrides beat every layer, the most recently created
override winning where overrides overlap. Where nobody is on call the final schedule has a gap.

Entry shapes (choices written down in docs/SIMULATOR.md):

- a layer's entries are one per turn and allowed window, so a turn handed to the same user again
  is a new entry;
- the overrides sub-schedule has one entry per override where it is the one in force;
- the final schedule has one entry per stretch of one user, whatever layers or overrides it
  came from.

Entries are clipped to ``[since, until)`` unless ``overflow``: then an entry crossing the window
keeps its extent, looked for up to ``reach`` seconds (the longest turn of the layers, at least a
day, at most ``MAX_REACH``) outside it.
"""

from __future__ import annotations

import heapq
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from pdsearch.simulator.timeline import (
    DAY,
    Budget,
    Layer,
    Piece,
    iso,
    layer_pieces,
    merge,
    offset_segments,
    zone,
)

JSON = dict[str, Any]
# The longest stretch an overflowing entry is followed outside the window.
MAX_REACH = 366 * DAY


@dataclass(frozen=True)
class OverrideSpan:
    """An override as the renderer needs it; ``seq`` orders overrides by creation."""

    id: str
    start: int
    end: int
    user: str
    seq: int


@dataclass(frozen=True)
class Segment:
    """``[start, end)`` with ``user`` on call; ``source`` names the piece or override in force."""

    start: int
    end: int
    user: str
    source: object


@dataclass(frozen=True)
class Rendered:
    layers: list[list[Piece]]  # in the schedule's stored order (lowest priority first)
    overrides: list[Segment]
    final: list[Segment]


def _on_top(items: Sequence[tuple[int, int, int, object, str]]) -> list[Segment]:
    """For ``(start, end, priority, source, user)`` items, the highest priority at each instant.

    A sweep over the items' edges with a heap of the ones in force; an item whose end has passed
    is dropped when it reaches the top. ``O(n log n)``."""
    ordered = sorted(items, key=lambda item: item[0])
    points = sorted({p for item in ordered for p in (item[0], item[1])})
    heap: list[tuple[int, int, tuple[int, int, int, object, str]]] = []
    out: list[Segment] = []
    i = 0
    for n, point in enumerate(points[:-1]):
        while i < len(ordered) and ordered[i][0] <= point:
            heapq.heappush(heap, (-ordered[i][2], i, ordered[i]))
            i += 1
        while heap and heap[0][2][1] <= point:
            heapq.heappop(heap)
        if not heap:
            continue
        _start, _end, _priority, source, user = heap[0][2]
        following = points[n + 1]
        if out and out[-1].source is source and out[-1].end == point:
            out[-1] = Segment(out[-1].start, following, user, source)
        else:
            out.append(Segment(point, following, user, source))
    return out


def by_user(segments: Sequence[Segment]) -> list[Segment]:
    """Touching segments of the same user joined into one."""
    out: list[Segment] = []
    for seg in segments:
        if out and out[-1].user == seg.user and out[-1].end == seg.start:
            out[-1] = Segment(out[-1].start, seg.end, seg.user, out[-1].source)
        else:
            out.append(seg)
    return out


class ScheduleTimeline:
    """A stored layer-based schedule (layers in written order) and its overrides."""

    def __init__(self, schedule: JSON, overrides: Sequence[OverrideSpan] = ()) -> None:
        self.tz: ZoneInfo = zone(str(schedule.get("time_zone") or "UTC"))
        self.layer_ids = [str(layer.get("id", "")) for layer in schedule.get("schedule_layers", [])]
        self.layers = [Layer.parse(layer) for layer in schedule.get("schedule_layers", [])]
        self.overrides = sorted(overrides, key=lambda o: o.seq)

    @property
    def reach(self) -> int:
        longest = max((layer.turn for layer in self.layers), default=DAY)
        return min(max(longest, DAY), MAX_REACH)

    def render(self, lo: int, hi: int, budget: Budget | None = None) -> Rendered:
        """Everything on call within ``[lo, hi)``, clipped to it."""
        budget = budget or Budget()
        segments = offset_segments(self.tz, lo, hi)
        layers = [layer_pieces(layer, self.tz, segments, budget) for layer in self.layers]
        spans = [o for o in self.overrides if o.start < hi and o.end > lo]
        budget.spend(len(spans))
        override_items = [
            (max(o.start, lo), min(o.end, hi), o.seq, o, o.user) for o in spans if o.end > o.start
        ]
        overrides = _on_top(override_items)
        top = len(self.layers)
        items: list[tuple[int, int, int, object, str]] = [
            (p.start, p.end, n, p, p.user) for n, pieces in enumerate(layers) for p in pieces
        ]
        items += [(s, e, top + seq, src, user) for s, e, seq, src, user in override_items]
        final = by_user(_on_top(items))
        budget.spend(len(final))
        return Rendered(layers, overrides, final)


# ---------------------------------------------------------------------------------- answers


def _meets(start: int, end: int, since: int, until: int) -> bool:
    return start < until and end > since


def _entries(
    spans: Sequence[tuple[int, int, str]],
    since: int,
    until: int,
    overflow: bool,
    out_tz: ZoneInfo,
    user_ref: Callable[[str], JSON],
) -> list[JSON]:
    out = []
    for start, end, user in spans:
        if not _meets(start, end, since, until):
            continue
        if not overflow:
            start, end = max(start, since), min(end, until)
        out.append({"user": user_ref(user), "start": iso(start, out_tz), "end": iso(end, out_tz)})
    return out


def coverage(spans: Sequence[tuple[int, int, str]], since: int, until: int) -> float:
    """Share of ``[since, until)`` covered, in percent with two decimals (0 for an empty window)."""
    if until <= since:
        return 0.0
    covered = sum(
        b - a for a, b in merge((max(s, since), min(e, until)) for s, e, _ in spans) if b > a
    )
    return round(100.0 * covered / (until - since), 2)


def _sub(
    name: str,
    spans: Sequence[tuple[int, int, str]],
    since: int,
    until: int,
    overflow: bool,
    out_tz: ZoneInfo,
    user_ref: Callable[[str], JSON],
) -> JSON:
    return {
        "name": name,
        "rendered_schedule_entries": _entries(spans, since, until, overflow, out_tz, user_ref),
        "rendered_coverage_percentage": coverage(spans, since, until),
    }


def fill_schedule(
    shown: JSON,
    timeline: ScheduleTimeline,
    since: int,
    until: int,
    *,
    out_tz: ZoneInfo,
    overflow: bool,
    user_ref: Callable[[str], JSON],
) -> JSON:
    """``shown`` (the schedule as GET answers it, layers in any order) with every rendered field.

    Each layer of ``shown`` is matched to its definition by id (by position when ids repeat)."""
    reach = timeline.reach if overflow else 0
    rendered = timeline.render(since - reach, until + reach)
    by_id: dict[str, list[Piece]] = {}
    for layer_id, pieces in zip(timeline.layer_ids, rendered.layers, strict=True):
        by_id.setdefault(layer_id, pieces)
    unique = len(by_id) == len(timeline.layer_ids)
    layers = []
    shown_layers = shown.get("schedule_layers") or []
    for n, layer in enumerate(shown_layers):
        if unique:
            pieces = by_id.get(str(layer.get("id", "")), [])
        else:  # ids repeat: ``shown`` lists the highest layer first
            pieces = rendered.layers[len(shown_layers) - 1 - n]
        spans = [(p.start, p.end, p.user) for p in pieces]
        filled = dict(layer)
        filled["rendered_schedule_entries"] = _entries(
            spans, since, until, overflow, out_tz, user_ref
        )
        filled["rendered_coverage_percentage"] = coverage(spans, since, until)
        layers.append(filled)
    out = dict(shown)
    out["schedule_layers"] = layers
    override_spans = [(s.start, s.end, s.user) for s in rendered.overrides]
    final_spans = [(s.start, s.end, s.user) for s in rendered.final]
    out["overrides_subschedule"] = _sub(
        "Overrides", override_spans, since, until, overflow, out_tz, user_ref
    )
    out["final_schedule"] = _sub(
        "Final Schedule", final_spans, since, until, overflow, out_tz, user_ref
    )
    return out


class RunCache:
    """Parsed schedules and their final-schedule runs per block, for reads that come back.

    ``/oncalls`` renders every schedule a policy uses; a client paging through it asks again for
    the same blocks. Everything is kept (blocks least recently used out first) until the
    account or its overrides change: ``at(version)`` with a new version empties the cache."""

    def __init__(self, max_entries: int = 16_384) -> None:
        self.max_entries = max_entries
        self._version: object = None
        self._runs: OrderedDict[tuple[str, int, int], list[Segment]] = OrderedDict()
        self._timelines: dict[str, ScheduleTimeline] = {}
        self._answers: OrderedDict[tuple[object, ...], Any] = OrderedDict()
        self.hits = 0

    def at(self, version: object) -> None:
        if version != self._version:
            self.clear()
            self._version = version

    def timeline(self, schedule_id: str, make: Callable[[], ScheduleTimeline]) -> ScheduleTimeline:
        found = self._timelines.get(schedule_id)
        if found is None:
            found = self._timelines[schedule_id] = make()
        return found

    def runs(
        self, schedule_id: str, lo: int, hi: int, compute: Callable[[], list[Segment]]
    ) -> list[Segment]:
        key = (schedule_id, lo, hi)
        found = self._runs.get(key)
        if found is not None:
            self.hits += 1
            self._runs.move_to_end(key)
            return found
        value = self._runs[key] = compute()
        if len(self._runs) > self.max_entries:
            self._runs.popitem(last=False)
        return value

    def answer(self, key: tuple[object, ...], compute: Callable[[], Any]) -> Any:
        """A whole computed answer (the pages of one listing share it), a few kept."""
        if key in self._answers:
            self._answers.move_to_end(key)
            return self._answers[key]
        value = self._answers[key] = compute()
        if len(self._answers) > 16:
            self._answers.popitem(last=False)
        return value

    def clear(self) -> None:
        self._runs.clear()
        self._timelines.clear()
        self._answers.clear()
