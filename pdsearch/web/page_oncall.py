"""Who is on call, for the search page: an answer card for a question, and now/next on each
result, in the viewer's PagerDuty time zone (named). The data is the store's, read in two
queries for the page (``pdsearch.oncall.answers``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from pdsearch.index.base import SearchHit
from pdsearch.oncall import POLICY, Answer, answers, local_time, viewer_zone
from pdsearch.questions import is_question
from pdsearch.store import Store

#: How many results a question's answer card covers.
CARD_RESULTS = 2


def _person(e: dict[str, Any], zone: Any, kind: str, now: datetime) -> dict[str, str]:
    return {
        "label": f"Level {e['level']}" if kind == POLICY and e["level"] is not None else "",
        "name": e["user"]["name"],
        "email": e["user"]["email"],
        "until": "always on call" if e["end"] is None
        else f"until {local_time(e['end'], zone, now=now)}",
        "from": "" if e["start"] is None else f"from {local_time(e['start'], zone, now=now)}",
    }


def _view(hit: SearchHit, answer: Answer | None, zone: Any, now: datetime) -> dict[str, Any] | None:
    if answer is None:
        return None
    return {
        "title": hit.title,
        "type": hit.type,
        "url": hit.url,
        "now": [_person(e, zone, hit.type, now) for e in answer["now"]],
        "next": [_person(e, zone, hit.type, now) for e in answer["next"]],
    }


def oncall_view(
    store: Store, hits: Sequence[SearchHit], viewer: str, query: str
) -> dict[str, Any]:
    """``{"zone", "by_hit": [view or None per hit], "card": [views] or None}``: the card only
    for a question, from the best results whose answer is known."""
    now = datetime.now(UTC)
    zone = viewer_zone(store, viewer)
    found = answers(store.oncall, hits, now)
    views = [_view(h, a, zone, now) for h, a in zip(hits, found, strict=True)]
    card = None
    if is_question(query):
        card = [v for v in views if v is not None][:CARD_RESULTS] or None
    return {"zone": zone.key, "by_hit": views, "card": card}
