"""BM25 without walking the whole index on every search.

FTS5's built-in ``bm25()`` weighs each phrase of a query by how many documents of the *whole*
index hold it, and it finds that out on every search by walking the phrase's full list
(``xQueryPhrase``). A user who may see 2 % of 100,000 documents paid for the other 98 % too: a
word found in a quarter of all documents cost 2–5 ms, a three-word phrase 15–20 ms, whoever
searched (docs/BENCHMARKS.md).

This module scores with the same formula, as FTS5 implements it (k1 = 1.2, b = 0.75, one length
per row summed over its columns, column weights applied to term frequencies, an idf floor of
1e-6), but takes document frequencies from a :class:`Vocabulary` snapshot, read with
``fts5vocab`` once after the index changes rather than once per search. Idf values are worked out
in Python before the statement and passed to :func:`rank_function`, an FTS5 auxiliary function
(registered through APSW; Python's ``sqlite3`` cannot register one) that FTS5 calls only for the
rows the query and the access filter admit. It costs a few microseconds a row, so past
``RANK_MAX_ROWS`` estimated matches the built-in ``bm25`` in C is the cheaper choice, and the
index uses it.

Where the snapshot is an estimate: a phrase of several words counts as its rarest word, a prefix
as the sum over the words it covers (at most every document), and a snapshot may lag the index by
up to ``SqliteIndex``'s refresh age. All three only shift weights between the words of a query;
which documents match, and who may see them, never depends on the snapshot.
"""

from __future__ import annotations

import bisect
import math
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from itertools import accumulate

import apsw

#: FTS5's bm25 constants (fts5_aux.c).
K1 = 1.2
B = 0.75
IDF_FLOOR = 1e-6
#: Column weights, in the table's column order: title, content, kind, acl.
WEIGHTS = (10.0, 1.0, 3.0, 0.0)
#: Above this many estimated matches, FTS5's own bm25 (C, but walking every phrase's list) is
#: faster than calling Python once a match: about 4–5 µs a row against 2–10 ms of walking.
RANK_MAX_ROWS = 2500
#: The name the auxiliary function is registered under on each connection.
FUNCTION_NAME = "pdsearch_bm25"

# A double-quoted FTS5 string ("" escapes a quote), optionally followed by the prefix star.
_PHRASE = re.compile(r'"((?:[^"]|"")*)"(\s*\*)?')
# entity_token()'s shape: the access filter's phrases, which never add to a score.
_ENTITY_TOKEN = re.compile(r"e[0-9a-f]{40}")

Tokenize = Callable[[str], Sequence[str]]

@dataclass(frozen=True)
class Phrase:
    """One phrase of an FTS5 expression, in the order FTS5 numbers them."""

    text: str
    prefix: bool


def phrases(expression: str) -> list[Phrase]:
    """The phrases of an expression built by the index (every phrase is a quoted string)."""
    return [
        Phrase(m.group(1).replace('""', '"'), bool(m.group(2)))
        for m in _PHRASE.finditer(expression)
    ]


