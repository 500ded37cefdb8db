"""Text as it goes into the FTS table and comes back as snippets.

Snippet markers are private-use characters removed from the indexed copy of the text, so after
HTML-escaping a snippet they can only be the hits FTS5 marked.
"""

from __future__ import annotations

import html
from collections.abc import Iterable

SNIPPET_TOKENS = 32
OPEN = "\ue000"
CLOSE = "\ue001"
_SANITIZE = str.maketrans({OPEN: "\ufffd", CLOSE: "\ufffd"})


def storable(value: str) -> str:
    """``value`` as storable UTF-8: a lone surrogate (JSON can carry one as ``\\ud800``) can't be
    encoded, so it becomes U+FFFD rather than failing the whole batch."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return value


def unmarked(text: str) -> str:
    """``text`` without the snippet markers."""
    # str.translate walks every character through a dict (12 % of indexing time); the markers
    # are almost never present.
    if OPEN in text or CLOSE in text:
        return text.translate(_SANITIZE)
    return text


def render_snippet(text: str) -> str:
    """HTML-escape a snippet whose hits are wrapped in the private markers, then mark them."""
    escaped = html.escape(text, quote=True)
    return escaped.replace(OPEN, "<mark>").replace(CLOSE, "</mark>")


def leading_words(content: str, words: int = SNIPPET_TOKENS) -> str:
    """The first words of ``content``, HTML-escaped: the snippet of a document found without
    a word of it (browsing, or found by meaning)."""
    parts = content.split()
    text = " ".join(parts[:words])
    return html.escape(text + (" …" if len(parts) > words else ""), quote=True)


def fts_row(
    rid: int, type_: str, title: str, content: str, acl_tokens: Iterable[str]
) -> tuple[int, str, str, str, str]:
    """The values of one ``docs_fts`` row: rowid, title, content, kind (the type in words) and
    the access tokens."""
    return (
        rid,
        unmarked(storable(title)),
        unmarked(storable(content)),
        storable(type_).replace("_", " "),
        " ".join(acl_tokens),
    )
