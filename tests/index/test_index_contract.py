# Over 500 lines on purpose: the one contract every backend must meet (conftest.BACKENDS runs it
# against each); kept in one file so a new backend has one list to pass and nothing is missed.
"""The SearchIndex contract. Runs against every backend in ``conftest.BACKENDS``."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from index_helpers import acl

from pdsearch.index.base import Document, Grant, SearchIndex, SearchResults

IndexFactory = Callable[[], SearchIndex]


def doc(
    n: int | str,
    title: str = "Untitled",
    content: str = "",
    racl: tuple[str, ...] = ("acme",),
    source: str = "c1",
    type_: str = "schedule",
) -> Document:
    return Document(
        id=f"{type_}:P{n}",
        type=type_,
        title=title,
        content=content,
        url=f"https://acme.pagerduty.com/schedules/P{n}",
        sys_racl=racl,
        source=source,
    )


def ids(results: SearchResults) -> set[str]:
    return {hit.id for hit in results.hits}


def all_ids(index: SearchIndex, query: str, entities: set[Grant], page: int = 50) -> list[str]:
    """Every hit of a search, page by page, checking that each page reports the same total."""
    first = index.search(query, entities, limit=page, offset=0)
    out = [h.id for h in first.hits]
    offset = page
    while offset < first.total:
        res = index.search(query, entities, limit=page, offset=offset)
        assert res.total == first.total
        out.extend(h.id for h in res.hits)
        offset += page
    assert len(out) == first.total
    return out


# --- storage --------------------------------------------------------------------------------


def test_upsert_then_get_returns_the_document_unchanged(index: SearchIndex) -> None:
    d = Document(
        id="escalation_policy:PX1",
        type="escalation_policy",
        title="Payments — Café ☕",
        content="Level 1: after 30 minutes, notify user 'Ada Lovelace' <ada@example.com>",
        url="https://acme.pagerduty.com/escalation_policies/PX1",
        sys_racl=("acme", "PT1", "team-a"),
        source="conn-1",
    )
    index.upsert([d])
    assert index.get("conn-1", d.id) == d
    assert index.get("conn-1", "escalation_policy:nope") is None
    assert index.get("c1", d.id) is None  # another source holds no such document


def test_upsert_replaces_content(index: SearchIndex) -> None:
    index.upsert([doc(1, "Payments Primary", "weekly rotation in Berlin")])
    index.upsert([doc(1, "Checkout Primary", "daily rotation in Lisbon")])
    assert index.count() == 1
    got = index.get("c1", "schedule:P1")
    assert got is not None
    assert got.title == "Checkout Primary"
    assert index.search("Berlin", acl("acme")).total == 0
    assert index.search("payments", acl("acme")).total == 0
    assert ids(index.search("Lisbon", acl("acme"))) == {"schedule:P1"}


def test_upsert_replaces_access(index: SearchIndex) -> None:
    index.upsert([doc(1, "Payments", racl=("acme", "PT1"))])
    index.upsert([doc(1, "Payments", racl=("acme", "PT2"))])
    assert index.search("payments", acl("PT1")).total == 0
    assert index.search("payments", acl("PT2")).total == 1


def test_upsert_of_nothing_is_fine(index: SearchIndex) -> None:
    index.upsert([])
    index.upsert(iter(()))
    assert index.count() == 0


def test_upsert_accepts_a_generator(index: SearchIndex) -> None:
    index.upsert(doc(i, f"Schedule {i}") for i in range(25))
    assert index.count() == 25


def test_list_pages_in_title_order_with_total(index: SearchIndex) -> None:
    index.upsert(doc(i, f"Schedule {i:02d}") for i in range(12))
    index.upsert([doc(99, "Other source", source="c2")])
    page, total = index.list("c1", 0, 5)
    assert total == 12
    assert [d.title for d in page] == [f"Schedule {i:02d}" for i in range(5)]
    page, total = index.list("c1", 10, 5)
    assert total == 12
    assert [d.title for d in page] == ["Schedule 10", "Schedule 11"]
    page, total = index.list("c1", 50, 5)
    assert total == 12
    assert list(page) == []
    page, total = index.list(None, 0, 100)
    assert total == 13
    assert len(page) == 13
    seen = [d.id for s in range(0, 13, 4) for d in index.list(None, s, 4)[0]]
    assert sorted(seen) == sorted(d.id for d in page)
    assert len(set(seen)) == 13


def test_count_hashes_per_source(index: SearchIndex) -> None:
    a = [doc(i, f"A{i}", source="c1") for i in range(3)]
    b = [doc(i + 10, f"B{i}", source="c2") for i in range(2)]
    index.upsert(a + b)
    assert index.count() == 5
    assert index.count("c1") == 3
    assert index.count("c2") == 2
    assert index.count("nobody") == 0
    assert index.hashes("c1") == {d.id: d.content_hash for d in a}
    assert index.hashes("c2") == {d.id: d.content_hash for d in b}
    assert index.hashes("nobody") == {}


def test_delete_removes_from_storage_and_search(index: SearchIndex) -> None:
    index.upsert([doc(1, "Payments"), doc(2, "Payments backup"), doc(3, "Database")])
    index.delete("c1", ["schedule:P1", "schedule:unknown"])
    index.delete("c1", [])
    assert index.get("c1", "schedule:P1") is None
    assert index.count() == 2
    assert ids(index.search("payments", acl("acme"))) == {"schedule:P2"}
    assert "schedule:P1" not in index.hashes("c1")


def test_delete_source_touches_only_that_source(index: SearchIndex) -> None:
    assert list(index.sources()) == []
    index.upsert([doc(1, "Payments", source="c1"), doc(2, "Payments", source="c1")])
    index.upsert([doc(3, "Payments", source="c2")])
    assert list(index.sources()) == ["c1", "c2"]
    assert index.delete_source("c1") == 2
    assert index.delete_source("c1") == 0
    assert index.count() == 1
    assert list(index.sources()) == ["c2"]
    assert ids(index.search("payments", acl("acme", source="c2"))) == {"schedule:P3"}
    assert index.search("payments", acl("acme")).total == 0


def test_two_sources_keep_their_own_document_with_one_id(index: SearchIndex) -> None:
    """Two connectors to one PagerDuty account hold the same ids: neither overwrites, deletes
    or shows the other's document."""
    first = doc(1, "Payments Primary", "weekly rotation", source="c1")
    second = doc(1, "Payments Primary (EU copy)", "daily rotation", source="c2")
    index.upsert([first])
    index.upsert([second])
    assert index.count() == 2
    assert index.get("c1", "schedule:P1") == first
    assert index.get("c2", "schedule:P1") == second
    assert index.find("schedule:P1") == [first, second]
    assert index.find("schedule:P404") == []
    assert index.hashes("c1") == {"schedule:P1": first.content_hash}
    index.delete("c2", ["schedule:P1"])
    assert index.get("c1", "schedule:P1") == first
    assert index.get("c2", "schedule:P1") is None
    index.upsert([second])
    assert index.delete_source("c1") == 1
    assert index.find("schedule:P1") == [second]


