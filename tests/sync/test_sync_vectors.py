"""Meaning vectors during a sync: computed for new and changed documents only, none when
nothing changed, and those missing after semantic search was off computed by the next sync
without rewriting any document. Runs the real model on the simulator's tiny account."""

from __future__ import annotations

import asyncio
import threading
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
from pdsearch.sync import vectors


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


class GatedEmbedder(CountingEmbedder):
    """The real model, each batch waiting for a permit while ``gated`` (to catch the follow-up
    in the middle)."""

    def __init__(self, model: Embedder) -> None:
        super().__init__(model)
        self.permits = threading.Semaphore(0)
        self.gated = True
        self.batches = 0

    def embed_documents(self, texts: Sequence[str], batch_size: int = 32
                        ) -> npt.NDArray[np.float32]:
        if self.gated and not self.permits.acquire(timeout=30):
            raise TimeoutError("the test never let this batch through")
        self.batches += 1
        return super().embed_documents(texts, batch_size)


async def _finished(env: Any, job_id: str) -> Any:
    for _ in range(600):
        job = env.store.jobs.get(job_id)
        if job.status in ("succeeded", "failed", "canceled"):
            return job
        await asyncio.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish")


async def test_the_job_ends_before_its_vectors_which_follow_it(
    tiny_sim: Any, sync_env_factory: Callable[..., Any], model: Embedder
) -> None:
    """The sync's wall time is its reads and writes: the job is recorded succeeded, and its
    documents are searchable by keyword, while the vectors are still being computed."""
    embedder = GatedEmbedder(model)
    env = sync_env_factory(tiny_sim, embedder=embedder)
    job = await _finished(env, await env.service.start(env.connector_id))
    assert job.status == "succeeded", job.error
    count = env.index.count(env.connector_id)
    assert count > 0
    assert job.progress["vectors"] == {"total": count, "done": 0, "state": "computing"}
    assert len(env.index.missing_vectors(env.connector_id, model.model_id)) == count
    title = env.index.list(env.connector_id, 0, 1)[0][0].title
    found = env.index.search(f'"{title}"', {Grant(env.connector_id, tiny_sim.account.subdomain)})
    assert any(h.title == title for h in found.hits)  # by keyword at once

    embedder.gated = False
    embedder.permits.release()
    settled = await env.service.vectors.settle(env.connector_id)
    assert settled is not None
    assert settled.progress["vectors"] == {"total": count, "done": count, "state": "done"}
    assert env.store.jobs.get(job.id).progress["vectors"]["state"] == "done"
    assert env.index.missing_vectors(env.connector_id, model.model_id) == []


async def test_the_next_sync_stops_the_follow_up_and_computes_the_rest(
    tiny_sim: Any, sync_env_factory: Callable[..., Any], model: Embedder,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A sync never writes beside a follow-up (no vector of an old text on a rewritten
    document): the follow-up stops after its batch, says so, and the next one finishes."""
    monkeypatch.setattr(vectors, "EMBED_BATCH", 2)
    embedder = GatedEmbedder(model)
    env = sync_env_factory(tiny_sim, embedder=embedder)
    first = await _finished(env, await env.service.start(env.connector_id))
    assert first.status == "succeeded", first.error
    count = env.index.count(env.connector_id)
    assert count > 3 * 2  # several batches
    embedder.permits.release()  # one batch through; the next waits

    second = asyncio.create_task(env.service.run(env.connector_id))
    for _ in range(600):  # let batches through until the follow-up stopped
        state = env.store.jobs.get(first.id).progress["vectors"]["state"]
        if state != "computing":
            break
        embedder.permits.release()
        await asyncio.sleep(0.05)
    stopped = env.store.jobs.get(first.id).progress["vectors"]
    assert stopped["state"] == "stopped"
    assert 0 < stopped["done"] < count
    embedder.gated = False
    embedder.permits.release()
    job = await second
    assert job.status == "succeeded", job.error
    assert job.progress["vectors"] == {"total": count - stopped["done"],
                                       "done": count - stopped["done"], "state": "done"}
    assert env.index.missing_vectors(env.connector_id, model.model_id) == []
