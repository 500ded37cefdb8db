"""Meaning vectors during a sync: computed for new and changed documents only, none when
nothing changed, and those missing after semantic search was off computed by the next sync
without rewriting any document. Runs the real model on the simulator's tiny account."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from pdsearch.index.base import Grant
from pdsearch.semantic import Embedder
from pdsearch.simulator.app import create_app
from pdsearch.simulator.config import SimulatorConfig
from pdsearch.simulator.server import build_account


class CountingEmbedder:
    """The real model, counting the texts it is asked to embed."""

    def __init__(self, model: Embedder) -> None:
        self.model = model
        self.texts: list[str] = []

    @property
    def model_id(self) -> str:
        return self.model.model_id

    def embed_documents(self, texts: Sequence[str], batch_size: int = 32
                        ) -> npt.NDArray[np.float32]:
        self.texts.extend(texts)
        return self.model.embed_documents(texts, batch_size=batch_size)


@pytest.fixture(scope="module")
def model() -> Embedder:
    return Embedder.load()


@pytest.fixture
def tiny_sim() -> Any:
    config = SimulatorConfig.for_scale("tiny", api_key="tiny-test-key", seed=11)
    return create_app(build_account(config), config).state.simulator


async def test_vectors_follow_new_and_changed_documents_only(
    tiny_sim: Any, sync_env_factory: Callable[..., Any], model: Embedder
) -> None:
    embedder = CountingEmbedder(model)
    env = sync_env_factory(tiny_sim, embedder=embedder)
    job = await env.service.run(env.connector_id)
    assert job.status == "succeeded", job.error
    count = env.index.count(env.connector_id)
    assert count > 0
    assert len(embedder.texts) == count
    assert env.index.missing_vectors(env.connector_id, model.model_id) == []
    assert env.index.vector_count(env.connector_id) == count
    # What is embedded is the meaning text: the title, no e-mail addresses.
    docs, _ = env.index.list(env.connector_id, 0, 1000)
    assert all("@" not in text for text in embedder.texts)
    assert all(any(t.startswith(d.title) for t in embedder.texts) for d in docs)

    # Nothing changed: nothing embedded.
    embedder.texts.clear()
    job = await env.service.run(env.connector_id)
    assert job.status == "succeeded"
    assert job.counts["unchanged"] == count
    assert embedder.texts == []

    # One policy changes: only its document is embedded again.
    policy_id = sorted(tiny_sim.account.escalation_policies)[0]
    async with env.pd() as pd:
        answer = await pd.put(f"/escalation_policies/{policy_id}", json={
            "escalation_policy": {"description": "Wakes whoever keeps the lights on"}})
        assert answer.status_code == 200, answer.text
    job = await env.service.run(env.connector_id)
    assert job.status == "succeeded"
    assert job.counts["updated"] == 1
    assert len(embedder.texts) == 1
    assert "keeps the lights on" in embedder.texts[0]
    assert env.index.missing_vectors(env.connector_id, model.model_id) == []


async def test_vectors_missing_after_semantic_was_off_come_with_the_next_sync(
    tiny_sim: Any, sync_env_factory: Callable[..., Any], model: Embedder
) -> None:
    env = sync_env_factory(tiny_sim)  # semantic search off: no embedder
    job = await env.service.run(env.connector_id)
    assert job.status == "succeeded", job.error
    count = env.index.count(env.connector_id)
    assert env.index.vector_count() == 0
    assert env.index.nearest(model.embed_query("payments"), {Grant(env.connector_id, "x")}, 3) \
        == []

    embedder = CountingEmbedder(model)
    env.service.embedder = embedder  # turned on again
    job = await env.service.run(env.connector_id)
    assert job.status == "succeeded"
    # No document was rewritten; only the vectors were computed.
    assert job.counts["unchanged"] == count
    assert job.counts["added"] == 0
    assert len(embedder.texts) == count
    assert env.index.vector_count(env.connector_id) == count


async def test_documents_say_what_their_teams_and_services_do(sync_env: Any) -> None:
    account = sync_env.sim.account
    job = await sync_env.service.run(sync_env.connector_id)
    assert job.status == "succeeded", job.error
    served = {s["escalation_policy"]["id"]: s for s in account.services.values()
              if s.get("escalation_policy") and s.get("description")}
    policy_id, service = sorted(served.items())[0]
    doc = sync_env.index.get(sync_env.connector_id, f"escalation_policy:{policy_id}")
    purpose = service["description"].removeprefix("The service that ").split(",")[0]
    assert purpose in doc.content
    team = next(account.teams[t["id"]] for t in account.escalation_policies[policy_id]["teams"])
    does = team["description"].removeprefix(f"The {team['name']} team ").rstrip(".")
    assert f"What the team does: {does}" in doc.content
