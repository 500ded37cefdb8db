"""Question-shaped queries search for their subject; any other query is searched as typed."""

from __future__ import annotations

import pytest

from pdsearch.questions import is_question, question_terms


@pytest.mark.parametrize(
    ("query", "terms"),
    [
        ("who is on call for payments", "payments"),
        ("Who do I page for checkout?", "checkout"),
        ("who's on-call for the Payments API right now?", "Payments API"),
        ("which escalation policy pages the database team", "escalation policy database"),
        ("who is on the database primary schedule", "database primary schedule"),
        ("payments?", "payments"),
        ("who is on call?", ""),
    ],
)
def test_questions_keep_their_subject(query: str, terms: str) -> None:
    assert is_question(query)
    assert question_terms(query) == terms


@pytest.mark.parametrize(
    "query", ["payments escalation", "on-call handoff notifications", "", "  ", "ada@acme.com"]
)
def test_other_queries_are_left_as_typed(query: str) -> None:
    assert not is_question(query)
    assert question_terms(query) == query
