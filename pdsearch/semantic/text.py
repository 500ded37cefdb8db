"""What of a document is embedded: the words that carry its meaning, not its lists of people."""

from __future__ import annotations

import re
from collections.abc import Sequence

# Part of ``Embedder.model_id``: change it whenever ``meaning_text`` changes what it returns,
# so that vectors stored from the old text are computed again.
TEXT_RECIPE = "meaning-v2"

_WORD = re.compile(r"\w+")


def _clean(text: str | None) -> str:
    return " ".join((text or "").split())


def _sentence(text: str) -> str:
    return text if not text or text.endswith((".", "!", "?")) else f"{text}."


def beyond_name(name: str, description: str) -> str:
    """What a description says beyond the name it describes ("" when nothing).

    A leading restatement of the name goes ("The Payments team processes card payments" →
    "processes card payments"), and a description adding at most two words to the name
    ("Checkout API production service.") is dropped whole. Such words double a document's word
    pieces, and the time to embed it, for no meaning the name does not already carry.
    """
    if name:
        lead = re.match(rf"(?i)(the\s+)?{re.escape(name)}(\s+(team|service))?\b[\s,:;.-]*",
                        description)
        if lead:
            description = description[lead.end():]
    named = {w.lower() for w in _WORD.findall(name)}
    extra = [w for w in _WORD.findall(description) if w.lower() not in named]
    return description.rstrip(".") if len(extra) > 2 else ""


def meaning_text(title: str, teams: Sequence[tuple[str, str | None]],
                 services: Sequence[tuple[str, str | None]], description: str | None) -> str:
    """The text to embed for a policy or schedule.

    ``teams`` and ``services`` are ``(name, description)`` pairs (a description may be empty or
    None). The result reads "Title. Team: what it does. Services: A, B (what B does).
    Description." with whitespace collapsed, empty parts left out, and of each team's or
    service's description only what it says beyond the name. E-mails, user names and rotation
    details stay out: no question in other words matches them, and they would crowd the
    model's 256 word pieces and slow it down.
    """
    parts = [_sentence(_clean(title))]
    for name, about in teams:
        name = _clean(name)
        said = beyond_name(name, _clean(about))
        if name or said:
            parts.append(_sentence(f"{name}: {said}" if name and said else name or said))
    named = []
    for name, about in services:
        name = _clean(name)
        said = beyond_name(name, _clean(about))
        if name or said:
            named.append(f"{name} ({said})" if name and said else name or said)
    if named:
        parts.append(f"Services: {', '.join(named)}.")
    parts.append(_sentence(_clean(description)))
    return " ".join(p for p in parts if p)
