"""The incremental sync: what changed since the last sync, written between a source and a sink.

1. changes: the source reads what changed (``IncrementalSource.read_changes``); when it cannot
   (no cursor yet, too old a cursor, an audit trail it may not read) it raises
   ``FullSyncNeeded`` before anything is written, and the caller runs a full sync instead;
2. identity, when people or teams changed: the sink's entities are replaced as a full sync
   would (a member removed from a team loses access now);
3. content, when anything changed: the documents that show something changed are made again
   from what the source knows (``IncrementalSource.mapping``), and only those whose content
   hash changed are written (a user renamed re-renders every document naming them);
4. deletions: documents the source no longer has are deleted; those whose objects the source
   confirmed gone are deleted as they are, any other is confirmed first (as in a full sync).

Nothing changed: one read of the audit trail, and nothing else.
"""

from __future__ import annotations

import asyncio
import logging
import time

from pdsearch.sync.concurrency import in_thread
from pdsearch.sync.engine import (
    _keep_what_still_exists,
    _sweep,
    _write_changed,
    job_result,
    read_failure,
)
from pdsearch.sync.progress import (
    CANCELED,
    FAILED,
    SUCCEEDED,
    JobControl,
    JobResult,
    ProgressCallback,
    SyncCanceled,
)
from pdsearch.sync.sink import Sink
from pdsearch.sync.source import IncrementalSource, SourceError
from pdsearch.sync.vectors import wanted

log = logging.getLogger(__name__)


async def incremental_sync(
    source: IncrementalSource,
    sink: Sink,
    *,
    cancel: asyncio.Event | None = None,
    on_progress: ProgressCallback | None = None,
    progress_interval: float = 0.5,
    vectors_model: str | None = None,
) -> JobResult:
    """Run one incremental sync and return its result; ``FullSyncNeeded`` propagates (raised
    before any write). Failures and cancels become the result, as in ``full_sync``.
    ``vectors_model``: hand back the meaning texts of the documents without a vector of that
    model (those made again, and any left without one), as ``full_sync`` does."""
    job = JobControl(cancel, on_progress, progress_interval)
    started = time.monotonic()
    requests_before = source.requests_made
    status, error, swept = SUCCEEDED, None, False
    cause: BaseException | None = None
    to_embed: dict[str, str] = {}
    try:
        job.check()
        changes = await source.read_changes(job)
        if changes.identity:
            job.reporter.phase("identity")
            await in_thread(job, sink.replace_entities, source.identity())
        if changes.documents:
            mapped, meanings = await in_thread(job, _write_changed, sink, source.mapping(), job)
            everything = source.document_ids()
            job.counts.unchanged += len(everything - mapped)  # not even made again
            job.check()
            await _confirm_and_sweep(source, sink, mapped | everything, changes.gone, job)
        else:  # every document stays as it is, as a full sync would count them
            job.counts.unchanged = len(await in_thread(job, sink.hashes))
            meanings = {}
        swept = True
        if vectors_model is not None:
            to_embed = await _to_embed(source, sink, vectors_model, meanings, job)
    except SyncCanceled:
        status, error = CANCELED, "The sync was canceled. Nothing was deleted."
    except SourceError as exc:
        status, cause = FAILED, exc.__cause__
        error = read_failure(exc, job)
    finally:
        job.reporter.flush()
    result = job_result(job, status, error, swept, cause,
                        source.requests_made - requests_before, started, to_embed)
    log.info("incremental sync %s: %s, %d requests", status, result.counts.as_dict(),
             result.requests)
    return result


async def _confirm_and_sweep(
    source: IncrementalSource, sink: Sink, seen: set[str], gone: frozenset[str], job: JobControl
) -> None:
    """Delete what the source no longer has: confirmed gone already, or confirmed now."""
    # The confirmed ones count as seen while the others are asked about, then they go.
    keep = seen | gone
    await _keep_what_still_exists(source, sink, keep, job)  # adds what still exists
    await in_thread(job, _sweep, sink, keep - gone, job)


async def _to_embed(source: IncrementalSource, sink: Sink, model_id: str,
                    meanings: dict[str, str], job: JobControl) -> dict[str, str]:
    """The meaning texts of the documents without a vector: those made again, and any left
    without one (semantic search was off), made from the kept account (nothing is read from
    PagerDuty)."""
    missing = await in_thread(job, sink.missing_vectors, model_id)
    if set(missing) - meanings.keys():
        meanings = {**meanings, **await source.meanings_for(job, set(missing) - meanings.keys())}
    return wanted(missing, meanings)
