"""The search index contract: what every backend (SQLite, OpenSearch) must do.

The index knows documents, the source each came from and opaque permission-entity strings,
nothing of PagerDuty. A document is identified by its ``source`` and its ``id`` together: two
sources may hold documents with the same id, and each keeps its own.

Access is granted per source: a ``Grant(source, entity)`` admits the documents *of that source*
whose ``sys_racl`` holds ``entity``. Two sources whose entities share a name (two accounts with
one subdomain) never see each other's documents through it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol, TypeAlias, runtime_checkable

import numpy.typing as npt


@dataclass(frozen=True)
class Document:
    """One searchable document (DESIGN.md 2.1).

    ``source`` names the connector the document came from; ``(source, id)`` is its key, so one
    connector's sync or removal never touches another's documents.
    """

    id: str
    type: str
    title: str
    content: str
    url: str
    sys_racl: tuple[str, ...]
    source: str
    content_hash: str = field(default="")
    #: The short text that carries the document's meaning, for the embedding model (not
    #: stored by the index; what it says is in ``content`` too, so the hash covers it).
    meaning: str = field(default="", compare=False, repr=False)

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


#: A meaning vector: numbers in a sequence, or a numpy array.
Vector: TypeAlias = Sequence[float] | npt.NDArray[Any]


class Grant(NamedTuple):
    """Access to the documents of one source whose ``sys_racl`` holds ``entity``."""

    source: str
    entity: str


@dataclass(frozen=True)
class SearchHit:
    id: str
    source: str
    type: str
    title: str
    snippet: str
    url: str
    score: float


@dataclass(frozen=True)
class SearchResults:
    """``partial``: no visible document holds every term, these hold some. ``notice``: what a
    person should know about these results (set by ``pdsearch.search``), or None."""

    total: int
    hits: list[SearchHit]
    partial: bool = False
    notice: str | None = None


def checked_grants(grants: Collection[Grant]) -> set[Grant]:
    """The usable grants of a search: a bare string is a caller's bug (``TypeError``), blank
    parts admit nothing."""
    if isinstance(grants, str):
        raise TypeError("grants must be a collection of Grant(source, entity), not one string")
    out: set[Grant] = set()
    for grant in grants:
        if not isinstance(grant, tuple) or len(grant) != 2:
            raise TypeError(f"not a Grant(source, entity): {grant!r}")
        if grant[0] and grant[1]:
            out.add(Grant(grant[0], grant[1]))
    return out


class SearchIndex(Protocol):
    """A permission-aware full-text index.

    Every search is made with the grants of the searching user; a document is visible when one
    grant names its source and an entity of its ``sys_racl``. No grant sees nothing. Filtering
    happens inside the query, so ``total`` counts only visible documents.
    """

    def upsert(self, docs: Iterable[Document]) -> None:
        """Insert or replace documents by ``(source, id)``, all or none."""
        ...

    def delete(self, source: str, ids: Iterable[str]) -> None:
        """Delete documents of one source by id; unknown ids are ignored."""
        ...

    def hashes(self, source: str) -> dict[str, str]:
        """Document id → content hash for every document of one source."""
        ...

    def get(self, source: str, doc_id: str) -> Document | None: ...

    def find(self, doc_id: str) -> list[Document]:
        """Every source's document with this id (usually one), ordered by source."""
        ...

    def list(self, source: str | None, skip: int, limit: int) -> tuple[Sequence[Document], int]:
        """A page of documents (of one source, or all) and the total count."""
        ...

    def count(self, source: str | None = None) -> int: ...

    def sources(self) -> Sequence[str]:
        """Every source that has documents (to find those of a removed connector)."""
        ...

    def delete_source(self, source: str) -> int:
        """Remove every document of one source; returns how many."""
        ...

    def search(
        self, query: str, grants: Collection[Grant], limit: int = 10, offset: int = 0, *,
        every_word: bool = False,
    ) -> SearchResults:
        """Visible documents matching ``query``, best first (higher ``score`` is better).

        When no visible document holds every word, those holding some are found
        (``partial``), unless ``every_word`` (hybrid search: meaning answers instead).

        ``query`` is what a person typed: words must all match, ``"quoted phrases"`` and ``pay*``
        prefixes work, anything else is plain text. A blank query lists every visible document
        by title. ``snippet`` is HTML-safe: the text is escaped and hits are wrapped in
        ``<mark>…</mark>``.
        """
        ...

    def close(self) -> None: ...


@runtime_checkable
class VectorIndex(Protocol):
    """An index that also holds meaning vectors (an optional capability of a ``SearchIndex``:
    ``isinstance(index, VectorIndex)`` tells).

    A vector belongs to its document's content as it was when the vector was stored: writing
    the document with other content drops it, and ``missing_vectors`` lists it again.
    """

    def store_vectors(
        self, items: Sequence[tuple[str, str, Vector]], *, model_id: str = ""
    ) -> int:
        """Set the vectors of documents given as ``(source, id, vector)``, computed by the
        model ``model_id``; documents that are gone are skipped. Returns how many were
        stored."""
        ...

    def missing_vectors(self, source: str, model_id: str = "") -> list[str]:
        """The ids of ``source``'s documents without a vector of ``model_id`` for their
        current content, sorted."""
        ...

    def nearest(
        self, vector: Vector, grants: Collection[Grant], k: int, *,
        model_id: str | None = None,
    ) -> list[tuple[str, str, float]]:
        """The ``k`` documents visible through ``grants`` whose vectors (of ``model_id``, when
        given) are most similar to ``vector``, as ``(source, id, cosine)``, best first. The
        access filter applies before ranking: only visible documents are scored."""
        ...
