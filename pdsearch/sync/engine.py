"""The full sync: identity, then content, then (only after a complete listing) the sweep.

A full sync is mark-and-sweep (DESIGN.md 3.6), between a source and a sink:

1. identity: the source's people and groups become the sink's permission entities, replaced on
   every sync, so a user removed from a team loses access;
2. content: the source reads every object and maps it to a document; only documents whose
   content hash changed are written, in batches, so a canceled sync leaves whole batches;
3. the sweep: documents the source no longer has are deleted, but only when every listing
   completed and the job was not canceled, and each only once the source confirmed its object
   is gone (paged listings can miss an object edited meanwhile). A failed listing deletes
   nothing.
4. meaning vectors, when the engine is told their model: the meaning texts of the documents
   without one for their content go back in the result (``to_embed``), computed after the job
   (``vectors.py``).

The engine knows neither HTTP nor SQL: only ``Source`` and ``Sink``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence

from pdsearch.index.base import Document
from pdsearch.sync.concurrency import all_or_first_error, in_thread
from pdsearch.sync.progress import (
    CANCELED,
    FAILED,
    SUCCEEDED,
    JobControl,
    JobResult,
    ProgressCallback,
    SyncCanceled,
    SyncCounts,
)
from pdsearch.sync.sink import Sink
from pdsearch.sync.source import Mapped, Source, SourceError
from pdsearch.sync.vectors import wanted

log = logging.getLogger(__name__)

#: Documents written per sink call; a cancel takes effect between batches.
BATCH_SIZE = 200
#: Deletions confirmed with the source at once.
CONFIRM_CONCURRENCY = 8

async def full_sync(
    source: Source,
    sink: Sink,
    *,
    cancel: asyncio.Event | None = None,
    on_progress: ProgressCallback | None = None,
    progress_interval: float = 0.5,
    vectors_model: str | None = None,
) -> JobResult:
    """Run one full sync from ``source`` into ``sink`` and return its result.

    Never raises for source errors or a cancel: they become a ``failed`` or ``canceled``
    result. ``asyncio.CancelledError`` (the task itself canceled) propagates after the sink has
    been left consistent, so the caller can record the job as canceled. ``on_progress`` is
    called on every phase change and at most every ``progress_interval`` seconds otherwise.
    ``vectors_model``: hand back the meaning texts of the documents without a vector of that
    model (None: keyword search only).
    """
    job = JobControl(cancel, on_progress, progress_interval)
    started = time.monotonic()
    requests_before = source.requests_made
    status, error, swept = SUCCEEDED, None, False
    cause: BaseException | None = None
    to_embed: dict[str, str] = {}
    try:
        job.check()  # canceled while still queued
        identity = await source.read_identity(job)
        await in_thread(job, sink.replace_entities, identity)
        mapping = await source.read_documents(job)
        # Mapping and writes are CPU and disk work: a worker thread keeps the event loop (the
        # web service, other syncs) responsive. Cancel is still seen between batches.
        seen, meanings = await in_thread(job, _write_changed, sink, mapping, job)
        job.check()
        await _keep_what_still_exists(source, sink, seen, job)
        await in_thread(job, _sweep, sink, seen, job)
        swept = True
        if vectors_model is not None:
            to_embed = wanted(await in_thread(job, sink.missing_vectors, vectors_model), meanings)
    except SyncCanceled:
        status, error = CANCELED, "The sync was canceled. Nothing was deleted."
    except SourceError as exc:
        status, cause = FAILED, exc.__cause__
        error = read_failure(exc, job)
    finally:
        job.reporter.flush()
    result = job_result(job, status, error, swept, cause,
                        source.requests_made - requests_before, started, to_embed)
    log.info("sync %s: %s, %d requests", status, result.counts.as_dict(), result.requests)
    return result


def read_failure(exc: SourceError, job: JobControl) -> str:
    """A failed read's error for the job: nothing was deleted, and a failure after indexing
    (confirming deletions) leaves the changes it wrote: say so."""
    written = job.counts.added + job.counts.updated
    kept = (f"the {written} changed documents read before it were written" if written
            else "the index keeps its previous documents")
    return f"{exc} Nothing was deleted; {kept}."


def job_result(job: JobControl, status: str, error: str | None, swept: bool,
               cause: BaseException | None, requests: int, started: float,
               to_embed: dict[str, str]) -> JobResult:
    """What a sync (full or incremental) reports once it ended."""
    return JobResult(
        status=status,
        counts=job.counts,
        failures=job.failures,
        requests=requests,
        duration_seconds=time.monotonic() - started,
        error=error,
        swept=swept,
        cause=cause,
        to_embed=to_embed if status == SUCCEEDED else {},
    )


def _write_changed(
    sink: Sink, mapping: Callable[[], Sequence[Mapped]], job: JobControl
) -> tuple[set[str], dict[str, str]]:
    """Map, then write what changed, batch by batch; return every document id the source
    still has (a failed object too: it must not be swept) and each document's meaning text."""
    mapped = mapping()
    job.reporter.phase("indexing", total=len(mapped))
    existing = sink.hashes()
    seen: set[str] = set()
    meanings: dict[str, str] = {}
    batch: list[Document] = []
    pending = SyncCounts()
    for item in mapped:
        seen.add(item.doc_id)
        if item.document is None:
            job.fail(item.doc_id, item.reason or "could not be read")
            job.reporter.advance()
            continue
        meanings[item.doc_id] = item.document.meaning
        old_hash = existing.get(item.doc_id)
        if old_hash == item.document.content_hash:
            job.counts.unchanged += 1
            job.reporter.advance()
            continue
        batch.append(item.document)
        if old_hash is None:
            pending.added += 1
        else:
            pending.updated += 1
        if len(batch) >= BATCH_SIZE:
            _write_batch(sink, batch, pending, job)
            batch, pending = [], SyncCounts()
    _write_batch(sink, batch, pending, job)
    return seen, meanings


