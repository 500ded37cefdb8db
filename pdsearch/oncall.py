"""On-call answers (DESIGN 2.5) for search results and for "who is on call".

Everything is read from the store (``store.oncall``), never from PagerDuty: a page of results
costs one query for its shifts and one for its connectors' windows. An answer is
``{"now": [entry, ...], "next": [entry, ...]}`` or None where it is unknown: the connector has
no on-call data, ``at`` lies outside its stored window, or PagerDuty could not render the
schedule. An entry is ``{"level", "user": {"id", "name", "email"}, "schedule_id", "start",
"end"}`` with times in UTC.

- A schedule: ``now`` is who it puts on call at ``at``; ``next`` who takes the following shift
  (the shifts starting soonest after ``at``). ``level`` is null.
- An escalation policy: ``now`` has one entry per level and user at ``at`` for each way the
  user is on call there, as PagerDuty's ``/oncalls`` lists them: through a schedule, or
  targeted directly (``schedule_id``, ``start`` and ``end`` null); ``next``, per level, the
  shifts that start soonest after ``at``.

``who_is_on_call`` answers ``GET /oncall``: it searches as the user (the question's words
dropped), so it answers only for documents the user may see, and counts only those.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pdsearch.hybrid import QueryEmbedder
from pdsearch.index.base import SearchHit, SearchIndex
from pdsearch.search import search
from pdsearch.store import OnCallRepository, OnCallShift, OnCallWindow, Store

Answer = dict[str, list[dict[str, Any]]]
SCHEDULE: Final = "schedule"
POLICY: Final = "escalation_policy"


class OutsideWindowError(ValueError):
    """``at`` lies outside every stored on-call window the user's connectors have."""


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else _utc_text(moment)


@functools.lru_cache(maxsize=8192)
def _utc_text(moment: datetime) -> str:
    # Shifts of a page share their boundaries (midnight, the hand-over hour): cached.
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def entry(shift: OnCallShift) -> dict[str, Any]:
    return {
        "level": shift.level,
        "user": {"id": shift.user_id, "name": shift.user_name, "email": shift.user_email},
        "schedule_id": shift.schedule_id,
        "start": _iso(shift.start),
        "end": _iso(shift.end),
    }


def _soonest_after(shifts: Iterable[OnCallShift], at: datetime) -> list[OnCallShift]:
    later = [s for s in shifts if s.start is not None and s.start > at]
    if not later:
        return []
    first = min(s.start for s in later if s.start is not None)
    return [s for s in later if s.start == first]


def schedule_answer(shifts: Sequence[OnCallShift], at: datetime) -> Answer:
    now = [s for s in shifts if s.covers(at)]
    return {"now": [entry(s) for s in now], "next": [entry(s) for s in _soonest_after(shifts, at)]}


def policy_answer(shifts: Sequence[OnCallShift], at: datetime) -> Answer:
    now = sorted((s for s in shifts if s.covers(at)), key=_by_level)
    levels = sorted({s.level or 0 for s in shifts})
    following = [
        s for level in levels for s in _soonest_after((x for x in shifts if x.level == level), at)
    ]
    return {"now": [entry(s) for s in now], "next": [entry(s) for s in following]}


def _by_level(s: OnCallShift) -> tuple[int, int, str, str]:
    return (s.level or 0, 0 if s.schedule_id else 1, s.schedule_id or "", s.user_id)


def _pd_id(doc_id: str) -> tuple[str, str] | None:
    kind, _, pd_id = doc_id.partition(":")
    return (kind, pd_id) if kind in (SCHEDULE, POLICY) and pd_id else None


def answers(
    oncall: OnCallRepository,
    hits: Sequence[SearchHit],
    at: datetime,
    windows: dict[str, OnCallWindow] | None = None,
) -> list[Answer | None]:
    """One answer per hit (None where unknown): two queries for the whole page."""
    if windows is None:
        windows = oncall.windows({h.source for h in hits})
    wanted: dict[str, tuple[set[str], set[str]]] = {}
    for h in hits:
        parsed = _pd_id(h.id)
        window = windows.get(h.source)
        if parsed is None or window is None or not window.holds(at) or h.id in window.unknown:
            continue
        schedules, policies = wanted.setdefault(h.source, (set(), set()))
        (schedules if parsed[0] == SCHEDULE else policies).add(parsed[1])
    found = oncall.shifts_for(
        [(cid, sorted(s), sorted(p)) for cid, (s, p) in sorted(wanted.items())], at
    )
    out: list[Answer | None] = []
    for h in hits:
        parsed = _pd_id(h.id)
        if parsed is None or h.source not in wanted:
            out.append(None)
            continue
        window = windows[h.source]
        if h.id in window.unknown:
            out.append(None)
            continue
        shifts = found.get((h.source, parsed[0], parsed[1]), [])
        out.append(schedule_answer(shifts, at) if parsed[0] == SCHEDULE
                   else policy_answer(shifts, at))
    return out


