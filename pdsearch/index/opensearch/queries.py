"""From a parsed query (``pdsearch.index.query.parse_query``) to OpenSearch's query DSL.

What a person typed never becomes query syntax: each term of ``parse_query`` turns into a
``multi_match`` whose text OpenSearch only analyses (never ``query_string``), so both backends
understand the same things: words ANDed, ``"quoted phrases"``, ``pay*`` prefixes, the rest plain
text.

- A word matches its English stem in ``title`` (weight 10), ``content`` (1) and ``kind`` (3),
  the weights of SQLite's BM25 columns, the fields' scores added up. The same word in the
  ``exact`` subfields adds half again, so "payments" ranks documents saying "payments" above
  those saying "payment". A word of several pieces (``on-call``, an e-mail address) is a phrase
  of its pieces.
- A quoted phrase matches only the ``exact`` subfields (quoted text is literal).
- A prefix matches the start of a word of the ``exact`` subfields; a multi-word prefix
  (``"on ca"*``) is a phrase whose last word is a prefix (``PHRASE_PREFIX_EXPANSIONS`` words).

A search tries, in turn, what ``candidates`` yields (as SQLite's planner does): every term within
the document type the query ends with ("payments schedule"), every term, any term within that
type, any term. The first that finds a visible document answers.
"""

from __future__ import annotations

import html
import re
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Final

from pdsearch.index.base import Grant
from pdsearch.index.opensearch.documents import access_key
from pdsearch.index.opensearch.mapping import EXACT
from pdsearch.index.query import ParsedQuery, Term, is_token_char

WEIGHTS: Final = {"title": 10.0, "content": 1.0, "kind": 3.0}
EXACT_BOOST: Final = 0.5
PHRASE_PREFIX_EXPANSIONS: Final = 1000
#: About SQLite's 32-token snippets.
SNIPPET_CHARS: Final = 200
SNIPPET_WORDS: Final = 32
MARK_OPEN: Final = "<mark>"
MARK_CLOSE: Final = "</mark>"
_MARKS = re.compile("(<mark>|</mark>)")

_STEMMED = [f"{field}^{weight:g}" for field, weight in WEIGHTS.items()]
_EXACT = [f"{field}.exact^{weight:g}" for field, weight in WEIGHTS.items()]


def _pieces(text: str) -> int:
    """How many words ``text`` is to the analysers (they split where ``is_token_char`` is
    false, as SQLite's unicode61 does)."""
    count, inside = 0, False
    for ch in text:
        token = is_token_char(ch)
        if token and not inside:
            count += 1
        inside = token
    return count


def _multi(text: str, fields: list[str], kind: str, **extra: Any) -> dict[str, Any]:
    # tie_breaker 1 adds up the fields' scores (as BM25 over weighted columns does) instead
    # of taking the best field's.
    return {"multi_match": {"query": text, "fields": fields, "type": kind, "tie_breaker": 1.0,
                            **extra}}


def term_query(term: Term) -> dict[str, Any]:
    """The clause one term must match (see the module docstring)."""
    if term.prefix:
        if _pieces(term.text) > 1:
            return _multi(term.text, _EXACT, "phrase_prefix",
                          max_expansions=PHRASE_PREFIX_EXPANSIONS)
        # bool_prefix leaves a single word's prefix unbounded (phrase_prefix would expand it
        # to max_expansions words only, missing documents).
        return _multi(term.text, _EXACT, "bool_prefix")
    if term.phrase:
        return _multi(term.text, _EXACT, "phrase")
    return {
        "bool": {
            "must": [_multi(term.text, _STEMMED, "phrase")],
            "should": [_multi(term.text, _EXACT, "phrase", boost=EXACT_BOOST)],
        }
    }


def _highlight_term(term: Term) -> list[dict[str, Any]]:
    """Queries on ``content`` (stemmed, the field the snippet comes from) that mark ``term``."""
    if term.prefix:
        if _pieces(term.text) > 1:
            return [{"match_phrase_prefix": {"content": {
                "query": term.text, "analyzer": EXACT,
                "max_expansions": PHRASE_PREFIX_EXPANSIONS}}}]
        # The word's start against stems ("pay" → "payment"), and its stem ("policies*" →
        # "polici").
        return [{"match_bool_prefix": {"content": {"query": term.text, "analyzer": EXACT}}},
                {"match_bool_prefix": {"content": term.text}}]
    return [{"match_phrase": {"content": term.text}}]


