"""Hybrid search: keyword candidates and meaning candidates, both access-filtered, fused.

1. Keyword: the index's own search (``SearchIndex.search``: words ANDed, then any word),
   the first ``WINDOW`` hits.
2. Meaning: the question's embedding, and the index's ``nearest`` documents among those the
   user's grants admit (the access filter picks the rows before any is scored), the first
   ``WINDOW`` with a cosine of at least ``MIN_COSINE``.
3. Fusion, in two tiers: documents holding *every* word of the question first, in keyword
   order (names, e-mails, ids and phrases keep winning, exactly as keyword search ranks
   them); then the documents found by meaning alone, nearest first. Measured against
   reciprocal rank fusion on both paraphrase sets and the literal questions
   (docs/SEMANTIC.md): RRF within the first tier lost a literal question and found no
   paraphrase more; RRF of meaning with the keyword ranks of documents holding only *some*
   words (FTS's any-word fallback) lost paraphrases (incidental words, "keep", "new", "data",
   match unrelated teams) and, for an administrator, ranking every any-word match was most
   of a search's time. So the keyword side asks for every word only (``every_word``).
   A question that is literal by its form (a quoted phrase, a prefix, an e-mail address, a
   PagerDuty id) is answered by keyword alone, as is one without a word the model reads as a
   word (``has_meaning``: "zzzqqq" has no neighbours, only noise), one whose every word
   more than ``WINDOW`` documents hold (they fill the fused pages in keyword order anyway),
   and one the meaning side finds nothing for (no vectors yet): keyword search as it is
   without semantic search, its any-word fallback included.
4. ``-word`` holds for both sides: a document found by meaning that holds an excluded word is
   left out.

Both sides see only what the user may see, so the fused list, its pages and its total count
only visible documents. The fused list is the whole answer: ``total`` is its length, the
same on every page.

A document found only by meaning has no word of the question to highlight: its snippet is the
start of its description (or of what its team does, or of its content).
"""

from __future__ import annotations

import html
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from typing import Final, Protocol

from pdsearch.index.base import (
    Document,
    Grant,
    SearchHit,
    SearchIndex,
    SearchResults,
    Vector,
    VectorIndex,
)
from pdsearch.index.query import STOP_WORDS, ParsedQuery, Term, parse_query, word_forms

#: Candidates taken from each side.
WINDOW: Final = 50
#: Meaning candidates below this cosine are not related enough to show.
MIN_COSINE: Final = 0.1
#: Scores of every-word matches: 1 + 1 / (KEYWORD_RANK_BASE + keyword rank), above any cosine.
KEYWORD_RANK_BASE: Final = 60
SNIPPET_WORDS: Final = 32

_PAGERDUTY_ID = re.compile(r"P[A-Z0-9]{6,13}")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+")


class QueryEmbedder(Protocol):
    """What hybrid search needs of the embedding model (``pdsearch.semantic.Embedder``)."""

    @property
    def model_id(self) -> str: ...

    def embed_query(self, text: str) -> Vector: ...

    def familiar(self, word: str) -> bool: ...


def is_literal(parsed: ParsedQuery) -> bool:
    """A question whose form says it looks for exact text: a quoted phrase, a prefix, an
    e-mail address or a PagerDuty id."""
    return any(t.phrase or t.prefix or _EMAIL.fullmatch(t.text) or _PAGERDUTY_ID.fullmatch(t.text)
               for t in parsed.terms)


def has_meaning(parsed: ParsedQuery, embedder: QueryEmbedder) -> bool:
    """Whether the question holds a word the model reads as a word (beyond common words):
    "zzzqqq" or "qqqq xkcdq" get no neighbours by meaning, which would be noise."""
    words = [w for t in parsed.terms for w in re.findall(r"[^\W_]+", t.text.lower())
             if w not in STOP_WORDS and any(ch.isalpha() for ch in w)]
    return any(embedder.familiar(w) for w in words)


def meaning_query(raw: str) -> str:
    """The question as the model reads it: what was typed, without the ``-word`` exclusions."""
    return " ".join(w for w in raw.split() if not (w.startswith("-") and len(w) > 1))


@dataclass(frozen=True)
class _Candidate:
    source: str
    id: str
    keyword_rank: int | None = None
    cosine: float = 0.0
    hit: SearchHit | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.source, self.id)

    @property
    def score(self) -> float:
        """Higher is better: an every-word match above any found by meaning alone."""
        if self.keyword_rank is not None:
            return 1.0 + 1.0 / (KEYWORD_RANK_BASE + self.keyword_rank)
        return self.cosine


def notice(parsed: ParsedQuery, keyword: SearchResults, by_meaning: bool) -> str | None:
    """What to tell the person when the words that matter match nothing (or not all of them
    together) in what they may see. Worded alike whatever exists beyond their view: it is
    made from the visible results only."""
    if parsed.browse or not parsed.terms:
        return None
    words = ", ".join(f"“{t.text}”" for t in parsed.terms)
    if keyword.total == 0:
        tail = " Showing what is closest in meaning." if by_meaning else ""
        together = "all of " if len(parsed.terms) > 1 and by_meaning else ""
        return f"Nothing matches {together}{words}.{tail}"
    if keyword.partial:
        return f"Nothing matches all of {words} together; showing the closest."
    return None