def test_an_entity_admits_only_documents_of_its_own_source(index: SearchIndex) -> None:
    """Two accounts with one subdomain ("acme") and a team id in common: holding "acme" or
    "PT1" in one connector never shows the other connector's documents."""
    index.upsert([doc(1, "Payments", racl=("acme", "PT1"), source="c1"),
                  doc(2, "Payments", racl=("acme", "PT1"), source="c2")])
    for query in ("payments", "", "pay*", '"payments"'):
        for grants, want in [
            (acl("acme"), {("c1", "schedule:P1")}),
            (acl("PT1", source="c2"), {("c2", "schedule:P2")}),
            (acl("acme") | acl("PT1", source="c2"), {("c1", "schedule:P1"), ("c2", "schedule:P2")}),
            (acl("PT1", source="c3"), set()),
        ]:
            res = index.search(query, grants)
            assert {(h.source, h.id) for h in res.hits} == want, (query, grants)
            assert res.total == len(want)


# --- ranking and snippets -------------------------------------------------------------------


def test_title_match_ranks_above_content_match(index: SearchIndex) -> None:
    index.upsert(
        [
            doc(1, "Database Primary", "Teams: storage. Handoff notifications: always."),
            doc(2, "Storage", "This schedule covers the database and the database replicas."),
            doc(3, "Unrelated", "Nothing to see here."),
        ]
    )
    res = index.search("database", acl("acme"))
    assert [h.id for h in res.hits] == ["schedule:P1", "schedule:P2"]
    assert res.hits[0].score > res.hits[1].score
    assert res.total == 2


