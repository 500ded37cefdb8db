"""Reading PagerDuty's date-times. Schedule rendering lives in ``timeline.py`` (who is on call
when) and ``schedule_render.py`` (stacking layers and overrides into PagerDuty's answer)."""

from __future__ import annotations

from datetime import UTC, datetime


def parse_time(value: str) -> datetime:
    """An ISO 8601 date-time, aware (UTC when it has no offset); ``ValueError`` otherwise."""
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
