"""The paraphrase set over a simulated account: documents' meaning texts, and Recall@k.

A document is a policy or schedule of the simulated account, embedded as
``pdsearch.semantic.meaning_text`` of its title, its teams (name, description), its services
(name, description) and its description. A policy's services are those PagerDuty lists on it;
a schedule's are those of the policies that page it. A question (tests/data/semantic/
paraphrases.json) names the team themes that answer it; it is found when any of the top k
documents belongs to a team of one of those themes. Questions whose themes have no team in the
account are left out (the demo account has 12 of the 40 themes).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from pdsearch.semantic import meaning_text
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


def account_documents(account: Account) -> list[EvalDocument]:
    """Every policy and schedule of ``account`` with its meaning text and its teams' themes."""
    teams = account.teams
    services_of: dict[str, list[tuple[str, str]]] = {}
    for service in account.services.values():
        policy = service.get("escalation_policy") or {}
        services_of.setdefault(policy.get("id", ""), []).append(
            (service["name"], service.get("description") or ""))
    policies_of: dict[str, list[str]] = {}
    for policy_id, policy in account.escalation_policies.items():
        for rule in policy.get("escalation_rules", []):
            for target in rule.get("targets", []):
                if "schedule" in target["type"]:
                    policies_of.setdefault(target["id"], []).append(policy_id)

    def document(doc_id: str, obj: dict[str, Any], services: list[tuple[str, str]]
                 ) -> EvalDocument:
        team_list = [teams[ref["id"]] for ref in obj.get("teams", []) if ref["id"] in teams]
        text = meaning_text(obj["name"], [(t["name"], t.get("description")) for t in team_list],
                            services, obj.get("description"))
        themes = frozenset(filter(None, (theme_of(t["name"]) for t in team_list)))
        return EvalDocument(doc_id, themes, text)

    docs = [document(f"escalation_policy:{pid}", p, services_of.get(pid, []))
            for pid, p in account.escalation_policies.items()]
    for sid, schedule in account.schedules.items():
        services = [s for pid in dict.fromkeys(policies_of.get(sid, []))
                    for s in services_of.get(pid, [])]
        docs.append(document(f"schedule:{sid}", schedule, services))
    return docs


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