def test_all_words_must_match(index: SearchIndex) -> None:
    index.upsert([doc(1, "Payments", "weekly"), doc(2, "Payments", "daily")])
    assert ids(index.search("payments weekly", acl("acme"))) == {"schedule:P1"}
    assert ids(index.search("PAYMENTS", acl("acme"))) == {"schedule:P1", "schedule:P2"}


def test_snippet_highlights_hits(index: SearchIndex) -> None:
    index.upsert([doc(1, "Payments", "Level 1: notify the payments team after 15 minutes.")])
    hit = index.search("payments", acl("acme")).hits[0]
    assert "<mark>payments</mark>" in hit.snippet
    assert hit.title == "Payments"
    assert hit.url == "https://acme.pagerduty.com/schedules/P1"
    assert hit.type == "schedule"


def _only_mark_tags(snippet: str) -> bool:
    stripped = snippet.replace("<mark>", "").replace("</mark>", "")
    return (
        "<" not in stripped
        and ">" not in stripped
        and snippet.count("<mark>") == snippet.count("</mark>")
    )


@pytest.mark.parametrize(
    "content",
    [
        '<script>alert("x")</script> payments',
        "payments <img src=x onerror=alert(1)> & \"quotes\" 'single'",
        "payments \ue000<b>\ue001 private-use markers in the text",
        "</mark><mark> payments",
    ],
)
def test_snippets_are_html_safe(index: SearchIndex, content: str) -> None:
    index.upsert([doc(1, "Title", content)])
    hit = index.search("payments", acl("acme")).hits[0]
    assert _only_mark_tags(hit.snippet), hit.snippet
    assert "<mark>payments</mark>" in hit.snippet
    browse = index.search("", acl("acme")).hits[0]
    assert _only_mark_tags(browse.snippet)
    assert "<mark>" not in browse.snippet


def test_script_tag_comes_back_escaped(index: SearchIndex) -> None:
    index.upsert([doc(1, "Title", "<script>alert(1)</script>")])
    hit = index.search("script", acl("acme")).hits[0]
    assert "<script" not in hit.snippet
    assert "&lt;<mark>script</mark>&gt;" in hit.snippet


# --- query language -------------------------------------------------------------------------


def test_phrase_query(index: SearchIndex) -> None:
    index.upsert(
        [
            doc(1, "A", "the on-call rotation for payments"),
            doc(2, "B", "call on the rotation"),
            doc(3, "C", "on call handoff"),
        ]
    )
    assert ids(index.search('"on call"', acl("acme"))) == {"schedule:P1", "schedule:P3"}
    assert ids(index.search('"call on"', acl("acme"))) == {"schedule:P2"}
    assert ids(index.search("on-call", acl("acme"))) == {"schedule:P1", "schedule:P3"}


def test_prefix_query(index: SearchIndex) -> None:
    index.upsert([doc(1, "Payments Primary"), doc(2, "Paging"), doc(3, "Database")])
    assert ids(index.search("pay*", acl("acme"))) == {"schedule:P1"}
    assert ids(index.search("pa*", acl("acme"))) == {"schedule:P1", "schedule:P2"}
    assert index.search("pay", acl("acme")).total == 0


def test_diacritics_and_case_are_folded(index: SearchIndex) -> None:
    index.upsert([doc(1, "Café Zürich", "Europe/Zürich")])
    assert ids(index.search("cafe zurich", acl("acme"))) == {"schedule:P1"}
    assert ids(index.search("CAFÉ", acl("acme"))) == {"schedule:P1"}


def test_punctuated_words_match_as_indexed(index: SearchIndex) -> None:
    index.upsert([doc(1, "Ada", "contact ada.lovelace@example.com for escalations")])
    assert ids(index.search("ada.lovelace@example.com", acl("acme"))) == {"schedule:P1"}
    assert ids(index.search("lovelace", acl("acme"))) == {"schedule:P1"}


