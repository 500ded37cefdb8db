"""``meaning_text``: what a document contributes to its embedding."""

from __future__ import annotations

from pdsearch.semantic import meaning_text


def test_title_teams_services_and_description_in_that_order() -> None:
    text = meaning_text(
        "Payments Primary",
        [("Payments", "The Payments team processes card and bank payments.")],
        [("Card Gateway", "Authorises card payments for the shops in Europe"),
         ("Payments API", None)],
        "Primary on-call rotation for Payments.",
    )
    assert text == (
        "Payments Primary. Payments: processes card and bank payments. "
        "Services: Card Gateway (Authorises card payments for the shops in Europe), "
        "Payments API. Primary on-call rotation for Payments."
    )


def test_a_description_that_only_restates_its_name_is_left_out() -> None:
    text = meaning_text("Search escalation", [("Web", "The Web team.")],
                        [("Query Service API", "Query Service API production service.")], "")
    assert text == "Search escalation. Web. Services: Query Service API."


def test_a_name_inside_a_description_is_kept() -> None:
    text = meaning_text("Edge", [("Edge", "Runs the CDN and Edge compute for every shop")], [],
                        None)
    assert text == "Edge. Edge: Runs the CDN and Edge compute for every shop."


def test_blank_parts_and_extra_whitespace_disappear() -> None:
    text = meaning_text("  NOC \n escalation ", [("Web", "  "), ("", "")], [("", None)], None)
    assert text == "NOC escalation. Web."
    assert meaning_text("", [], [], None) == ""
