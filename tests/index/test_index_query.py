"""User input → safe FTS5 expression."""

from __future__ import annotations

import apsw
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pdsearch.index.query import MAX_TERMS, Term, parse_query, to_fts, word_forms


def test_words_become_quoted_terms_anded() -> None:
    assert to_fts("ab PQ9K7I8 x-y") == '"ab" AND "PQ9K7I8" AND "x-y"'
    assert to_fts("ab cd", ) == '"ab" AND "cd"'
    assert parse_query("ab cd").fts(any_term=True) == '"ab" OR "cd"'


@pytest.mark.parametrize(
    ("word", "forms"),
    [
        ("schedule", ("schedule", "schedules")),
        ("schedules", ("schedules", "schedule")),
        ("policy", ("policy", "policies")),
        ("Policies", ("Policies", "Policy")),
        ("day", ("day", "days")),
        ("boxes", ("boxes", "box")),
        ("box", ("box", "boxes")),
        ("class", ("class", "classes")),
        ("status", ("status", "statuses")),
        ("on", ("on",)),
        ("PQ9K7I8", ("PQ9K7I8",)),
        ("zürich", ("zürich",)),
    ],
)
def test_word_forms(word: str, forms: tuple[str, ...]) -> None:
    assert word_forms(word) == forms


def test_plain_words_match_singular_and_plural() -> None:
    assert to_fts("levels") == '("levels" OR "level")'


def test_stop_words_dropped_unless_nothing_else_remains() -> None:
    assert [t.text for t in parse_query("who is on the database").terms] == ["database"]
    assert [t.text for t in parse_query("the who").terms] == ["the", "who"]
    assert [t.text for t in parse_query('"the who" is').terms] == ["the who"]


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
        ("ab OR cd", '"ab" AND "cd"'),
        ("ab NEAR cd", '"ab" AND ("NEAR" OR "NEARs") AND "cd"'),
        ("NEAR(a b)", '"NEAR(a" AND "b"'),
        ("title:foo", '"title:foo"'),
        ("sys_racl:x", '"sys_racl:x"'),
        ("+xa ^yb zc-", '"xa" AND "yb" AND "zc"'),
        ("-a +b ^c", '("b" AND "c") NOT ("a")'),
        ('xy "hi', '"xy" AND "hi"'),
        ('x"y', '"x" AND "y"'),
        ("a*b", '"a*b"'),
    ],
)
def test_operators_are_text(raw: str, expected: str) -> None:
    assert to_fts(raw) == expected


def test_blank_and_unsearchable_inputs() -> None:
    assert parse_query("").blank
    assert parse_query(" \t\n").blank
    assert parse_query("\x00\x01").blank
    for raw in ["*", '"', '""', "🙂", "--", "( )"]:
        parsed = parse_query(raw)
        assert not parsed.blank, raw
        assert parsed.terms == (), raw
        assert parsed.fts() is None, raw


def test_control_characters_separate_words() -> None:
    assert to_fts("ab\x00cd") == '"ab" AND "cd"'


def test_duplicates_dropped_and_absurd_inputs_capped() -> None:
    assert to_fts("a a a") == '"a"'
    parsed = parse_query(" ".join(f"w{i}" for i in range(5000)))
    assert len(parsed.terms) == MAX_TERMS
    long = parse_query("x" * 10_000)
    assert len(long.terms) == 1
    assert len(long.terms[0].text) <= 1000


def test_embedded_quotes_are_doubled() -> None:
    assert Term('say "x"', phrase=True).fts() == '"say ""x"""'


@given(st.text(max_size=300))
def test_any_input_gives_an_expression_fts5_accepts(raw: str) -> None:
    expression = to_fts(raw)
    if expression is None:
        return
    db = apsw.Connection(":memory:")  # the SQLite the index uses, and its FTS5
    db.execute("CREATE VIRTUAL TABLE t USING fts5(a, tokenize='unicode61 remove_diacritics 2')")
    try:
        db.execute("SELECT * FROM t WHERE t MATCH ?", (expression,)).fetchall()
    finally:
        db.close()


KINDS = {"schedule", "escalation_policy"}


@pytest.mark.parametrize(
    ("raw", "kind", "naming"),
    [
        ("database reliability schedule", "schedule", ["schedule"]),
        ("payments Schedules", "schedule", ["Schedules"]),
        ("payments escalation policies", "escalation_policy", ["policies", "escalation"]),
        ("payments escalation", "escalation_policy", ["escalation"]),
        ("8 escalation levels in total", None, []),
        ("schedule for payments", None, []),
        ("escalation policy schedule", "schedule", ["schedule"]),
        ('payments "schedule"', None, []),
        ("sched*", None, []),
    ],
)
def test_kind_intent(raw: str, kind: str | None, naming: list[str]) -> None:
    intent = parse_query(raw).kind_intent(KINDS)
    if kind is None:
        assert intent is None
    else:
        assert intent is not None
        assert intent[0] == kind
        assert [t.text for t in intent[1]] == naming


def test_a_leading_minus_excludes_a_word_or_phrase() -> None:
    parsed = parse_query('payments -primary -"on call" on-call')
    assert parsed.terms == (Term("payments"), Term("on-call"))
    assert parsed.excluded == (Term("primary"), Term("on call", phrase=True))
    assert to_fts("payments -primary") == '(("payments" OR "payment")) NOT (("primary" OR ' \
        '"primaries"))'
    only = parse_query("-primary")
    assert only.terms == ()
    assert only.browse
    assert not only.blank
    assert not parse_query("- x").excluded
    assert not parse_query("a-b").excluded


def test_question_words_are_dropped() -> None:
    assert parse_query("Who is on call for payments?").terms == (Term("payments"),)
    assert parse_query("who do I page when checkout breaks").terms == (Term("checkout"),)
    # Nothing but question words: they are what there is to search for.
    assert parse_query("who is on call").terms == (
        Term("who"), Term("is"), Term("on"), Term("call"))
