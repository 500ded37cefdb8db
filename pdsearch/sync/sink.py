"""Where a sync writes: one connector's documents in the index and entities in the store.

The sink owns writes and deletions; the engine decides what to write, and only after a
complete listing what to delete.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from pdsearch.index.base import Document, SearchIndex, Vector, VectorIndex
from pdsearch.store import ConnectorRepository, EntityRepository, OnCallRepository
from pdsearch.sync.source import Identity


class Sink(Protocol):
    def hashes(self) -> dict[str, str]:
        """Document id → content hash of every document the sink holds."""
        ...

    def write(self, docs: Sequence[Document]) -> None:
        """Insert or replace documents, all or none."""
        ...

    def delete(self, doc_ids: Sequence[str]) -> None: ...

    def replace_entities(self, identity: Identity) -> None:
        """Make the derived entities exactly ``identity``'s (members added by hand stay)."""
        ...

    def missing_vectors(self, model_id: str) -> list[str]:
        """Ids of documents without a vector of ``model_id`` for their content (none when the
        index holds no vectors)."""
        ...

    def store_vectors(self, items: Sequence[tuple[str, Vector]], model_id: str) -> int:
        """Store ``(doc id, vector)`` pairs; returns how many were stored."""
        ...


class ConnectorSink:
    """The index and the store, for one connector: its documents, its entities, its account."""

    def __init__(
        self,
        index: SearchIndex,
        connectors: ConnectorRepository,
        entities: EntityRepository,
        connector_id: str,
        account: str | None,
        oncall: OnCallRepository | None = None,
    ) -> None:
        self.index = index
        self.oncall = oncall  # where the account's people go (names, time zones)
        self.connectors = connectors
        self.entities = entities
        self.connector_id = connector_id
        self.account = account

    def hashes(self) -> dict[str, str]:
        return self.index.hashes(self.connector_id)

    def write(self, docs: Sequence[Document]) -> None:
        self.index.upsert(docs)

    def delete(self, doc_ids: Sequence[str]) -> None:
        self.index.delete(self.connector_id, doc_ids)

    def missing_vectors(self, model_id: str) -> list[str]:
        if not isinstance(self.index, VectorIndex):
            return []
        return self.index.missing_vectors(self.connector_id, model_id)

    def store_vectors(self, items: Sequence[tuple[str, Vector]], model_id: str) -> int:
        if not isinstance(self.index, VectorIndex):
            return 0
        return self.index.store_vectors(
            [(self.connector_id, doc_id, vector) for doc_id, vector in items], model_id=model_id)

    def replace_entities(self, identity: Identity) -> None:
        if identity.account != self.account:  # learnt at the first sync (or renamed)
            self.connectors.update(self.connector_id, subdomain=identity.account)
            self.account = identity.account
        self.entities.replace_derived(self.connector_id, identity.entities)
        if self.oncall is not None and identity.people:
            self.oncall.replace_people(self.connector_id, identity.people)