@dataclass(frozen=True)
class Vocabulary:
    """Documents per term, for the whole index, as of one change ``generation``."""

    generation: int
    rows: int
    df: dict[str, int]
    taken: float = field(default_factory=time.monotonic)
    _terms: list[str] = field(default_factory=list, repr=False)
    _cumulative: list[int] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        terms = sorted(self.df)
        self._terms.extend(terms)
        self._cumulative.extend(accumulate((self.df[t] for t in terms), initial=0))

    def prefix_df(self, prefix: str) -> int:
        """At most how many documents hold a term starting with ``prefix``."""
        lo = bisect.bisect_left(self._terms, prefix)
        hi = bisect.bisect_left(self._terms, prefix + "\U0010ffff", lo)
        return min(self.rows, self._cumulative[hi] - self._cumulative[lo])

    def phrase_df(self, phrase: Phrase, tokenize: Tokenize) -> int:
        """At most how many documents hold ``phrase`` (see the module docstring)."""
        tokens = list(tokenize(phrase.text))
        if not tokens:
            return 0
        last = self.prefix_df(tokens[-1]) if phrase.prefix else self.df.get(tokens[-1], 0)
        return min([last, *(self.df.get(t, 0) for t in tokens[:-1])])

    def idf(self, phrase: Phrase, tokenize: Tokenize) -> float:
        """FTS5's idf for the phrase, or 0 for an access-filter token (it never scores)."""
        if not phrase.prefix and _ENTITY_TOKEN.fullmatch(phrase.text):
            return 0.0
        hits = self.phrase_df(phrase, tokenize)
        value = math.log((self.rows - hits + 0.5) / (hits + 0.5))
        return value if value > 0 else IDF_FLOOR

    def matches_at_most(self, expressions: Iterable[str], tokenize: Tokenize) -> int:
        """An upper bound on the rows matching *all* of ``expressions``, each an OR of phrases.

        The caller passes the parts its expression ANDs together (each term, the type, the
        access filter); the bound is the smallest part's sum of phrase frequencies.
        """
        bound = self.rows
        for expression in expressions:
            total = sum(self.phrase_df(p, tokenize) for p in phrases(expression))
            bound = min(bound, total)
        return bound

    def rank_call(self, expression: str, tokenize: Tokenize) -> str:
        """The ``rank MATCH`` argument that scores ``expression`` with :func:`rank_function`."""
        idfs = (self.idf(p, tokenize) for p in phrases(expression))
        # FTS5 parses these as SQL literals without exponents: fixed-point, 9 places.
        return FUNCTION_NAME + "(" + ", ".join(f"{v:.9f}" for v in idfs) + ")"


def read_vocabulary(conn: apsw.Connection, generation: int) -> Vocabulary:
    """A snapshot of ``docs_fts``'s document frequencies (call inside a read transaction)."""
    conn.execute("CREATE VIRTUAL TABLE IF NOT EXISTS temp.pdsearch_vocab "
                 "USING fts5vocab(main, docs_fts, row)")
    df = {str(term): int(docs) for term, docs in conn.execute(
        "SELECT term, doc FROM temp.pdsearch_vocab")}
    rows = int(conn.execute("SELECT count(*) FROM docs").fetchone()[0])  # type: ignore[index]
    return Vocabulary(generation=generation, rows=rows, df=df)


def tokenizer(conn: apsw.Connection, name: str, args: Sequence[str]) -> Tokenize:
    """The table's own tokenizer, so snapshot look-ups see exactly the terms FTS5 indexed."""
    tok = conn.fts5_tokenizer(name, list(args))

    def tokenize(text: str) -> list[str]:
        result = tok(text.encode("utf-8"), apsw.FTS5_TOKENIZE_QUERY, None,
                     include_offsets=False, include_colocated=False)
        return [str(t[0]) if isinstance(t, tuple) else str(t) for t in result]

    return tokenize


def rank_function(api: apsw.FTS5ExtensionApi, *idfs: apsw.SQLiteValue) -> float:
    """BM25 of the current row, as FTS5's bm25 computes it, with the phrases' idf given.

    Lower is better, like ``bm25()``, so ``ORDER BY rank`` puts the best first. Phrases with an
    idf of 0 (the access filter) are skipped.
    """
    state = api.aux_data
    if state is None:
        rows = api.row_count or 1
        average = api.column_total_size(-1) / rows or 1.0
        active = tuple((i, float(v)) for i, v in enumerate(idfs)
                       if i < api.phrase_count and isinstance(v, float | int) and v)
        state = api.aux_data = (average, active)
    average, active = state
    norm = K1 * (1 - B + B * api.column_size(-1) / average)
    title_w, content_w, kind_w, _ = WEIGHTS
    score = 0.0
    for i, idf in active:
        columns = api.phrase_locations(i)
        freq = title_w * len(columns[0]) + content_w * len(columns[1]) + kind_w * len(columns[2])
        if freq:
            score += idf * freq * (K1 + 1) / (freq + norm)
    return -score
