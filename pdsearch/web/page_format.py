"""Small formatting helpers the page templates use (Jinja2 filters), kept free of web routing."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from markupsafe import Markup, escape

_MARK = re.compile(r"(</?mark>)")

TYPE_LABELS = {"escalation_policy": "Escalation policy", "schedule": "Schedule"}
STATUS_LABELS = {
    "new": "Not connected",
    "connected": "Connected",
    "error": "Error",
    "needs_authorization": "Needs sign-in",
    "removing": "Being removed",
    "queued": "Queued",
    "running": "Running",
    "succeeded": "Succeeded",
    "failed": "Failed",
    "canceled": "Canceled",
    "skipped": "Skipped",
}
PHASE_LABELS = {
    "starting": "Starting",
    "identity": "Reading users and teams",
    "policies": "Reading escalation policies",
    "schedules": "Reading schedules",
    "indexing": "Indexing documents",
    "deleting": "Removing deleted documents",
}


def snippet_html(snippet: str) -> Markup:
    """The index's snippet as HTML: only ``<mark>`` survives, everything else is text.

    The index already escapes its snippets; this holds even if it did not (text between the
    marks is unescaped once and escaped again, so nothing else can become markup).
    """
    out: list[str] = []
    for part in _MARK.split(snippet or ""):
        if part in ("<mark>", "</mark>"):
            out.append(part)
        else:
            out.append(str(escape(html.unescape(part))))
    text = "".join(out)
    # Unbalanced marks (a cut snippet) would leave the rest of the page highlighted.
    opened = text.count("<mark>") - text.count("</mark>")
    text += "</mark>" * max(0, opened)
    return Markup(text)  # noqa: S704 - built above from escaped parts and <mark> only


def safe_url(url: str | None) -> str | None:
    """The URL when it is an http(s) link, else None (never a ``javascript:`` href)."""
    if not url:
        return None
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return url.strip()


def parse_time(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def iso_z(value: Any) -> str:
    moment = parse_time(value)
    return "" if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def when(value: Any) -> Markup:
    """A ``<time>`` element in UTC; the pages' script shows it in the reader's time zone."""
    moment = parse_time(value)
    if moment is None:
        return Markup('<span class="muted">—</span>')
    utc = moment.astimezone(UTC)
    return Markup('<time datetime="{}">{}</time>').format(
        utc.strftime("%Y-%m-%dT%H:%M:%SZ"), utc.strftime("%Y-%m-%d %H:%M UTC")
    )


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def label(value: str | None, table: dict[str, str]) -> str:
    if not value:
        return ""
    return table.get(value, value.replace("_", " ").capitalize())


def status_label(value: str | None) -> str:
    return label(value, STATUS_LABELS)


def type_label(value: str | None) -> str:
    return label(value, TYPE_LABELS)


def phase_label(value: str | None) -> str:
    return label(value, PHASE_LABELS)


def plural(count: int | None, one: str, many: str | None = None) -> str:
    """ "1 document", "70 documents" ("1 entity", "2 entities" with ``many``)."""
    n = int(count or 0)
    return f"{n} {one if n == 1 else (many or one + 's')}"


def region_label(connector: Any) -> str:
    """The region a connector reads, or "Custom (host)" when its base URL replaces the
    region's (the simulator, a proxy): saying "US" there would be wrong."""
    base_url = getattr(connector, "base_url", None)
    if base_url:
        try:
            host = urlsplit(base_url).netloc
        except ValueError:
            host = ""
        return f"Custom ({host or base_url})"
    return str(getattr(connector, "region", "") or "").upper()


def describe_schedule(spec: dict[str, Any] | None) -> Markup:
    """The schedule in words; a one-time run's moment as a ``<time>`` the pages' script shows
    in the reader's time zone, labelled, like "Next run"."""
    if not spec:
        return Markup("No schedule: syncs run only when started by hand.")
    if spec.get("interval_minutes"):
        n = int(spec["interval_minutes"])
        if n % 1440 == 0:
            text = "Every day" if n == 1440 else f"Every {n // 1440} days"
        elif n % 60 == 0:
            text = "Every hour" if n == 60 else f"Every {n // 60} hours"
        else:
            text = "Every minute" if n == 1 else f"Every {n} minutes"
        return Markup(text)  # noqa: S704 - made of numbers and fixed words
    if spec.get("cron"):
        return Markup("By cron '{}' ({})").format(spec["cron"], spec.get("timezone") or "UTC")
    if spec.get("run_at"):
        run_at = spec["run_at"]
        return Markup("Once, at {}").format(when(run_at) if parse_time(run_at) else run_at)
    return Markup("Custom schedule")


def filters() -> dict[str, Any]:
    return {
        "when": when,
        "duration": duration,
        "status_label": status_label,
        "type_label": type_label,
        "phase_label": phase_label,
        "snippet_html": snippet_html,
        "safe_url": safe_url,
        "iso_z": iso_z,
        "plural": plural,
        "region_label": region_label,
    }
