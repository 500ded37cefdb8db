"""The paraphrase set over a simulated account: documents' meaning texts, and Recall@k.

A document is a policy or schedule of the simulated account as the sync maps it
(``pdsearch.documents``), embedded from its ``meaning``: its title, its teams (name,
description), its services (name, description) and its description. A question
(tests/data/semantic/paraphrases.json) names the team themes that answer it; it is found when
any of the top k documents belongs to a team of one of those themes. Questions whose themes have
no team in the account are left out (the demo account has 12 of the 40 themes).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from benchmarks.search_bench import base_documents
from pdsearch.index.base import Document
from pdsearch.simulator.account import Account
from pdsearch.simulator.names import THEMES

PARAPHRASES = Path(__file__).resolve().parent.parent / "tests" / "data" / "semantic" / \
    "paraphrases.json"
# Longest first, so "Data Platform Core" is Data Platform, not Platform.
_THEME_NAMES = sorted((base for base, _, _ in THEMES), key=len, reverse=True)


@dataclass(frozen=True)
class EvalDocument:
    id: str
    themes: frozenset[str]
    text: str


@dataclass(frozen=True)
class Paraphrase:
    question: str
    themes: frozenset[str]


@dataclass(frozen=True)
class Recall:
    recall: float
    asked: int
    found: int
    missed: list[str]


def theme_of(team_name: str) -> str | None:
    """The theme (team base name) a simulated team is named after."""
    for base in _THEME_NAMES:
        if team_name == base or team_name.startswith(base + " "):
            return base
    return None


def document_themes(account: Account, docs: Sequence[Document]) -> dict[str, frozenset[str]]:
    """Document id -> the themes of its teams (``sys_racl``: the subdomain, then team ids)."""
    team_names = {t["id"]: t["name"] for t in account.teams.values()}
    return {d.id: frozenset(x for e in d.sys_racl[1:] if (x := theme_of(team_names.get(e, ""))))
            for d in docs}


def account_documents(account: Account) -> list[EvalDocument]:
    """Every policy and schedule of ``account`` with the meaning text the sync embeds and its
    teams' themes."""
    docs = base_documents(account, "eval", services=True)
    themes = document_themes(account, docs)
    return [EvalDocument(d.id, themes[d.id], d.meaning) for d in docs]


def load_paraphrases(path: Path = PARAPHRASES) -> list[Paraphrase]:
    return [Paraphrase(item["question"], frozenset(item["themes"]))
            for item in json.loads(path.read_text(encoding="utf-8"))]


def answerable(questions: Sequence[Paraphrase], docs: Sequence[EvalDocument]
               ) -> list[Paraphrase]:
    present = frozenset().union(*(d.themes for d in docs))
    return [q for q in questions if q.themes & present]


def recall_at_k(doc_vectors: npt.NDArray[np.float32], docs: Sequence[EvalDocument],
                query_vectors: npt.NDArray[np.float32], questions: Sequence[Paraphrase],
                k: int = 3) -> Recall:
    """Share of ``questions`` with a right document among the k of highest cosine similarity
    (the vectors are normalised, so the dot product)."""
    scores = query_vectors @ doc_vectors.T
    found, missed = 0, []
    for row, question in zip(scores, questions, strict=True):
        top = np.argsort(-row, kind="stable")[:k]
        if any(docs[i].themes & question.themes for i in top):
            found += 1
        else:
            missed.append(question.question)
    return Recall(found / len(questions) if questions else float("nan"), len(questions), found,
                  missed)