def test_operators_are_plain_text(index: SearchIndex) -> None:
    index.upsert(
        [doc(1, "Payments", "alpha"), doc(2, "Database", "beta"), doc(3, "Payments database")]
    )
    # As FTS5 syntax, OR would match all three and NOT would exclude the third.
    assert ids(index.search("payments OR database", acl("acme"))) == {"schedule:P3"}
    assert ids(index.search("payments NOT database", acl("acme"))) == {"schedule:P3"}
    assert ids(index.search("payments AND database", acl("acme"))) == {"schedule:P3"}
    # A column filter would find document 2; as text it is the phrase "title database".
    assert index.search("title:database", acl("acme")).total == 0
    index.upsert([doc(4, "Title Database", "x")])
    assert ids(index.search("title:database", acl("acme"))) == {"schedule:P4"}


def test_singular_and_plural_match_each_other(index: SearchIndex) -> None:
    index.upsert(
        [
            doc(1, "Payments", "3 levels; used by 2 escalation policies"),
            doc(2, "Database", "1 level; used by the escalation policy Storage"),
        ]
    )
    both = {"schedule:P1", "schedule:P2"}
    assert ids(index.search("policy", acl("acme"))) == both
    assert ids(index.search("policies", acl("acme"))) == both
    assert ids(index.search("level", acl("acme"))) == both
    assert ids(index.search("payment", acl("acme"))) == {"schedule:P1"}
    # Quoted phrases are literal.
    assert ids(index.search('"policies"', acl("acme"))) == {"schedule:P1"}


def test_a_question_finds_documents_with_its_words(index: SearchIndex) -> None:
    index.upsert(
        [
            doc(1, "Database Primary", "weekly rotation: Ada Lovelace, Grace Hopper"),
            doc(2, "Payments Primary", "daily rotation: Alan Turing"),
            doc(3, "Database Secondary", "weekly rotation: Alan Turing"),
        ]
    )
    # No document holds "weekend": rank those holding some of the words, the most first.
    res = index.search("who is on the database primary weekend rotation", acl("acme"))
    assert res.hits[0].id == "schedule:P1"
    assert res.partial
    assert ids(res) == {"schedule:P1", "schedule:P2", "schedule:P3"}
    assert res.total == 3
    # When some documents hold every word, only they are found; the words of a question
    # ("who is on call for") are not what it is about.
    assert ids(index.search("database primary", acl("acme"))) == {"schedule:P1"}
    res = index.search("Who is on call for the database primary?", acl("acme"))
    assert ids(res) == {"schedule:P1"}
    assert not res.partial


def test_a_minus_excludes_a_word(index: SearchIndex) -> None:
    index.upsert(
        [
            doc(1, "Payments Primary", "weekly rotation: Ada Lovelace"),
            doc(2, "Payments Secondary", "daily rotation: Alan Turing"),
            doc(3, "Database Primary", "weekly rotation: Alan Turing"),
        ]
    )
    res = index.search("payments -primary", acl("acme"))
    assert [h.id for h in res.hits] == ["schedule:P2"]
    assert res.total == 1
    assert ids(index.search("-primary", acl("acme"))) == {"schedule:P2"}
    assert ids(index.search('rotation -"alan turing"', acl("acme"))) == {"schedule:P1"}
    # An excluded word never widens what a user sees.
    assert index.search("-primary", acl("nobody")).total == 0


@pytest.fixture
def kinds_index(index: SearchIndex) -> SearchIndex:
    index.upsert(
        [
            doc(1, "Payments Primary", "Used by escalation policy 'Payments escalation'."),
            doc(
                2,
                "Payments escalation",
                "Level 1: notify schedule 'Payments Primary'. 3 escalation levels in total.",
                type_="escalation_policy",
            ),
            doc(3, "Storage", "Team: Storage. 3 escalation levels in total."),
        ]
    )
    return index


def test_a_query_ending_with_a_type_asks_for_that_type(kinds_index: SearchIndex) -> None:
    assert ids(kinds_index.search("payments schedule", acl("acme"))) == {"schedule:P1"}
    assert ids(kinds_index.search("payments schedules", acl("acme"))) == {"schedule:P1"}
    got = kinds_index.search("payments escalation policy", acl("acme"))
    assert ids(got) == {"escalation_policy:P2"}
    assert ids(kinds_index.search("schedules", acl("acme"))) == {"schedule:P1", "schedule:P3"}


