"""The snapshot ranking (pdsearch/index/ranking.py): the same scores as FTS5's bm25 when the
frequencies are exact, the same answers either way, and a snapshot that keeps up with writes."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import apsw
import pytest
from index_helpers import acl

from pdsearch.index import ranking
from pdsearch.index.base import Document
from pdsearch.index.ranking import Phrase, Vocabulary, phrases, read_vocabulary, tokenizer
from pdsearch.index.sqlite import TOKENIZER, SqliteIndex, acl_expression, entity_token
from pdsearch.index.sqlite import vocabulary as vocabulary_module
from pdsearch.index.sqlite.schema import FTS

WORDS = ("payments", "checkout", "primary", "secondary", "weekly", "rotation", "storage",
         "database", "handoff", "minutes")


def doc(n: int, title: str, content: str, teams: tuple[str, ...] = ()) -> Document:
    return Document(
        id=f"schedule:P{n}", type="schedule" if n % 2 else "escalation_policy", title=title,
        content=content, url=f"https://acme.pagerduty.com/schedules/P{n}",
        sys_racl=("acme", *teams), source="c1",
    )


def corpus(count: int = 40) -> list[Document]:
    """Documents whose words repeat unevenly, so idf, term counts and lengths all differ."""
    out = []
    for n in range(count):
        title = f"{WORDS[n % 5].title()} {WORDS[(n * 3) % 10]}"
        body = " ".join(WORDS[(n * k) % 10] for k in range(1, 2 + n % 7))
        out.append(doc(n, title, f"{body} escalates after {5 + n % 4 * 5} minutes",
                       (f"T{n % 4}",)))
    return out


@pytest.fixture
def index(tmp_path: Path) -> Iterator[SqliteIndex]:
    ix = SqliteIndex(tmp_path / "index.db")
    ix.upsert(corpus())
    yield ix
    ix.close()


def _raw(index: SqliteIndex) -> apsw.Connection:
    conn = apsw.Connection(str(index.path))
    conn.register_fts5_function(ranking.FUNCTION_NAME, ranking.rank_function)
    return conn


@pytest.mark.parametrize("expression", [
    '"payments"',
    '"weekly" AND "rotation"',
    '("primary" OR "primaries") AND ("checkout" OR "checkouts")',
    '"storage" OR "database" OR "handoff"',
    '("minutes") AND acl : ("' + entity_token("c1", "T1") + '")',
    'kind : "schedule" AND ("rotation")',
])
def test_snapshot_scores_equal_bm25_when_frequencies_are_exact(
    index: SqliteIndex, expression: str
) -> None:
    conn = _raw(index)
    try:
        vocabulary = read_vocabulary(conn, 0)
        tokenize = tokenizer(conn, *TOKENIZER)
        expected = dict(conn.execute(
            "SELECT rowid, bm25(docs_fts, 10.0, 1.0, 3.0, 0.0) FROM docs_fts "
            "WHERE docs_fts MATCH ?", (expression,)))
        got = dict(conn.execute(
            "SELECT rowid, rank FROM docs_fts WHERE docs_fts MATCH ? AND rank MATCH ?",
            (expression, vocabulary.rank_call(expression, tokenize))))
    finally:
        conn.close()
    assert expected
    assert got.keys() == expected.keys()
    for rowid, score in expected.items():
        assert math.isclose(got[rowid], score, rel_tol=1e-6, abs_tol=1e-9), rowid


@pytest.mark.parametrize("query", [
    "payments", "weekly rotation", "checkout primaries", '"after 10 minutes"', "rot*",
    "storage schedule", "database escalation policies", "handoff nothing-matches-this",
])
def test_search_answers_the_same_with_either_ranking(
    index: SqliteIndex, query: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    entities = acl("T1", "T2")
    snapshot = index.search(query, entities, limit=50)
    monkeypatch.setattr(ranking, "RANK_MAX_ROWS", -1)  # every estimate is too many: bm25
    builtin = index.search(query, entities, limit=50)
    assert snapshot.total == builtin.total > 0
    assert [h.id for h in snapshot.hits] == [h.id for h in builtin.hits]
    for ours, theirs in zip(snapshot.hits, builtin.hits, strict=True):
        if '"' not in query and "*" not in query:  # phrases and prefixes are estimates
            assert math.isclose(ours.score, theirs.score, rel_tol=1e-6, abs_tol=1e-9)
        assert ours.snippet == theirs.snippet


def test_a_small_index_ranks_with_frequencies_as_of_the_last_write(tmp_path: Path) -> None:
    ix = SqliteIndex(tmp_path / "index.db")
    try:
        ix.upsert([doc(1, "Payments", "weekly"), doc(2, "Storage", "weekly")])
        before = ix.search("payments", acl("acme")).hits[0].score
        ix.upsert(doc(n, f"Other {n}", "daily") for n in range(3, 30))
        after = ix.search("payments", acl("acme")).hits[0].score
        conn = apsw.Connection(str(ix.path))
        try:
            exact = -next(conn.execute(
                "SELECT bm25(docs_fts, 10.0, 1.0, 3.0, 0.0) FROM docs_fts "
                "WHERE docs_fts MATCH 'payments'"))[0]
        finally:
            conn.close()
    finally:
        ix.close()
    assert after > before  # rarer now, so worth more
    assert math.isclose(after, exact, rel_tol=1e-6)


def test_a_large_index_reads_its_snapshot_in_the_background(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(vocabulary_module, "INLINE_ROWS", 5)
    monkeypatch.setattr(vocabulary_module, "MAX_AGE", 0.0)
    path = tmp_path / "index.db"
    first = SqliteIndex(path)
    first.upsert(corpus(20))
    first.close()
    holding = sum("payments" in f"{d.title} {d.content}".lower() for d in corpus(20))

    ix = SqliteIndex(path)  # larger than the inline limit: the first read starts at once
    try:
        assert ix.search("payments", acl("acme")).total == holding  # answers meanwhile (bm25)
        vocabulary = _wait_for(lambda: ix.ranking_snapshot())
        assert vocabulary.rows == 20
        assert vocabulary.df["payments"] == holding

        ix.upsert(doc(n, "Payments", "weekly") for n in range(100, 110))
        # The search after the write answers from the index at once; the snapshot follows.
        assert ix.search("payments", acl("acme")).total == holding + 10
        fresh = _wait_for(lambda: _with_rows(ix.ranking_snapshot(), 30))
        assert fresh.df["payments"] == holding + 10
    finally:
        ix.close()


def _wait_for(probe: Callable[[], Vocabulary | None]) -> Vocabulary:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        value = probe()
        if value is not None:
            return value
        time.sleep(0.02)
    raise AssertionError("the background read never finished")


def _with_rows(vocabulary: Vocabulary | None, rows: int) -> Vocabulary | None:
    return vocabulary if vocabulary is not None and vocabulary.rows == rows else None


def test_the_snapshot_tokenizes_as_the_table_does() -> None:
    assert "tokenize = '" + " ".join((TOKENIZER[0], *TOKENIZER[1])) + "'" in FTS


def test_phrases_come_in_fts5_order_with_quotes_and_prefixes() -> None:
    access = acl_expression(acl("T1"))
    expression = 'kind : "escalation policy" AND ("say ""hi""" AND "rot" *) AND ' + access
    assert phrases(expression) == [
        Phrase("escalation policy", False), Phrase('say "hi"', False), Phrase("rot", True),
        Phrase(entity_token("c1", "T1"), False),
    ]


def test_vocabulary_bounds_phrases_and_prefixes() -> None:
    vocabulary = Vocabulary(generation=1, rows=100,
                            df={"rot": 5, "rotation": 60, "rotations": 50, "after": 30, "30": 70})
    split = str.split
    assert vocabulary.prefix_df("rot") == 100  # 115 counted, capped at every document
    assert vocabulary.prefix_df("rota") == 100
    assert vocabulary.prefix_df("rotations") == 50
    assert vocabulary.prefix_df("x") == 0
    assert vocabulary.phrase_df(Phrase("after 30", False), split) == 30  # the rarer word
    assert vocabulary.phrase_df(Phrase("after rotations", True), split) == 30
    assert vocabulary.idf(Phrase(entity_token("c1", "a"), False), split) == 0.0
    assert vocabulary.idf(Phrase("30", False), split) == ranking.IDF_FLOOR  # in most documents
    assert vocabulary.idf(Phrase("unknown", False), split) == pytest.approx(math.log(201))
    assert vocabulary.matches_at_most(['"after"', '("rotation" OR "rotations")'], split) == 30
    call = vocabulary.rank_call('"unknown" AND "30"', split)
    assert call == f"{ranking.FUNCTION_NAME}({math.log(201):.9f}, 0.000001000)"
