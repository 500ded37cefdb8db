"""Access control as a property (issue 6): whatever happens to an account, search shows a user
only what an independent oracle says that user may see, and counts exactly that.

A hypothesis state machine builds a small simulated PagerDuty account, then takes random steps:
team memberships added and removed, teams made private or public, created and deleted, policies
and schedules moved between teams or to none, users' roles changed, permission-entity members
added and removed by hand, real syncs (``SyncService.run`` against the in-process simulator, a
real ``Store`` and ``SqliteIndex`` on disk) and random queries (words of the account's names,
junk and FTS syntax).

The oracle never calls pdsearch's permission code. It reads the simulator's ``Account`` as it
was at the last successful sync, plus the manual grants this test made (DESIGN.md 2.1, 2.2):

- entity ``<subdomain>``: users whose role is owner or admin, plus those added by hand;
- entity ``<team id>``: the team's members, plus those added by hand;
- a document (``schedule:<id>``, ``escalation_policy:<id>``) is visible to a user iff
  ``{subdomain} | its team ids`` meets the user's entities *of the document's own connector*.

A second connector syncs a twin account (issue 11): the same subdomain, the same users, teams
and document ids, but other roles, memberships and team assignments. Entities with the same name
in the twin must never admit the first account's documents, nor the other way round.

After every step, for every user of the account and for a stranger: browsing (blank query)
lists exactly the oracle's set with the right total; after a query step, paging through the
results gives exactly ``total`` distinct documents, all visible, and at least the documents
the user may see of those holding every word of the query.

Semantic search is on, as it is by default: every sync computes meaning vectors with the real
model, and every search is hybrid (keyword and meaning fused), so the vector path is held to
the same oracle. Queries include questions in other words, which the keyword side rarely
matches and the meaning side always answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from pdsearch.index.base import Grant
from pdsearch.index.sqlite import SqliteIndex
from pdsearch.search import search
from pdsearch.semantic import Embedder
from pdsearch.simulator.account import Account
from pdsearch.simulator.app import create_app
from pdsearch.simulator.config import SimulatorConfig
from pdsearch.simulator.errors import AccountError
from pdsearch.store import NotFoundError, Store
from pdsearch.sync.service import SyncService

API_KEY = "access-property-key"
SUBDOMAIN = "acme"
STRANGER = "stranger@elsewhere.example"
ADMIN_ROLES = frozenset({"owner", "admin"})
# Roles a non-owner may be given; the owner's role cannot change (PagerDuty transfers ownership).
ROLES = ("admin", "user", "limited_user", "observer", "read_only_user", "restricted_access")
TEAM_ROLES = ("observer", "responder", "manager")
JUNK = (
    '"', "*", "**", "NEAR(", "OR", "AND", "NOT", "(", ")", "-", "^", ":", "title:*",
    "sys_racl:acme", "acl:*", "'; DROP TABLE docs; --", '"unterminated', "\x00", "\u202e",
    "üñíçødé", "schedule", "escalation policy", SUBDOMAIN, "a" * 300, "pay*", "%_%", "\\",
)
# Questions in other words: hybrid search answers them by meaning.
QUESTIONS = (
    "who do I page when customers cannot pay", "people cannot log in", "k8s cluster unhealthy",
    "website is down -primary", "Who is on call for payments?",
)
# Counted over the whole run (all examples), for docs/RELIABILITY.md.
STATS = {"examples": 0, "steps": 0, "syncs": 0, "searches": 0, "queries": 0}


def _norm(email: str) -> str:
    return email.strip().lower()


@dataclass(frozen=True)
class Snapshot:
    """What PagerDuty held at the last successful sync, read straight from the Account."""

    docs: dict[str, frozenset[str]]  # document id -> team ids
    derived: dict[str, frozenset[str]]  # entity id -> member e-mails (normalized)


def snapshot(account: Account, abilities: list[str]) -> Snapshot:
    """Without the ``teams`` ability a team is known only through its members (users are read
    with their teams): an empty team then has no entity, which changes no one's access."""
    docs: dict[str, frozenset[str]] = {}
    for sid, schedule in account.schedules.items():
        docs[f"schedule:{sid}"] = frozenset(t["id"] for t in schedule.get("teams") or [])
    for pid, policy in account.escalation_policies.items():
        docs[f"escalation_policy:{pid}"] = frozenset(t["id"] for t in policy.get("teams") or [])
    email = {uid: _norm(u["email"]) for uid, u in account.users.items()}
    derived = {
        SUBDOMAIN: frozenset(email[u] for u, v in account.users.items() if v["role"] in ADMIN_ROLES)
    }
    for tid in account.teams:
        if "teams" not in abilities and not account.memberships.get(tid):
            continue
        derived[tid] = frozenset(
            email[m["user_id"]] for m in account.memberships.get(tid, []) if m["user_id"] in email
        )
    return Snapshot(docs, derived)


