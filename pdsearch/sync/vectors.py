"""Meaning vectors after a sync: the job ends when its documents are written, vectors follow.

Embedding is the slow part of a first sync (all-MiniLM-L6-v2 manages some 110-190 documents a
second on two cores, docs/SEMANTIC.md, so 4,000 documents take 20-40 s against the 7 s of
reading them). A sync therefore ends, and its documents are searchable by keyword, as soon as
they are written; the engine hands back the meaning texts of the documents that lack a vector
of the model (``JobResult.to_embed``: those the sync added or changed, and any left without one
before: semantic search was off, a follow-up was stopped, the model changed), and a
``VectorFollower`` computes them in a worker thread, batch by batch, each batch stored as it is
done. Hybrid search ranks a document without a vector by its words alone meanwhile.

The follow-up is shown in its job's record (``progress.vectors``: total, done, state). The next
sync of the connector, removing it, or stopping the service stops the follow-up first, at the
end of its current batch, so no vector of an old text lands on a rewritten document; what was
not computed is computed after the next sync. A failure to embed is logged and leaves keyword
search whole. Nothing changed and nothing missing: nothing is embedded.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from pdsearch.index.base import SearchIndex, VectorIndex
from pdsearch.store import JobRepository, StoreError
from pdsearch.store.records import Job
from pdsearch.sync.progress import Progress, ProgressCallback

log = logging.getLogger(__name__)

#: Documents embedded (and stored) per batch; a stop takes effect between batches.
EMBED_BATCH: Final = 128
#: The job record's ``progress.vectors`` is rewritten at most this often while computing.
REPORT_SECONDS: Final = 1.0

COMPUTING: Final = "computing"
DONE: Final = "done"
STOPPED: Final = "stopped"
FAILED: Final = "failed"


class Embeds(Protocol):
    """What the sync needs of an embedding model (``pdsearch.semantic.Embedder`` is one)."""

    @property
    def model_id(self) -> str: ...

    def embed_documents(self, texts: Sequence[str], batch_size: int = 32) -> Any:
        """One vector per text, in order (a float32 array of shape (n, dim))."""
        ...


@dataclass
class _FollowUp:
    job: Job
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None
    watchers: list[ProgressCallback] = field(default_factory=list)


class VectorFollower:
    """Computes, after each sync, the vectors its documents lack: one follow-up per connector."""

    def __init__(self, index: SearchIndex, jobs: JobRepository) -> None:
        self.index = index
        self.jobs = jobs
        self._running: dict[str, _FollowUp] = {}  # by connector id

    def follow(self, job: Job, embedder: Embeds, texts: Mapping[str, str]) -> None:
        """Start computing the vectors of ``texts`` (document id → meaning text) for ``job``'s
        connector. Call it from the event loop, with no follow-up of the connector running
        (``stop`` first)."""
        if not self.will_follow(texts):
            return
        follow_up = _FollowUp(job)
        self._running[job.connector_id] = follow_up
        follow_up.task = asyncio.create_task(
            self._run(follow_up, embedder, dict(texts)), name=f"vectors-{job.id}")

    def will_follow(self, texts: Mapping[str, str]) -> bool:
        """Whether ``follow`` computes anything for these texts."""
        return bool(texts) and isinstance(self.index, VectorIndex)

    async def settle(self, connector_id: str, on_progress: ProgressCallback | None = None
                     ) -> Job | None:
        """Wait until the connector's follow-up ends; its job record then, or None when none
        ran. ``on_progress`` hears of each batch (a phase called ``embedding``). Canceling the
        caller stops the follow-up (at the end of its batch) and is raised on."""
        follow_up = self._running.get(connector_id)
        if follow_up is None or follow_up.task is None:
            return None
        if on_progress is not None:
            follow_up.watchers.append(on_progress)
        try:
            await asyncio.shield(follow_up.task)
        except asyncio.CancelledError:
            await self.stop(connector_id)
            raise
        return follow_up.job

    async def stop(self, connector_id: str) -> None:
        """Stop the connector's follow-up at the end of its current batch and wait for it."""
        follow_up = self._running.get(connector_id)
        if follow_up is None or follow_up.task is None:
            return
        follow_up.stop.set()
        await asyncio.gather(follow_up.task, return_exceptions=True)

    async def shutdown(self) -> None:
        for connector_id in list(self._running):
            await self.stop(connector_id)

    def is_running(self, connector_id: str) -> bool:
        return connector_id in self._running

    async def _run(self, follow_up: _FollowUp, embedder: Embeds, texts: dict[str, str]) -> None:
        index, connector_id = self.index, follow_up.job.connector_id
        if not isinstance(index, VectorIndex):  # checked by follow(); for the type checker
            return
        # Shortest first, so each batch holds texts of about one length and the model computes
        # little padding: in the order of their ids the large account's 4,000 texts embedded at
        # 79 documents/s, by length at 113 (two cores).
        ids = sorted(texts, key=lambda doc_id: (len(texts[doc_id]), doc_id))
        done, state, last = 0, COMPUTING, 0.0
        log.info("computing %d meaning vectors (%s) after job %s", len(ids), embedder.model_id,
                 follow_up.job.id)
        self._report(follow_up, done, len(ids), state)
        try:
            for start in range(0, len(ids), EMBED_BATCH):
                if follow_up.stop.is_set():
                    state = STOPPED
                    break
                batch = ids[start:start + EMBED_BATCH]
                # A thread cannot be interrupted: shielded, so a canceled task still waits for
                # the batch it started and nothing is stored after the follow-up ended.
                done += await asyncio.shield(asyncio.to_thread(
                    _embed_and_store, index, connector_id, embedder, batch, texts))
                if time.monotonic() - last >= REPORT_SECONDS or start + EMBED_BATCH >= len(ids):
                    last = time.monotonic()
                    self._report(follow_up, done, len(ids), state)
            else:
                state = DONE
        except asyncio.CancelledError:
            state = STOPPED
            raise
        except Exception:
            # Keyword search is whole without vectors; the next sync computes what is missing.
            log.exception("computing meaning vectors failed after %d of %d", done, len(ids))
            state = FAILED
        finally:
            self._report(follow_up, done, len(ids), state)
            if self._running.get(connector_id) is follow_up:
                del self._running[connector_id]

    def _report(self, follow_up: _FollowUp, done: int, total: int, state: str) -> None:
        progress = dict(follow_up.job.progress) if isinstance(follow_up.job.progress, dict) else {}
        progress["vectors"] = {"total": total, "done": done, "state": state}
        try:
            follow_up.job = self.jobs.update(follow_up.job.id, progress=progress)
        except StoreError:  # the connector (and its jobs) was removed meanwhile
            log.info("job %s is gone; its vectors: %d of %d, %s", follow_up.job.id, done, total,
                     state)
        for watch in follow_up.watchers:
            watch(Progress(phase="embedding", done=done, total=total))


def _embed_and_store(index: VectorIndex, connector_id: str, embedder: Embeds,
                     ids: Sequence[str], texts: Mapping[str, str]) -> int:
    vectors = embedder.embed_documents([texts[i] for i in ids])
    return index.store_vectors([(connector_id, doc_id, vector)
                                for doc_id, vector in zip(ids, vectors, strict=True)],
                               model_id=embedder.model_id)


def pending(total: int) -> dict[str, Any]:
    """A job record's ``progress.vectors`` before the first batch."""
    return {"total": total, "done": 0, "state": COMPUTING}


def wanted(missing: Sequence[str], meanings: Mapping[str, str]) -> dict[str, str]:
    """The meaning texts of the ``missing`` documents (those that have one)."""
    return {doc_id: meanings[doc_id] for doc_id in missing if meanings.get(doc_id)}


__all__ = ["EMBED_BATCH", "Embeds", "VectorFollower", "pending", "wanted"]

