"""Hybrid search (keyword and meaning fused) over generated accounts, with the real model.

- Questions in other words (two paraphrase sets: ``paraphrases.json``, on which the fusion
  was tuned, and ``paraphrases-heldout.json``, written for this test and measured once)
  find a right document in the top 3 on the demo account: Recall@3 ≥ 0.8, hybrid.
- The literal questions of ``test_search_quality.py`` (names, e-mails, ids, rotations...)
  keep their answers: ≥ 0.95 of them pass through hybrid search too.
- Access: the meaning side scores only what the user's grants admit; documents a user cannot
  see never change what that user gets (results, total, notice); ``-word`` excludes on both
  sides; a PagerDuty id finds its object; a question whose words match nothing visible says so.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

TESTS = Path(__file__).parent
sys.path.insert(0, str(TESTS / "documents"))
sys.path.insert(0, str(TESTS))

from mapdata import SimulatedAccount  # noqa: E402
from test_search_quality import SEED, Case, World, admin_email, cases  # noqa: E402

from pdsearch.documents import (  # noqa: E402
    build_context,
    derive_entities,
    policy_document,
    schedule_document,
)
from pdsearch.hybrid import hybrid_search, meaning_snippet  # noqa: E402
from pdsearch.index.base import Document, Grant, SearchResults  # noqa: E402
from pdsearch.index.sqlite import SqliteIndex  # noqa: E402
from pdsearch.permissions import Entity, normalize_email  # noqa: E402
from pdsearch.semantic import Embedder  # noqa: E402
from pdsearch.simulator.config import SCALES  # noqa: E402
from pdsearch.simulator.names import THEMES  # noqa: E402

SOURCE = "pd"
DATA = TESTS / "data" / "semantic"
_THEME_NAMES = sorted((base for base, _, _ in THEMES), key=len, reverse=True)


def theme_of(team_name: str) -> str | None:
    return next((b for b in _THEME_NAMES if team_name == b or team_name.startswith(b + " ")),
                None)


@dataclass
class Indexed:
    sim: SimulatedAccount
    index: SqliteIndex
    entities: list[Entity]
    docs: dict[str, Document]
    themes: dict[str, set[str]]  # document id → its teams' themes

    def grants(self, email: str) -> set[Grant]:
        who = normalize_email(email)
        return {Grant(SOURCE, e.entity_id) for e in self.entities if who and who in e.members}

    def search(self, query: str, email: str, limit: int = 3, offset: int = 0,
               embedder: Embedder | None = None) -> SearchResults:
        return hybrid_search(self.index, embedder or Embedder.load(), query, self.grants(email),
                             limit, offset)


def indexed(sim: SimulatedAccount, path: Path, model: Embedder) -> Indexed:
    """The account's documents as a sync makes them (team and service descriptions
    included), in a real SqliteIndex with their vectors."""
    services = {i: s.get("description") or "" for i, s in sim.account.services.items()}
    ctx = build_context(sim.subdomain, sim.users, sim.teams, sim.schedules, sim.schedules_v3,
                        sim.policies, services)
    docs = [policy_document(p, ctx, SOURCE) for p in sim.policies]
    docs += [schedule_document(s, ctx, SOURCE) for s in sim.schedules]
    docs += [schedule_document(s, ctx, SOURCE) for s in sim.schedules_v3]
    index = SqliteIndex(path)
    index.upsert(docs)
    vectors = model.embed_documents([d.meaning for d in docs])
    index.store_vectors([(SOURCE, d.id, v) for d, v in zip(docs, vectors, strict=True)],
                        model_id=model.model_id)
    team_theme = {t.id: theme_of(t.name) for t in sim.teams}
    themes = {d.id: {x for e in d.sys_racl[1:] if (x := team_theme.get(e))} for d in docs}
    return Indexed(sim, index, derive_entities(sim.subdomain, sim.users, sim.teams),
                   {d.id: d for d in docs}, themes)


@pytest.fixture(scope="module")
def model() -> Embedder:
    return Embedder.load()


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory, model: Embedder) -> Iterator[Indexed]:
    scale = SCALES["small"]
    sim = SimulatedAccount(seed=7, teams=scale.teams, users=scale.users,
                           schedules=scale.schedules, policies=scale.policies)
    made = indexed(sim, tmp_path_factory.mktemp("hybrid") / "index.db", model)
    yield made
    made.index.close()


def admin(world: Indexed) -> str:
    return next(u.email for u in world.sim.users if u.role == "admin")


def recall(world: Indexed, path: Path, semantic: bool) -> tuple[float, int, list[str]]:
    present = set().union(*world.themes.values())
    questions = [q for q in json.loads(path.read_text(encoding="utf-8"))
                 if set(q["themes"]) & present]
    email, missed = admin(world), []
    for q in questions:
        if semantic:
            top = [h.id for h in world.search(q["question"], email).hits]
        else:
            top = [h.id for h in world.index.search(q["question"], world.grants(email),
                                                    limit=3).hits]
        if not any(world.themes[d] & set(q["themes"]) for d in top):
            missed.append(q["question"])
    return 1 - len(missed) / len(questions), len(questions), missed


@pytest.mark.parametrize("name", ["paraphrases.json", "paraphrases-heldout.json"])
def test_questions_in_other_words_find_their_team(demo: Indexed, name: str) -> None:
    hybrid, asked, missed = recall(demo, DATA / name, semantic=True)
    keyword, _, _ = recall(demo, DATA / name, semantic=False)
    assert asked >= 60
    # Measured on the demo account: 0.863 and 0.917 hybrid, against 0.37 and 0.62 by keyword
    # alone (docs/SEMANTIC.md).
    assert hybrid >= 0.8, missed
    assert hybrid > keyword + 0.2


@pytest.fixture(scope="module")
def quality(tmp_path_factory: pytest.TempPathFactory, model: Embedder) -> Iterator[Indexed]:
    sim = SimulatedAccount(seed=SEED, teams=15, users=120, schedules=40, policies=30)
    made = indexed(sim, tmp_path_factory.mktemp("quality") / "index.db", model)
    yield made
    made.index.close()


def test_literal_questions_keep_their_answers(quality: Indexed) -> None:
    world = World(quality.sim, quality.index, quality.entities)
    questions: list[Case] = cases(world)
    email = admin_email(world)
    failed = [c.question for c in questions
              if not c.passes([h.id for h in quality.search(c.question, email).hits])]
    assert len(questions) >= 20
    assert 1 - len(failed) / len(questions) >= 0.95, failed


def test_a_pagerduty_id_finds_its_object(demo: Indexed) -> None:
    policy = demo.sim.policies[3]
    for query in (policy.id, f"what is {policy.id}"):
        found = demo.search(query, admin(demo))
        assert found.hits[0].id == f"escalation_policy:{policy.id}"


def test_minus_word_excludes_on_the_meaning_side_too(demo: Indexed) -> None:
    email = admin(demo)
    everything = demo.search("card payments", email, limit=50)
    assert any("primary" in demo.docs[h.id].content.lower() for h in everything.hits)
    without = demo.search("card payments -primary", email, limit=50)
    assert without.hits
    assert not any("primary" in f"{demo.docs[h.id].title} {demo.docs[h.id].content}".lower()
                   for h in without.hits)
    assert without.total == len(without.hits)


def test_found_by_meaning_has_a_useful_snippet(demo: Indexed) -> None:
    # No document holds "k8s" or "unhealthy": every result is found by meaning.
    found = demo.search("k8s is unhealthy", admin(demo), limit=10)
    assert found.notice == "Nothing matches all of “k8s”, “unhealthy”. Showing what is " \
        "closest in meaning."
    assert found.hits
    assert "Platform" in demo.themes[found.hits[0].id]
    for hit in found.hits:
        assert hit.snippet
        assert "<mark>" not in hit.snippet
        assert hit.snippet == meaning_snippet(demo.docs[hit.id].content)
    assert meaning_snippet("Title line\nDescription: Runs <b>nightly</b> jobs.\nMore") == \
        "Runs &lt;b&gt;nightly&lt;/b&gt; jobs."


def _member_of(world: Indexed, theme: str, *, alone: bool = True) -> tuple[str, str]:
    """A (user e-mail, team id) of a team of ``theme``, the user in no other team and no
    admin."""
    teams = {t.id: t for t in world.sim.teams}
    for entity in world.entities:
        team = teams.get(entity.entity_id)
        if team is None or theme_of(team.name) != theme:
            continue
        for email in sorted(entity.members):
            grants = world.grants(email)
            if grants == {Grant(SOURCE, team.id)} or not alone:
                return email, team.id
    raise AssertionError(f"no plain member of a {theme} team")


def test_a_question_about_what_the_user_cannot_see_says_so(demo: Indexed) -> None:
    email, team_id = _member_of(demo, "Data Platform")
    found = demo.search("Who is on call for payments?", email, limit=20)
    visible = {d for d, doc in demo.docs.items() if team_id in doc.sys_racl}
    assert found.notice == "Nothing matches “payments”. Showing what is closest in meaning."
    assert {h.id for h in found.hits} <= visible
    # The same words for someone who sees payments: no notice, payments first.
    payer, _ = _member_of(demo, "Payments")
    mine = demo.search("Who is on call for payments?", payer, limit=3)
    assert mine.notice is None
    assert all("Payments" in demo.themes[h.id] for h in mine.hits)


def test_hidden_documents_never_change_what_a_user_gets(
        demo: Indexed, tmp_path: Path, model: Embedder) -> None:
    """The documents, total and notice a user gets are the same whether or not the index
    holds documents outside their grants, even documents nearest in meaning to the question.
    (The order may differ: keyword ranking's word statistics are the whole index's.)"""
    email, team_id = _member_of(demo, "Data Platform")
    questions = ["Who is on call for payments?", "the nightly batch did not finish",
                 "card payments -primary", "warehouse", "xyzzy"]
    mine = [d for d in demo.docs.values() if team_id in d.sys_racl]
    with SqliteIndex(tmp_path / "alone.db") as alone:
        alone.upsert(mine)
        vectors = model.embed_documents([d.meaning for d in mine])
        alone.store_vectors([(SOURCE, d.id, v) for d, v in zip(mine, vectors, strict=True)],
                            model_id=model.model_id)
        for question in questions:
            full = hybrid_search(demo.index, model, question, demo.grants(email), 100, 0)
            only = hybrid_search(alone, model, question, demo.grants(email), 100, 0)
            assert (full.total, full.notice) == (only.total, only.notice), question
            assert {h.id for h in full.hits} == {h.id for h in only.hits}, question
            assert {h.id for h in full.hits} <= {d.id for d in mine}


def test_pages_of_a_hybrid_answer_hold_together(demo: Indexed) -> None:
    email = admin(demo)
    first = demo.search("people cannot log in", email, limit=7)
    seen, offset = [h.id for h in first.hits], 7
    while offset < first.total:
        page = demo.search("people cannot log in", email, limit=7, offset=offset)
        assert page.total == first.total
        assert page.hits
        seen += [h.id for h in page.hits]
        offset += 7
    assert len(seen) == len(set(seen)) == first.total
    assert demo.search("people cannot log in", email, limit=7, offset=first.total).hits == []


def test_strings_without_words_get_no_neighbours(demo: Indexed) -> None:
    for junk in ("zzzqqq", "qqqq xkcdq", "NOT OR AND", "%_% ^^ ***"):
        found = demo.search(junk, admin(demo), limit=10)
        keyword = demo.index.search(junk, demo.grants(admin(demo)), limit=10)
        assert [h.id for h in found.hits] == [h.id for h in keyword.hits], junk
        assert found.total == keyword.total, junk



def test_without_vectors_hybrid_search_is_keyword_search(demo: Indexed, tmp_path: Path,
                                                         model: Embedder) -> None:
    """Semantic search just turned on, vectors not computed yet: what keyword search finds,
    the any-word fallback included."""
    with SqliteIndex(tmp_path / "bare.db") as bare:
        bare.upsert(demo.docs.values())
        grants = demo.grants(admin(demo))
        for question in ("people cannot log in", "database primary lovelace", "payments"):
            hybrid = hybrid_search(bare, model, question, grants, 5, 0)
            keyword = bare.search(question, grants, 5)
            assert [h.id for h in hybrid.hits] == [h.id for h in keyword.hits], question
            assert hybrid.total == keyword.total, question