@dataclass
class Oracle:
    main_id: str
    synced: Snapshot
    twin_id: str
    twin: Snapshot
    manual: dict[str, set[str]] = field(default_factory=dict)

    def entities(self, email: str) -> set[str]:
        """The user's entities in the main connector."""
        who = _norm(email)
        if not who:
            return set()
        out = {e for e, members in self.synced.derived.items() if who in members}
        out |= {e for e, members in self.manual.items() if who in members}
        return out

    def twin_entities(self, email: str) -> set[str]:
        who = _norm(email)
        return {e for e, members in self.twin.derived.items() if who and who in members}

    def visible(self, email: str) -> set[tuple[str, str]]:
        """(connector id, document id) of everything the user may see, in both connectors."""
        mine, twin = self.entities(email), self.twin_entities(email)
        return {
            (self.main_id, d) for d, teams in self.synced.docs.items()
            if ({SUBDOMAIN} | teams) & mine
        } | {
            (self.twin_id, d) for d, teams in self.twin.docs.items()
            if ({SUBDOMAIN} | teams) & twin
        }

    def every_grant(self) -> set[Grant]:
        return {Grant(self.main_id, e) for e in {SUBDOMAIN, *self.synced.derived}} | {
            Grant(self.twin_id, e) for e in {SUBDOMAIN, *self.twin.derived}
        }


def page_through(
    index: Any, store: Any, query: str, user: str, size: int
) -> tuple[int, list[tuple[str, str]]]:
    """Every hit of ``query`` for ``user`` as (connector, id), a page of ``size`` at a time; the
    total must hold still from page to page."""
    embedder = Embedder.load()
    first = search(index, store.entities, query, user, limit=size, offset=0, embedder=embedder)
    total, ids, offset = first.total, [(h.source, h.id) for h in first.hits], size
    while offset < total:
        page = search(index, store.entities, query, user, limit=size, offset=offset,
                      embedder=embedder)
        assert page.total == total, (query, user, "total changed between pages")
        assert page.hits, (query, user, f"empty page at offset {offset} of {total}")
        ids += [(h.source, h.id) for h in page.hits]
        offset += size
    STATS["searches"] += 1
    return total, ids


def all_seeing(index: SqliteIndex, query: str, grants: set[Grant]) -> set[tuple[str, str]]:
    """The documents holding every word of the query, across every document (the index asked
    with every grant). Hybrid search shows each of them that the user may see; documents
    holding only some words it leaves to meaning (pdsearch/hybrid.py)."""
    seen: set[tuple[str, str]] = set()
    offset = 0
    while True:
        page = index.search(query, grants, limit=100, offset=offset, every_word=True)
        seen |= {(h.source, h.id) for h in page.hits}
        offset += 100
        if offset >= page.total:
            return seen


def twin_of(account: Account, seed: int) -> Account:
    """Another account with the same subdomain, users, teams and document ids, but other roles,
    team members and team assignments: every entity name means something else there."""
    twin = Account.from_json(account.to_json())
    rng = random.Random(seed)
    owner = twin.owner_id
    for user in sorted(twin.users):
        if user != owner:
            twin.update("users", user, {"role": rng.choice(ROLES)})
    for team in sorted(twin.teams):
        for member in list(twin.memberships.get(team, [])):
            twin.remove_team_member(team, member["user_id"])
        for user in rng.sample(sorted(twin.users), k=min(3, len(twin.users))):
            twin.add_team_member(team, user, rng.choice(TEAM_ROLES))
    teams = sorted(twin.teams)
    for object_id in sorted(twin.schedules):
        refs = [{"id": t, "type": "team_reference"} for t in rng.sample(teams, k=1)]
        twin.update(twin.schedule_kind(object_id), object_id, {"teams": refs})
    for object_id in sorted(twin.escalation_policies):
        chosen = rng.sample(teams, k=rng.randint(0, 1))
        refs = [{"id": t, "type": "team_reference"} for t in chosen]
        twin.update("escalation_policies", object_id, {"teams": refs})
    return twin


class AccessMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.dir: Path | None = None
        self.store: Store | None = None
        self.index: SqliteIndex | None = None

    # --- set-up ---------------------------------------------------------------------------

    @initialize(
        seed=st.integers(0, 2**16),
        teams=st.integers(1, 4),
        users=st.integers(4, 12),
        schedules=st.integers(1, 5),
        policies=st.integers(1, 4),
    )
    def build(self, seed: int, teams: int, users: int, schedules: int, policies: int) -> None:
        STATS["examples"] += 1
        self.account = Account.generate(seed, teams, users, schedules, policies, SUBDOMAIN, "us")
        config = SimulatorConfig.for_scale("tiny", api_key=API_KEY, rate_limit=0, seed=seed)
        self.app = create_app(self.account, config)
        self.dir = Path(tempfile.mkdtemp(prefix="pdsearch-access-"))
        self.store = Store(self.dir / "state.db", Fernet.generate_key())
        self.index = SqliteIndex(self.dir / "index.db")
        self.connector_id = self.store.connectors.create(
            "acme", "api_key", "us", {"api_key": API_KEY}, base_url="http://127.0.0.1:9"
        ).id
        self.twin = twin_of(self.account, seed)
        self.twin_app = create_app(self.twin, config)
        twin_id = self.store.connectors.create(
            "acme twin", "api_key", "us", {"api_key": API_KEY}, base_url="http://127.0.0.1:9"
        ).id
        self._sync(twin_id, self.twin_app)
        self.oracle = Oracle(
            self.connector_id, snapshot(self.account, self.app.state.simulator.abilities),
            twin_id, snapshot(self.twin, self.twin_app.state.simulator.abilities),
        )
        self.team_counter = 0
        self.do_sync()

    def teardown(self) -> None:
        if self.index is not None:
            self.index.close()
        if self.store is not None:
            self.store.close()
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)

    # --- PagerDuty changes (through the simulator's write API) ------------------------------

    @rule(data=st.data(), role=st.sampled_from(TEAM_ROLES))
    def add_member(self, data: st.DataObject, role: str) -> None:
        STATS["steps"] += 1
        team = data.draw(st.sampled_from(sorted(self.account.teams)), label="team")
        user = data.draw(st.sampled_from(sorted(self.account.users)), label="user")
        self.account.add_team_member(team, user, role)

    @rule(data=st.data())
    def remove_member(self, data: st.DataObject) -> None:
        STATS["steps"] += 1
        pairs = sorted(
            (t, m["user_id"]) for t, ms in self.account.memberships.items() for m in ms
        )
        if not pairs:
            return
        team, user = data.draw(st.sampled_from(pairs), label="membership")
        self.account.remove_team_member(team, user)

    @rule(data=st.data(), private=st.booleans())
    def set_team_privacy(self, data: st.DataObject, private: bool) -> None:
        STATS["steps"] += 1
        team = data.draw(st.sampled_from(sorted(self.account.teams)), label="team")
        self.account.update("teams", team, {"default_role": "none" if private else "manager"})

    @rule(data=st.data())
    def move_object(self, data: st.DataObject) -> None:
        """A schedule to any set of teams (or none); a policy to one team or none."""
        STATS["steps"] += 1
        kind = data.draw(st.sampled_from(["schedules", "escalation_policies"]), label="kind")
        ids = sorted(self.account.schedules if kind == "schedules" else
                     self.account.escalation_policies)
        if not ids:
            return
        object_id = data.draw(st.sampled_from(ids), label="object")
        teams = sorted(self.account.teams)
        most = 1 if kind == "escalation_policies" else len(teams)
        chosen = data.draw(st.lists(st.sampled_from(teams), max_size=most, unique=True)
                           if teams else st.just([]), label="teams")
        real_kind = self.account.schedule_kind(object_id) if kind == "schedules" else kind
        refs = [{"id": t, "type": "team_reference"} for t in chosen]
        self.account.update(real_kind, object_id, {"teams": refs})

    @rule(data=st.data(), role=st.sampled_from(ROLES))
    def change_role(self, data: st.DataObject, role: str) -> None:
        STATS["steps"] += 1
        owner = self.account.owner_id
        users = sorted(u for u in self.account.users if u != owner)
        if not users:
            return
        user = data.draw(st.sampled_from(users), label="user")
        self.account.update("users", user, {"role": role})

    @rule()
    def create_team(self) -> None:
        STATS["steps"] += 1
        self.team_counter += 1
        self.account.create("teams", {"name": f"Property Team {self.team_counter}",
                                      "default_role": "none"})

    @precondition(lambda self: len(self.account.teams) > 1)
    @rule(data=st.data())
    def delete_team(self, data: st.DataObject) -> None:
        STATS["steps"] += 1
        team = data.draw(st.sampled_from(sorted(self.account.teams)), label="team")
        with contextlib.suppress(AccountError):  # PagerDuty's refusals change nothing
            self.account.delete("teams", team)

    @rule()
    def toggle_teams_ability(self) -> None:
        """Without the ``teams`` ability PagerDuty answers /teams with 402: the teams can't be
        read, only seen on users and objects. Access must not change because of it."""
        STATS["steps"] += 1
        sim = self.app.state.simulator
        if "teams" in sim.abilities:
            sim.abilities.remove("teams")
        else:
            sim.abilities.append("teams")
        sim.clear_cache()

    # --- manual entity members (through the store, as the Permission Entity API does) --------

    def _email(self, data: st.DataObject) -> str:
        emails = [*sorted(u["email"] for u in self.account.users.values()), STRANGER]
        email: str = data.draw(st.sampled_from(emails), label="email")
        shout: bool = data.draw(st.booleans(), label="upper-case")
        return email.upper() if shout else email

    @rule(data=st.data())
    def add_manual(self, data: st.DataObject) -> None:
        STATS["steps"] += 1
        assert self.store is not None
        entity = data.draw(st.sampled_from(sorted(self.oracle.synced.derived)), label="entity")
        email = self._email(data)
        self.store.entities.add_manual_members(self.connector_id, entity, [email])
        self.oracle.manual.setdefault(entity, set()).add(_norm(email))

    @rule(data=st.data())
    def remove_manual(self, data: st.DataObject) -> None:
        STATS["steps"] += 1
        assert self.store is not None
        grants = sorted((e, m) for e, ms in self.oracle.manual.items() for m in ms)
        if not grants:
            return
        entity, email = data.draw(st.sampled_from(grants), label="grant")
        try:
            self.store.entities.remove_manual_members(self.connector_id, entity, [email.upper()])
        except NotFoundError:
            # Only a team deleted in PagerDuty (and synced) may have lost its entity.
            assert entity not in self.oracle.synced.derived, entity
        self.oracle.manual[entity].discard(email)

    # --- syncs and searches -----------------------------------------------------------------

    @rule()
    def do_sync(self) -> None:
        STATS["steps"] += 1
        STATS["syncs"] += 1
        self._sync(self.connector_id, self.app)
        self.oracle.synced = snapshot(self.account, self.app.state.simulator.abilities)
        # Manual grants on an entity that no longer exists grant nothing (no document names it).
        self._check_index_and_entities()

    def _sync(self, connector_id: str, app: Any) -> None:
        assert self.store is not None
        assert self.index is not None
        service = SyncService(self.store, self.index, transport=httpx.ASGITransport(app=app),
                              embedder=Embedder.load())
        job = asyncio.run(service.run(connector_id))
        assert job.status == "succeeded", job.error

    def _check_index_and_entities(self) -> None:
        assert self.store is not None
        assert self.index is not None
        for connector_id, synced in ((self.connector_id, self.oracle.synced),
                                     (self.oracle.twin_id, self.oracle.twin)):
            docs, total = self.index.list(connector_id, 0, 10_000)
            assert total == len(docs)
            assert {d.id for d in docs} == set(synced.docs)
            # Each sync left every document with its meaning vector.
            assert self.index.missing_vectors(connector_id, Embedder.load().model_id) == []
            for doc in docs:
                assert doc.sys_racl, doc.id
                assert doc.sys_racl[0] == SUBDOMAIN, (doc.id, doc.sys_racl)
                assert set(doc.sys_racl[1:]) == synced.docs[doc.id], (doc.id, doc.sys_racl)
        for entity_id, derived in self.oracle.synced.derived.items():
            record = self.store.entities.get(self.connector_id, entity_id)
            assert record is not None, entity_id
            manual = self.oracle.manual.get(entity_id, set())
            assert set(record.manual_user_ids) == manual, entity_id
            assert set(record.user_ids) == derived | manual, entity_id

    def _users(self) -> list[str]:
        return sorted({u["email"] for u in self.account.users.values()}
                      | {STRANGER, "", "   ", "*", SUBDOMAIN})

    @rule(data=st.data())
    def query(self, data: st.DataObject) -> None:
        STATS["steps"] += 1
        STATS["queries"] += 1
        assert self.store is not None
        assert self.index is not None
        words = sorted(
            {w for kind in ("teams", "schedules", "escalation_policies", "users")
             for obj in getattr(self.account, kind).values()
             for w in str(obj.get("name", "")).split()}
            | set(self.account.teams)
        )
        vocab = st.sampled_from(words) | st.sampled_from(JUNK)
        query = data.draw(
            st.lists(vocab, min_size=1, max_size=3).map(" ".join)
            | st.text(max_size=12)
            | st.builds(lambda w: f'"{w}', vocab)
            | st.builds(lambda w: f"{w[:3]}*", st.sampled_from(words))
            | st.sampled_from(QUESTIONS),
            label="query",
        )
        size = data.draw(st.integers(1, 7), label="page size")
        self._check_query(query, size)

    def _check_query(self, query: str, size: int) -> None:
        assert self.store is not None
        assert self.index is not None
        everything = all_seeing(self.index, query, self.oracle.every_grant())
        for user in self._users():
            visible = self.oracle.visible(user)
            total, ids = page_through(self.index, self.store, query, user, size)
            assert len(ids) == len(set(ids)), (query, user, "a document came twice")
            assert total == len(ids), (query, user, total, ids)
            assert set(ids) <= visible, (query, user, set(ids) - visible)
            # Every visible document holding every word is there; meaning may add more (all
            # visible), and may stand in for documents holding only some words.
            assert everything & visible <= set(ids), (query, user)

    # --- after every step -------------------------------------------------------------------

    @invariant()
    def browsing_shows_exactly_what_the_oracle_allows(self) -> None:
        if self.store is None or self.index is None:
            return
        for user in self._users():
            visible = self.oracle.visible(user)
            total, ids = page_through(self.index, self.store, "", user, 5)
            assert total == len(ids) == len(set(ids)), (user, total, ids)
            assert set(ids) == visible, (user, set(ids) ^ visible)
            # A document with no team is the account's alone: never a plain user's.
            if SUBDOMAIN not in self.oracle.entities(user):
                lone = {(self.connector_id, d)
                        for d, teams in self.oracle.synced.docs.items() if not teams}
                assert not set(ids) & lone, (user, set(ids) & lone)
        # A few queries after every step too (the query rule may be drawn seldom).
        names = sorted(str(t.get("name", "")) for t in self.account.teams.values())
        for query in (*names[:1], "schedule", '"NEAR(* OR sys_racl:*', QUESTIONS[0]):
            self._check_query(query, 3)


AccessMachine.TestCase.settings = settings(
    max_examples=25,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


@pytest.mark.slow
@pytest.mark.timeout(1200)  # semantic search on: every sync embeds what changed
def test_access_is_what_the_oracle_says() -> None:
    AccessMachine.TestCase().runTest()
    print(f"access property: {STATS}")  # -s shows the figures for docs/RELIABILITY.md
    assert STATS["examples"] >= 25
    assert STATS["syncs"] > STATS["examples"]
