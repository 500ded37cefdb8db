"""The search index contract: what every backend (SQLite now, OpenSearch later) must do.

The index knows documents and opaque permission-entity strings, nothing of PagerDuty.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class Document:
    """One searchable document (DESIGN.md 2.1).

    ``source`` names the connector the document came from, so that one connector's sync or
    removal never touches another's documents.
    """

    id: str
    type: str
    title: str
    content: str
    url: str
    sys_racl: tuple[str, ...]
    source: str
    content_hash: str = field(default="")

    def __post_init__(self) -> None:
        if not self.sys_racl:
            raise ValueError(f"document {self.id} has an empty sys_racl; nothing is public")
        if not self.content_hash:
            object.__setattr__(self, "content_hash", compute_hash(self))


def compute_hash(doc: Document) -> str:
    """A stable hash of everything a sync would need to rewrite."""
    payload = json.dumps(
        [doc.id, doc.type, doc.title, doc.content, doc.url, list(doc.sys_racl)],
        ensure_ascii=False,
    )
    return hashlib.sha256(payload.encode()).hexdigest()


@dataclass(frozen=True)
class SearchHit:
    id: str
    type: str
    title: str
    snippet: str
    url: str
    score: float


@dataclass(frozen=True)
class SearchResults:
    total: int
    hits: list[SearchHit]


class SearchIndex(Protocol):
    """A permission-aware full-text index.

    Every search is made with the set of entities the searching user holds; a document is
    visible when its ``sys_racl`` shares at least one entity with that set. An empty set sees
    nothing. Filtering happens inside the query, so ``total`` counts only visible documents.
    """

    def upsert(self, docs: Iterable[Document]) -> None: ...

    def delete(self, ids: Iterable[str]) -> None: ...

    def hashes(self, source: str) -> dict[str, str]:
        """Document id → content hash for every document of one source."""
        ...

    def get(self, doc_id: str) -> Document | None: ...

    def list(self, source: str | None, skip: int, limit: int) -> tuple[Sequence[Document], int]:
        """A page of documents (of one source, or all) and the total count."""
        ...

    def count(self, source: str | None = None) -> int: ...

    def delete_source(self, source: str) -> int:
        """Remove every document of one source; returns how many."""
        ...

    def search(
        self, query: str, entities: Collection[str], limit: int = 10, offset: int = 0
    ) -> SearchResults:
        """Visible documents matching ``query``, best first (higher ``score`` is better).

        ``query`` is what a person typed: words must all match, ``"quoted phrases"`` and ``pay*``
        prefixes work, anything else is plain text. A blank query lists every visible document
        by title. ``snippet`` is HTML-safe: the text is escaped and hits are wrapped in
        ``<mark>…</mark>``.
        """
        ...

    def close(self) -> None: ...
