"""Question-shaped queries: "who is on call for payments" searches for ``payments``.

The index wants every word of a query to match, so the words of the question itself ("who",
"on call", "page") would leave nothing found. A query is a question when it starts with a
question word or ends with "?"; then its question words and filler are dropped and what is left
(the team, the service, and words that name a document: "primary", "schedule", "escalation
policy") is searched. Any other query is left exactly as typed.
"""

from __future__ import annotations

import re
from typing import Final

_QUESTION_STARTS: Final = frozenset(
    {"who", "whom", "whos", "who's", "whose", "which", "what", "whats", "what's", "where",
     "how", "when"}
)
_FILLER: Final = frozenset(
    {
        "who", "whom", "whos", "who's", "whose", "which", "what", "whats", "what's", "where",
        "how", "when", "is", "are", "was", "will", "be", "do", "does", "did", "should", "can",
        "could", "i", "we", "me", "us", "my", "our", "you", "the", "a", "an", "for", "of", "at",
        "to", "in", "from", "with", "about", "on", "call", "calls", "oncall", "on-call",
        "page", "pages", "paging", "paged", "ping", "contact", "reach", "escalate",
        "escalating", "notify", "now", "right", "currently", "current", "today", "tonight",
        "this", "week", "weekend", "next", "up", "handles", "handling", "owns", "responsible",
        "person", "someone", "somebody", "anyone", "it", "there", "team", "tell",
    }
)
_WORD: Final = re.compile(r"[^\s?!.,;:]+")


def is_question(query: str) -> bool:
    """True for "who is on call for payments", "Who do I page for checkout?", "payments?"."""
    text = query.strip().lower()
    if not text:
        return False
    words = _WORD.findall(text)
    return text.endswith("?") or bool(words and words[0] in _QUESTION_STARTS)


def question_terms(query: str) -> str:
    """The words of a question that name what it is about; any other query unchanged. A
    question of nothing but question words ("who is on call?") becomes blank: everything."""
    if not is_question(query):
        return query
    words = _WORD.findall(query)
    return " ".join(w for w in words if w.lower() not in _FILLER)