def hybrid_search(
    index: SearchIndex, embedder: QueryEmbedder | None, query: str, grants: Collection[Grant],
    limit: int, offset: int,
) -> SearchResults:
    """Keyword and meaning candidates fused (see the module docstring), with a ``notice``
    when the words match nothing; keyword search alone without an ``embedder`` or an index
    holding vectors. ``grants`` non-empty."""
    parsed = parse_query(query)
    if embedder is None or parsed.browse or not parsed.terms or is_literal(parsed) \
            or not isinstance(index, VectorIndex) or not has_meaning(parsed, embedder):
        found = index.search(query, grants, limit=limit, offset=offset)
        return replace(found, notice=notice(parsed, found, by_meaning=False))
    # Documents holding only some words are not asked for: ranking them all costs the most
    # for long questions (an administrator's any-word match is most of the index), and on the
    # paraphrase sets they barely moved what meaning found (docs/SEMANTIC.md).
    keyword = index.search(query, grants, limit=WINDOW, offset=0, every_word=True)
    if keyword.total > WINDOW:
        # More documents hold every word than fusion ranks: they would fill every fused page
        # in keyword order anyway, so keyword pages answer (exact totals, any depth).
        found = replace(keyword, hits=keyword.hits[:limit]) if offset == 0 and limit <= WINDOW \
            else index.search(query, grants, limit=limit, offset=offset)
        return replace(found, notice=notice(parsed, found, by_meaning=False))
    near = index.nearest(embedder.embed_query(meaning_query(query)), grants, WINDOW,
                         model_id=embedder.model_id)
    near = [n for n in near if n[2] >= MIN_COSINE]
    if not near:
        # Nothing by meaning (no vectors yet: semantic search just turned on, or an index
        # without them; or nothing related): keyword search as it is without semantic search.
        found = index.search(query, grants, limit=limit, offset=offset)
        return replace(found, notice=notice(parsed, found, by_meaning=False))
    ranked = _fuse(keyword, near)
    # A meaning-only candidate is read for its snippet (only those up to the page), or, when
    # words are excluded, to leave out those that hold one (all of them, so that pages and
    # the total agree).
    read = ranked if parsed.excluded else ranked[:offset + limit]
    hits: dict[tuple[str, str], SearchHit] = {}
    for candidate in read:
        if candidate.hit is not None:
            hits[candidate.key] = candidate.hit
            continue
        doc = index.get(candidate.source, candidate.id)
        if doc is not None and not (parsed.excluded and _holds_any(doc, parsed.excluded)):
            hits[candidate.key] = _meaning_hit(doc)
    kept = [c for c in read if c.key in hits]
    page = [replace(hits[c.key], score=c.score) for c in kept[offset:offset + limit]]
    # The fused list is the whole answer: every every-word match (at most WINDOW) and the
    # meaning candidates.
    total = len(kept) + len(ranked) - len(read)
    return SearchResults(total=total, hits=page,
                         notice=notice(parsed, keyword, by_meaning=bool(near)))


def _fuse(keyword: SearchResults, near: Sequence[tuple[str, str, float]]) -> list[_Candidate]:
    """Every-word matches in keyword order, then the documents found by meaning alone, nearest
    first."""
    ranked = [_Candidate(h.source, h.id, rank, 0.0, h)
              for rank, h in enumerate(keyword.hits, start=1)]
    seen = {c.key for c in ranked}
    ranked += [_Candidate(source, doc_id, None, cosine) for source, doc_id, cosine in near
               if (source, doc_id) not in seen]
    return ranked


def _holds_any(doc: Document, terms: Sequence[Term]) -> bool:
    words = set(re.findall(r"\w+", f"{doc.title}\n{doc.content}".lower()))
    text = " ".join(re.findall(r"\w+", f"{doc.title}\n{doc.content}".lower()))
    for term in terms:
        pieces = re.findall(r"\w+", term.text.lower())
        if len(pieces) == 1 and not term.phrase:
            if words & {f.lower() for f in word_forms(pieces[0])}:
                return True
        elif pieces and f" {' '.join(pieces)} " in f" {text} ":
            return True
    return False


def _meaning_hit(doc: Document) -> SearchHit:
    return SearchHit(id=doc.id, source=doc.source, type=doc.type, title=doc.title,
                     snippet=meaning_snippet(doc.content), url=doc.url, score=0.0)


def meaning_snippet(content: str, words: int = SNIPPET_WORDS) -> str:
    """The snippet of a document found by meaning, HTML-escaped: its description, else what its
    team does, else the start of its content."""
    lines = content.splitlines()
    chosen = next((line.removeprefix("Description: ") for line in lines
                   if line.startswith("Description: ")), None)
    if chosen is None:
        chosen = next((line for line in lines if line.startswith("What the team")), content)
    parts = chosen.split()
    text = " ".join(parts[:words])
    return html.escape(text + (" …" if len(parts) > words else ""), quote=True)