def test_type_words_elsewhere_are_plain_words(kinds_index: SearchIndex) -> None:
    got = kinds_index.search("3 escalation levels in total", acl("acme"))
    assert ids(got) == {"escalation_policy:P2", "schedule:P3"}
    # Asking for a type that has no match falls back to every type.
    got = kinds_index.search("storage escalation", acl("acme"))
    assert ids(got) == {"schedule:P3"}


def test_blank_query_lists_visible_documents_by_title(index: SearchIndex) -> None:
    index.upsert([doc(1, "Zeta", racl=("acme",)), doc(2, "Alpha", racl=("PT1",)), doc(3, "Mid")])
    res = index.search("   ", acl("acme"))
    assert [h.title for h in res.hits] == ["Mid", "Zeta"]
    assert res.total == 2
    assert index.search("", acl("acme", "PT1")).total == 3


def test_query_without_searchable_characters_matches_nothing(index: SearchIndex) -> None:
    index.upsert([doc(1, "Payments")])
    for query in ["***", '"', '""', "🙂", "---", "( )", "*"]:
        assert index.search(query, acl("acme")).total == 0, query


# --- access ---------------------------------------------------------------------------------


@pytest.fixture
def teams_index(index: SearchIndex) -> SearchIndex:
    """40 documents: team T0..T3 own 10 each; every one also held by the account entity."""
    index.upsert(
        doc(
            i,
            f"Payments schedule {i:02d}",
            f"rotation {i} for team T{i % 4}",
            ("acme", f"T{i % 4}"),
        )
        for i in range(40)
    )
    return index


def test_only_documents_sharing_an_entity_are_found(teams_index: SearchIndex) -> None:
    res = teams_index.search("payments", acl("T1"), limit=100)
    assert res.total == 10
    assert ids(res) == {f"schedule:P{i}" for i in range(40) if i % 4 == 1}
    assert teams_index.search("payments", acl("T1", "T2"), limit=100).total == 20
    assert teams_index.search("payments", acl("acme"), limit=100).total == 40
    assert teams_index.search("payments", acl("T9")).total == 0


def test_total_counts_visible_documents_and_pages_are_consistent(
    teams_index: SearchIndex,
) -> None:
    visible = {f"schedule:P{i}" for i in range(40) if i % 4 in (0, 3)}
    for query in ["payments", "rotation", ""]:
        got = all_ids(teams_index, query, acl("T0", "T3"), page=3)
        assert len(got) == len(set(got)) == 20
        assert set(got) == visible
    res = teams_index.search("payments", acl("T0"), limit=5, offset=8)
    assert res.total == 10
    assert len(res.hits) == 2
    res = teams_index.search("payments", acl("T0"), limit=5, offset=500)
    assert res.total == 10
    assert res.hits == []


def test_empty_entity_set_sees_nothing(teams_index: SearchIndex) -> None:
    assert teams_index.search("payments", acl()).total == 0
    assert teams_index.search("", acl()).total == 0
    assert teams_index.search("", acl()).hits == []


PUNCTUATED = ["team-a", "team", "a", "a-b", "b", "a.b@x", "a.b", "acme", "ACME", "a b", "x:y", "*"]


def test_punctuated_entity_ids_never_leak(index: SearchIndex) -> None:
    index.upsert(
        doc(n, "Shared title", f"content {n}", (entity,)) for n, entity in enumerate(PUNCTUATED)
    )
    for n, entity in enumerate(PUNCTUATED):
        for query in ["shared", ""]:
            res = index.search(query, acl(entity), limit=50)
            assert ids(res) == {f"schedule:P{n}"}, (entity, ids(res))
            assert res.total == 1


HOSTILE = [
    '"',
    '""',
    "*",
    "NEAR(",
    "NEAR(payments database, 5)",
    "sys_racl:x",
    "acl:acme",
    "acl : T2",
    "{title content acl}: payments",
    "OR",
    "payments OR",
    "AND",
    "NOT payments",
    "title:foo",
    "payments^",
    "^payments",
    "(payments",
    "payments)",
    "-payments",
    "+payments",
    "payments\x00T2",
    "\x00",
    "pay\x1b[31mments",
    "payments \u200b\ufeff",
    "🙂 payments 🚨",
    "\ud800payments",
    "a" * 10_000,
    "payments " * 2000,
    '"payments' * 500,
    "T2",
    "acme",
    "T2 OR acme",
    "*:*",
    "payments*" * 100,
]