@dataclass(frozen=True)
class Candidate:
    """One query to try: ``query`` (None: every visible document, of ``kind`` if given)."""

    query: dict[str, Any] | None
    kind: str | None
    #: Matches documents holding any term, not every one.
    partial: bool = False
    #: ``-word`` terms: documents holding one are left out.
    excluded: tuple[Term, ...] = ()


def _all(terms: Sequence[Term]) -> dict[str, Any] | None:
    if not terms:
        return None
    return {"bool": {"must": [term_query(t) for t in terms]}}


def _any(terms: Sequence[Term]) -> dict[str, Any]:
    return {"bool": {"should": [term_query(t) for t in terms], "minimum_should_match": 1}}


def candidates(parsed: ParsedQuery, kinds: Collection[str]) -> Iterator[Candidate]:
    """The queries to try in turn, as ``pdsearch.index.sqlite.planner.candidates`` does."""
    terms = list(parsed.terms)
    out = parsed.excluded
    intent = parsed.kind_intent(kinds)
    rest: list[Term] = []
    if intent is not None:
        kind, naming = intent
        rest = [t for t in terms if t not in naming]
        yield Candidate(_all(rest), kind, excluded=out)
    yield Candidate(_all(terms), None, excluded=out)
    if len(terms) > 1:
        if intent is not None and rest:
            yield Candidate(_any(rest), intent[0], partial=True, excluded=out)
        yield Candidate(_any(terms), None, partial=True, excluded=out)


def access_filter(grants: Collection[Grant]) -> dict[str, Any]:
    """The filter clause admitting the documents ``grants`` see (``grants`` non-empty)."""
    return {"terms": {"acl": sorted({access_key(g.source, g.entity) for g in grants})}}


def bool_query(candidate: Candidate, acl: dict[str, Any]) -> dict[str, Any]:
    """``candidate`` within the access filter: a filter clause of the query itself, so totals
    and pages count only visible documents."""
    filters = [acl]
    if candidate.kind is not None:
        filters.append({"term": {"type": candidate.kind}})
    inner: dict[str, Any] = {"filter": filters}
    if candidate.query is not None:
        inner["must"] = [candidate.query]
    if candidate.excluded:
        inner["must_not"] = [term_query(t) for t in candidate.excluded]
    return {"bool": inner}


def highlight(parsed: ParsedQuery) -> dict[str, Any]:
    """The snippet: the best passage of ``content``, text HTML-escaped by OpenSearch, the
    terms in ``<mark>``; the start of ``content`` when no term is in it."""
    should = [q for term in parsed.terms for q in _highlight_term(term)]
    return {
        "encoder": "html",
        "pre_tags": [MARK_OPEN],
        "post_tags": [MARK_CLOSE],
        "fields": {
            "content": {
                "type": "unified",
                "number_of_fragments": 1,
                "fragment_size": SNIPPET_CHARS,
                "no_match_size": SNIPPET_CHARS,
                "highlight_query": {"bool": {"should": should, "minimum_should_match": 1}},
            }
        },
    }


def safe_snippet(fragment: str) -> str:
    """A highlighted fragment with nothing but ``<mark>`` tags: OpenSearch's HTML encoder has
    escaped the text already; any other angle bracket is escaped again, should one get past."""
    return "".join(
        part if part in (MARK_OPEN, MARK_CLOSE) else part.replace("<", "&lt;").replace(">", "&gt;")
        for part in _MARKS.split(fragment)
    )


def leading_words(content: str, words: int = SNIPPET_WORDS) -> str:
    """The first words of ``content``, HTML-escaped: the snippet when nothing was searched."""
    parts = content.split()
    text = " ".join(parts[:words])
    return html.escape(text + (" …" if len(parts) > words else ""), quote=True)
