"""From a parsed query to the FTS5 MATCH expressions a search tries, in turn.

The first expression that finds anything answers: every term, within the document type the
query names ("payments schedule" → schedules); every term; any term within that type; any term.
So documents holding all the words come first, and a question typed as prose still finds
something. Each expression ANDs the access filter (``acl.py``) into the MATCH itself: on 50,000
documents this was the fastest of the forms measured (``benchmarks/search_index.py``), FTS5
intersects the doclists itself, so totals and pages count visible documents only and no row the
user can't see is ever read.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass

from pdsearch.index import ranking
from pdsearch.index.query import ParsedQuery, Term


@dataclass(frozen=True)
class Candidate:
    """One MATCH expression to try, and the parts it ANDs together (to bound its matches)."""

    match: str
    parts: tuple[str, ...]
    #: Matches documents holding any term, not every one.
    partial: bool = False

    @classmethod
    def every(
        cls, parsed: ParsedQuery, skip: Collection[Term], acl: str, kind_clause: str,
        kind_part: tuple[str, ...],
    ) -> Candidate:
        """Every term but ``skip``, within the type of ``kind_clause`` if one is given."""
        rest = parsed.fts(skip=skip)
        terms = tuple(t.fts() for t in parsed.terms if t not in skip)
        match = kind_clause + parsed.excluding(acl if rest is None else restricted(rest, acl))
        return cls(match, (*terms, *kind_part, acl))


def restricted(user: str, acl: str) -> str:
    """The user's expression ANDed with the access filter.

    The user's part carries no column filter: with one, FTS5 reads every position list of each
    phrase when ``bm25`` counts the documents holding it (across the whole index, once per
    search), which made ranking up to 2.3× slower at 100,000 documents. Without it a term could
    only also match the ``acl`` column, whose tokens are 41-character hashes; a user typing one
    still sees only documents the access filter (which keeps its column filter) admits.
    """
    return "(" + user + ") AND " + acl


def candidates(parsed: ParsedQuery, kinds: Collection[str], acl: str) -> Iterator[Candidate]:
    """The MATCH expressions to try in turn (see the module docstring)."""
    if parsed.browse:
        yield Candidate(parsed.excluding(acl), (acl,))
        return
    intent = parsed.kind_intent(kinds)
    kind_clause = ""
    kind_part: tuple[str, ...] = ()
    if intent is not None:
        kind, naming = intent
        kind_phrase = '"' + kind.replace("_", " ").replace('"', '""') + '"'
        kind_clause, kind_part = "kind : " + kind_phrase + " AND ", (kind_phrase,)
        yield Candidate.every(parsed, naming, acl, kind_clause, kind_part)
    yield Candidate.every(parsed, (), acl, "", ())
    if len(parsed.terms) > 1:
        if intent is not None:
            rest_any = parsed.fts(any_term=True, skip=intent[1])
            if rest_any is not None:
                yield Candidate(kind_clause + parsed.excluding(restricted(rest_any, acl)),
                                (rest_any, *kind_part, acl), partial=True)
        rest_any = parsed.fts(any_term=True) or ""
        yield Candidate(parsed.excluding(restricted(rest_any, acl)), (rest_any, acl),
                        partial=True)


def snapshot_rank(
    vocabulary: ranking.Vocabulary, candidate: Candidate, tokenize: ranking.Tokenize
) -> str | None:
    """The ``rank MATCH`` argument for the snapshot ranking, or None when so many rows may match
    that FTS5's bm25 is cheaper (``ranking.RANK_MAX_ROWS``)."""
    if vocabulary.matches_at_most(candidate.parts, tokenize) > ranking.RANK_MAX_ROWS:
        return None
    return vocabulary.rank_call(candidate.match, tokenize)