@pytest.mark.parametrize("query", HOSTILE)
def test_hostile_queries_never_raise_or_widen_access(teams_index: SearchIndex, query: str) -> None:
    visible = {f"schedule:P{i}" for i in range(40) if i % 4 == 1}
    res = teams_index.search(query, acl("T1"), limit=100)
    assert ids(res) <= visible
    assert res.total <= len(visible)
    assert res.total >= len(res.hits)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(query=st.text(max_size=80))
def test_random_queries_stay_within_the_visible_set(teams_index: SearchIndex, query: str) -> None:
    visible = {f"schedule:P{i}" for i in range(40) if i % 4 == 2}
    res = teams_index.search(query, acl("T2"), limit=100)
    assert ids(res) <= visible
    assert res.total <= len(visible)
    for hit in res.hits:
        assert _only_mark_tags(hit.snippet)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    words=st.lists(
        st.sampled_from(
            ["payments", "rotation", "team", "T1", "T2", "OR", "NOT", "schedule", "policy",
             "kind:schedule", "acl:T3", "\"", "*", "(", ":"]
        ),
        max_size=6,
    )
)
def test_random_operator_soup_stays_within_the_visible_set(
    teams_index: SearchIndex, words: list[str]
) -> None:
    visible = {f"schedule:P{i}" for i in range(40) if i % 4 == 3}
    res = teams_index.search(" ".join(words), acl("T3"), limit=100)
    assert ids(res) <= visible
    assert res.total <= len(visible)


def test_search_rejects_a_bare_string_as_entities(teams_index: SearchIndex) -> None:
    # "T1" iterated would be {"T", "1"}: refuse rather than guess.
    with pytest.raises(TypeError):
        teams_index.search("payments", "T1")  # type: ignore[arg-type]


# --- concurrency ----------------------------------------------------------------------------


@pytest.mark.timeout(60)
def test_searches_keep_working_while_a_writer_upserts(index_factory: IndexFactory) -> None:
    index = index_factory()
    index.upsert(doc(f"base{i}", f"Payments {i}", "base", ("acme", "T1")) for i in range(50))
    errors: list[BaseException] = []
    done = threading.Event()
    searches = 0

    def reader() -> None:
        nonlocal searches
        try:
            while not done.is_set():
                res = index.search("payments", acl("T1"), limit=10)
                # The writer adds documents for T2 only: T1's view never changes.
                assert res.total == 50
                index.search("", acl("acme"), limit=5)
                searches += 1
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        for batch in range(30):
            index.upsert(
                doc(f"w{batch}-{i}", f"Payments new {i}", "written " * 20, ("acme", "T2"))
                for i in range(100)
            )
    finally:
        done.set()
        for t in threads:
            t.join(timeout=30)
    assert not errors, errors
    assert searches > 0
    assert index.count() == 3050
    assert index.search("payments", acl("T2")).total == 3000


def test_marks_in_snippet_wrap_whole_words(index: SearchIndex) -> None:
    index.upsert([doc(1, "T", "alpha payments beta payments gamma")])
    snippet = index.search("payments", acl("acme")).hits[0].snippet
    assert re.findall(r"<mark>(.*?)</mark>", snippet) == ["payments", "payments"]


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    racls=st.lists(
        st.lists(st.text(min_size=1, max_size=12), min_size=1, max_size=3, unique=True),
        min_size=1,
        max_size=8,
    ),
    held=st.sets(st.text(min_size=1, max_size=12), max_size=4),
)
def test_visibility_is_exactly_sharing_an_entity(
    index_factory: IndexFactory, racls: list[list[str]], held: set[str]
) -> None:
    racls = [[e for e in racl if e.encode("utf-8", "ignore").decode() == e] for racl in racls]
    racls = [racl for racl in racls if racl]
    held = {e for e in held if e.encode("utf-8", "ignore").decode() == e}
    index = index_factory()
    index.upsert(doc(n, "Shared", "text", tuple(racl)) for n, racl in enumerate(racls))
    # Entities the user holds may be other documents' entities too.
    held |= {racls[0][0]} if racls and len(held) % 2 else set()
    expected = {f"schedule:P{n}" for n, racl in enumerate(racls) if set(racl) & held}
    for query in ["shared", ""]:
        res = index.search(query, acl(*held), limit=100)
        assert ids(res) == expected
        assert res.total == len(expected)