def _write_batch(sink: Sink, batch: list[Document], pending: SyncCounts, job: JobControl) -> None:
    """One batch goes in whole; counts move only once it did, so they match the index."""
    job.check()
    if not batch:
        return
    sink.write(batch)
    job.counts.added += pending.added
    job.counts.updated += pending.updated
    job.reporter.advance(len(batch))


async def _keep_what_still_exists(
    source: Source, sink: Sink, seen: set[str], job: JobControl
) -> None:
    """Delete a document only once the source confirms its object is gone.

    Offset paging over a name-sorted listing is no snapshot: an object deleted or renamed (by
    another admin) while the listing is paged shifts the pages, and an object that still exists
    can then be served by no page at all. Each sweep candidate is confirmed with the source (a
    GET by id: 404 = gone); one that still exists is kept, reported as a failure of this sync,
    and read again by the next. A confirmation that fails fails the job, so nothing is deleted.
    """
    candidates = await in_thread(job, lambda: sorted(set(sink.hashes()) - seen))
    if not candidates:
        return
    job.reporter.phase("deleting", total=len(candidates))
    gate = asyncio.Semaphore(CONFIRM_CONCURRENCY)

    async def confirm(doc_id: str) -> None:
        async with gate:
            job.check()
            alive = await source.exists(doc_id)
        if alive:
            seen.add(doc_id)
            log.warning("%s was missing from the listing but still exists; kept", doc_id)
            job.fail(doc_id, "missing from the listing although it still exists (the account "
                     "changed during the sync); kept, and read again by the next sync")

    await all_or_first_error(*(confirm(doc_id) for doc_id in candidates))


def _sweep(sink: Sink, seen: set[str], job: JobControl) -> None:
    job.check()  # the last moment a cancel can stop deletions
    gone = sorted(set(sink.hashes()) - seen)
    job.reporter.phase("deleting", total=len(gone))
    if gone:
        sink.delete(gone)
    job.counts.deleted = len(gone)
    job.reporter.advance(len(gone))
