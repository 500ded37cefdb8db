"""What the sync engine reads from: a source of documents and permission entities.

A source knows where its data lives (PagerDuty, through its client) and how it becomes
documents; the engine (``engine.py``) knows only this interface and the sink's, so it holds no
HTTP and no SQL. Elastic's connectors draw the same line: a source yields documents, a sink owns
writes and deletions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from pdsearch.index.base import Document
from pdsearch.permissions import Entity
from pdsearch.store.oncall import Person
from pdsearch.sync.progress import JobControl


class SourceError(Exception):
    """A read from the source did not complete; the message says which one and why, and the
    source's own error is the ``__cause__``."""


class FullSyncNeeded(Exception):
    """An incremental sync cannot run (no cursor, too old a cursor, a record it cannot place):
    the message says why, and a full sync runs instead, before anything was written."""


class AuditUnavailable(FullSyncNeeded):
    """The audit trail answered 402 (no Audit Trail feature) or 403 (a credential that may not
    read it): incremental syncs are unavailable to this connector until it can."""


@dataclass(frozen=True)
class Identity:
    """Who may see what: the account's name (the account entity's id) and every entity with
    its derived members."""

    account: str
    entities: Sequence[Entity]
    #: The account's users (names, e-mails, time zones), for on-call answers.
    people: Sequence[Person] = ()


@dataclass(frozen=True)
class Mapped:
    """One object of the source as a document, or the reason it could not become one."""

    doc_id: str
    document: Document | None
    reason: str | None = None


class Source(Protocol):
    """A source read by one sync (made afresh for each)."""

    @property
    def requests_made(self) -> int:
        """Requests sent to the source so far (retries included)."""
        ...

    async def read_identity(self, job: JobControl) -> Identity:
        """Read the account's people and groups; ``SourceError`` when a listing fails."""
        ...

    async def read_documents(self, job: JobControl) -> Callable[[], Sequence[Mapped]]:
        """Read every object; returns the mapping to documents, CPU work the engine runs in a
        worker thread. ``SourceError`` when a listing fails."""
        ...

    async def exists(self, doc_id: str) -> bool:
        """Whether the object behind ``doc_id`` still exists (asked before it is deleted)."""
        ...


@dataclass(frozen=True)
class Changes:
    """What an incremental read found: whether identity or documents must be made again, and
    the document ids whose objects the source confirmed gone (no need to ask again)."""

    records: int = 0
    identity: bool = False
    documents: bool = False
    gone: frozenset[str] = frozenset()


class IncrementalSource(Source, Protocol):
    """A source that can read only what changed since its last sync."""

    async def read_changes(self, job: JobControl) -> Changes:
        """Read what changed; ``FullSyncNeeded`` (before any write) when it cannot."""
        ...

    def identity(self) -> Identity:
        """Who may see what, from everything the source now knows."""
        ...

    def mapping(self) -> Callable[[], Sequence[Mapped]]:
        """The documents that may have changed, from what the source now knows (CPU work)."""
        ...

    async def meanings_for(self, job: JobControl, doc_ids: set[str]) -> dict[str, str]:
        """The meaning text of those documents (for vectors missing while nothing changed)."""
        ...

    def document_ids(self) -> set[str]:
        """Every document the source now has (what is not among them is swept)."""
        ...
