"""Documents as OpenSearch stores them, and back.

A document's ``_id`` is a hash of its ``(source, id)``: any two strings make one fixed-size key
that OpenSearch accepts (``_id`` is limited to 512 bytes), and two sources never share one.
Its ``acl`` holds one opaque key per entity of its ``sys_racl``, made from the source and the
entity together (``access_key``), so a grant admits only documents of its own source.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from pdsearch.index.base import Document


def _digest(*parts: str) -> str:
    # JSON with ASCII escapes is unambiguous for any strings (NULs and lone surrogates too).
    return hashlib.sha256(json.dumps(list(parts)).encode("ascii")).hexdigest()


def doc_key(source: str, doc_id: str) -> str:
    """The ``_id`` of the document ``doc_id`` of ``source``."""
    return "d" + _digest(source, doc_id)[:48]


def access_key(source: str, entity: str) -> str:
    """The ``acl`` keyword of one entity of one source."""
    return "e" + _digest(source, entity)[:48]


def storable(value: str) -> str:
    """``value`` as valid UTF-8: a lone surrogate (JSON can carry one) can't be sent, so it
    becomes U+FFFD rather than failing the whole batch (as on SQLite)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return value


def kind_words(type_: str) -> str:
    """A document type in words: ``escalation_policy`` → "escalation policy"."""
    return type_.replace("_", " ")


def body(doc: Document, vector: Sequence[float] | None = None) -> dict[str, Any]:
    """The JSON source of ``doc`` (and its meaning vector, when it has one)."""
    out: dict[str, Any] = {
        "key": doc_key(doc.source, doc.id),
        "source": storable(doc.source),
        "doc_id": storable(doc.id),
        "type": storable(doc.type),
        "kind": storable(kind_words(doc.type)),
        "title": storable(doc.title),
        "content": storable(doc.content),
        "url": storable(doc.url),
        "sys_racl": [storable(entity) for entity in doc.sys_racl],
        "content_hash": doc.content_hash,
        "acl": sorted({access_key(doc.source, entity) for entity in doc.sys_racl}),
    }
    if vector is not None:
        out["vector"] = [float(x) for x in vector]
    return out


def document(source: Mapping[str, Any]) -> Document:
    """The ``Document`` of a stored ``_source``."""
    return Document(
        id=str(source["doc_id"]),
        type=str(source["type"]),
        title=str(source["title"]),
        content=str(source["content"]),
        url=str(source["url"]),
        sys_racl=tuple(str(e) for e in source["sys_racl"]),
        source=str(source["source"]),
        content_hash=str(source["content_hash"]),
    )


#: The ``_source`` fields a ``Document`` is rebuilt from (the rest is derived from them).
DOCUMENT_FIELDS = ("doc_id", "type", "title", "content", "url", "sys_racl", "source",
                   "content_hash")