@dataclass(frozen=True)
class OnCallResult:
    """One document the user may see, with who is on call on it at ``at``."""

    hit: SearchHit
    oncall: Answer | None


@dataclass(frozen=True)
class OnCallAnswer:
    at: datetime
    total: int
    results: list[OnCallResult]


def who_is_on_call(
    index: SearchIndex,
    store: Store,
    user_email: str,
    query: str,
    at: datetime | None = None,
    *,
    limit: int = 10,
    offset: int = 0,
    embedder: QueryEmbedder | None = None,
) -> OnCallAnswer:
    """Who is on call at ``at`` (default now) for the policies and schedules ``user_email``
    may see that match ``query`` (a question's own words dropped; ``embedder``: by meaning
    too, as the search page finds them). ``OutsideWindowError`` when an ``at`` was given that
    no stored window of the user's connectors holds."""
    moment = (at or datetime.now(UTC)).astimezone(UTC)
    found = search(index, store.entities, query, user_email, limit, offset, embedder=embedder)
    connectors = {source for source, _ in store.entities.memberships(user_email)}
    windows = store.oncall.windows(connectors) if connectors else {}
    if at is not None and connectors and not any(w.holds(moment) for w in windows.values()):
        raise OutsideWindowError(_outside(moment, windows))
    return OnCallAnswer(
        moment,
        found.total,
        [OnCallResult(h, a) for h, a in zip(found.hits, answers(store.oncall, found.hits,
                                                                   moment, windows), strict=True)],
    )


class StoredOnCall:
    """``who_is_on_call`` in the shape of ``GET /api/v1/oncall``'s answer: the answerer the MCP
    tool ``who_is_on_call`` is given (``pdsearch.mcp.schemas.OnCallAnswerer``)."""

    def __init__(self, index: SearchIndex, store: Store,
                 embedder: QueryEmbedder | None = None) -> None:
        self.index = index
        self.store = store
        self.embedder = embedder

    def __call__(self, user_email: str, query: str, at: datetime) -> dict[str, Any]:
        found = who_is_on_call(self.index, self.store, user_email, query, at,
                               embedder=self.embedder)
        return {
            "at": _iso(found.at),
            "total": found.total,
            "data": [
                {"id": r.hit.id, "connector_id": r.hit.source, "type": r.hit.type,
                 "title": r.hit.title, "url": r.hit.url, "oncall": r.oncall}
                for r in found.results
            ],
        }


def _outside(at: datetime, windows: dict[str, OnCallWindow]) -> str:
    if not windows:
        return (
            "No on-call data has been read yet for your connectors: sync them (each sync "
            "refreshes who is on call) and ask again."
        )
    since = min(w.since for w in windows.values())
    until = max(w.until for w in windows.values())
    return (
        f"{_iso(at)} is outside the stored on-call window ({_iso(since)} to {_iso(until)}). "
        "Ask about a time within it; the window reaches PDSEARCH_ONCALL_WINDOW_DAYS ahead."
    )


# -- for people: times in the viewer's zone -------------------------------------------------

def viewer_zone(store: Store, email: str) -> ZoneInfo:
    """The viewer's PagerDuty time zone (from the last sync), else UTC."""
    name = store.oncall.time_zone_of(email) if email.strip() else None
    try:
        return ZoneInfo(name) if name else ZoneInfo("UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def local_time(iso: str | None, zone: ZoneInfo, *, now: datetime | None = None) -> str:
    """``Tue 8 Dec 09:00 CET`` (the year when it is not ``now``'s); ``always`` for None."""
    if iso is None:
        return "always"
    moment = datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone(zone)
    year = (now or datetime.now(UTC)).astimezone(zone).year
    shown = moment.strftime("%a %-d %b %H:%M" if moment.year == year else "%a %-d %b %Y %H:%M")
    return f"{shown} {moment.tzname()}"


def describe(kind: str, answer: Answer | None, zone: ZoneInfo) -> list[str]:
    """Lines a person reads: level by level, names, e-mails, until when."""
    if answer is None:
        return ["on call: not known (no on-call data for this time)"]
    lines: list[str] = []
    for e in answer["now"]:
        who = f"{e['user']['name']} <{e['user']['email']}>" if e["user"]["email"] else (
            e["user"]["name"])
        until = "always" if e["end"] is None else f"until {local_time(e['end'], zone)}"
        label = f"Level {e['level']}" if kind == POLICY else "Now"
        lines.append(f"{label}: {who}, {until}")
    if not answer["now"]:
        lines.append("Nobody is on call now.")
    for e in answer["next"] if kind == SCHEDULE else []:
        lines.append(f"Next: {e['user']['name']}, from {local_time(e['start'], zone)}")
    return lines
