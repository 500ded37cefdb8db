"""Results, live progress and control of a sync job.

Plain values and one small control object: the engine and the source fill them, the service
writes them into the job record, the CLI draws them as a progress bar. Nothing here does I/O.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

#: Job states, as the job records and the REST API spell them.
QUEUED = "queued"
RUNNING = "running"
SUCCEEDED = "succeeded"
FAILED = "failed"
CANCELED = "canceled"
FINISHED_STATES = frozenset({SUCCEEDED, FAILED, CANCELED})

#: The phases a full sync goes through, in order.
PHASES = ("identity", "policies", "schedules", "indexing", "deleting")


@dataclass
class SyncCounts:
    """What a sync did to the index."""

    added: int = 0
    updated: int = 0
    deleted: int = 0
    unchanged: int = 0
    failed: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass(frozen=True)
class SyncFailure:
    """One object that could not be turned into a document, and why."""

    id: str
    reason: str

    def as_dict(self) -> dict[str, str]:
        return {"id": self.id, "reason": self.reason}


@dataclass
class Progress:
    """Where a running sync is: its phase and how far into it."""

    phase: str = "starting"
    done: int = 0
    total: int | None = None
    counts: SyncCounts = field(default_factory=SyncCounts)

    def as_dict(self) -> dict[str, Any]:
        return {
            "phase": self.phase,
            "done": self.done,
            "total": self.total,
            "counts": self.counts.as_dict(),
        }


ProgressCallback = Callable[[Progress], None]


@dataclass
class JobResult:
    """The outcome of one sync, ready to be written into its job record."""

    status: str
    counts: SyncCounts
    failures: list[SyncFailure]
    requests: int
    duration_seconds: float
    error: str | None = None
    #: True when the sweep ran; False when deletions were skipped (failure or cancel).
    swept: bool = False
    #: The PagerDuty error behind a failure, for callers that react to its kind (not serialized).
    cause: BaseException | None = field(default=None, repr=False, compare=False)
    #: Document id → meaning text of the documents still without a vector of the model asked
    #: for: computed after the job (``pdsearch.sync.vectors``; not serialized).
    to_embed: dict[str, str] = field(default_factory=dict, repr=False, compare=False)

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "counts": self.counts.as_dict(),
            "failures": [f.as_dict() for f in self.failures],
            "requests": self.requests,
            "duration_seconds": round(self.duration_seconds, 3),
            "error": self.error,
            "swept": self.swept,
        }


class ProgressReporter:
    """Hands progress to a sink at a sane rate: on every phase change, else at most every
    ``interval`` seconds, so a sync of thousands of objects does not write thousands of rows."""

    def __init__(self, sink: ProgressCallback | None, interval: float = 0.5) -> None:
        self._sink = sink
        self._interval = interval
        self._last = 0.0
        self.progress = Progress()

    def phase(self, name: str, total: int | None = None) -> None:
        self.progress.phase = name
        self.progress.done = 0
        self.progress.total = total
        self._emit(force=True)

    def advance(self, n: int = 1, total: int | None = None) -> None:
        self.progress.done += n
        if total is not None:
            self.progress.total = total
        self._emit(force=False)

    def flush(self) -> None:
        self._emit(force=True)

    def _emit(self, force: bool) -> None:
        if self._sink is None:
            return
        now = time.monotonic()
        if not force and now - self._last < self._interval:
            return
        self._last = now
        self._sink(self.progress)


class SyncCanceled(Exception):
    """Raised inside a sync when its cancel event is set."""


class JobControl:
    """One running sync's cancel event, progress, counts and failed objects, shared by the
    engine and the source it reads."""

    def __init__(
        self,
        cancel: asyncio.Event | None = None,
        on_progress: ProgressCallback | None = None,
        progress_interval: float = 0.5,
    ) -> None:
        self.cancel = cancel if cancel is not None else asyncio.Event()
        self.reporter = ProgressReporter(on_progress, progress_interval)
        self.counts = self.reporter.progress.counts
        self.failures: list[SyncFailure] = []

    def check(self) -> None:
        """Stop here (``SyncCanceled``) when the job was asked to."""
        if self.cancel.is_set():
            raise SyncCanceled()

    def fail(self, object_id: str, reason: str) -> None:
        """Count one object that could not be synced, and say why."""
        self.failures.append(SyncFailure(object_id, reason))
        self.counts.failed += 1
