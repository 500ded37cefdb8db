"""Meaning vectors during a sync: for documents that have none for their current content.

The engine is given an embedder (anything with ``model_id`` and ``embed_documents``; the sync
knows no model) and asks the sink which of its documents lack a vector of that model: those
the sync just added or changed (writing a document drops the vector of its old content) and
any left without one before (semantic search was off, a sync was canceled, the model
changed). Nothing changed and nothing missing means nothing is embedded.

Embedding runs in a worker thread, batch by batch (each batch stored as it is done, so a
canceled sync keeps what it computed), while the engine confirms deletions with PagerDuty.
A failure to embed is logged and leaves keyword search whole: the next sync tries again.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from typing import Any, Final, Protocol

from pdsearch.sync.progress import JobControl, SyncCanceled
from pdsearch.sync.sink import Sink

log = logging.getLogger(__name__)

#: Documents embedded (and stored) per batch; a cancel takes effect between batches.
EMBED_BATCH: Final = 128


class Embeds(Protocol):
    """What the sync needs of an embedding model (``pdsearch.semantic.Embedder`` is one)."""

    @property
    def model_id(self) -> str: ...

    def embed_documents(self, texts: Sequence[str], batch_size: int = 32) -> Any:
        """One vector per text, in order (a float32 array of shape (n, dim))."""
        ...


def embed_missing(sink: Sink, embedder: Embeds, meanings: Mapping[str, str], job: JobControl,
                  stop: threading.Event) -> int:
    """Embed and store the vectors ``sink`` lacks, for documents of this sync (``meanings``:
    document id → its meaning text). Returns how many were stored."""
    model_id = embedder.model_id
    wanted = [doc_id for doc_id in sink.missing_vectors(model_id) if meanings.get(doc_id)]
    if not wanted:
        return 0
    log.info("embedding %d documents (%s)", len(wanted), model_id)
    stored = 0
    try:
        for start in range(0, len(wanted), EMBED_BATCH):
            if stop.is_set():
                break
            job.check()
            ids = wanted[start:start + EMBED_BATCH]
            vectors = embedder.embed_documents([meanings[i] for i in ids])
            stored += sink.store_vectors(list(zip(ids, vectors, strict=True)), model_id)
    except SyncCanceled:
        raise
    except Exception:
        # Keyword search is whole without vectors; the next sync computes what is missing.
        log.exception("computing meaning vectors failed after %d of %d", stored, len(wanted))
    return stored
