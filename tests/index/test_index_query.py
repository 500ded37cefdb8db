"""User input → safe FTS5 expression."""

from __future__ import annotations

import sqlite3

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pdsearch.index.query import MAX_TERMS, Term, parse_query, to_fts


def test_words_become_quoted_terms_anded() -> None:
    assert to_fts("payments primary") == '"payments" AND "primary"'


def test_phrases_and_prefixes() -> None:
    assert parse_query('"on call" pay*').terms == (
        Term("on call", phrase=True),
        Term("pay", prefix=True),
    )
    assert to_fts('"on call" pay*') == '"on call" AND "pay" *'
    assert to_fts('"on ca"*') == '"on ca" *'
    assert to_fts("pay-*") == '"pay" *'


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("OR", '"OR"'),
        ("a OR b", '"a" AND "OR" AND "b"'),
        ("NEAR(a b)", '"NEAR(a" AND "b)"'),
        ("title:foo", '"title:foo"'),
        ("sys_racl:x", '"sys_racl:x"'),
        ("-a +b ^c", '"-a" AND "+b" AND "^c"'),
        ('say "hi', '"say" AND "hi"'),
        ('a"b', '"a" AND "b"'),
        ("a*b", '"a*b"'),
    ],
)
def test_operators_are_text(raw: str, expected: str) -> None:
    assert to_fts(raw) == expected


def test_blank_and_unsearchable_inputs() -> None:
    assert parse_query("").blank and parse_query(" \t\n").blank
    assert parse_query("\x00\x01").blank
    for raw in ["*", '"', '""', "🙂", "--", "( )"]:
        parsed = parse_query(raw)
        assert not parsed.blank and parsed.terms == () and parsed.fts() is None, raw


def test_control_characters_separate_words() -> None:
    assert to_fts("pay\x00ments") == '"pay" AND "ments"'


def test_duplicates_dropped_and_absurd_inputs_capped() -> None:
    assert to_fts("a a a") == '"a"'
    parsed = parse_query(" ".join(f"w{i}" for i in range(5000)))
    assert len(parsed.terms) == MAX_TERMS
    long = parse_query("x" * 10_000)
    assert len(long.terms) == 1 and len(long.terms[0].text) <= 1000


def test_embedded_quotes_are_doubled() -> None:
    assert Term('say "x"', phrase=True).fts() == '"say ""x"""'


@given(st.text(max_size=300))
def test_any_input_gives_an_expression_fts5_accepts(raw: str) -> None:
    expression = to_fts(raw)
    if expression is None:
        return
    db = sqlite3.connect(":memory:")
    db.execute("CREATE VIRTUAL TABLE t USING fts5(a, tokenize='unicode61 remove_diacritics 2')")
    db.execute("SELECT * FROM t WHERE t MATCH ?", (expression,)).fetchall()
