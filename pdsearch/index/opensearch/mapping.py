"""The index's settings and mapping, and the names it lives under.

Documents live in a versioned index, ``<prefix>-docs-v<MAPPING_VERSION>``, reached only through
the alias ``<prefix>-docs``. Any change to what ``index_body`` returns is a new mapping version
(``tests/index/test_opensearch.py`` pins a fingerprint of each): opening an index of an older
version copies its documents into a new one and moves the alias (``versions.py``).

Fields (``_source`` keeps the document as given, so ``get`` returns it unchanged):

- ``title``, ``content``, ``kind`` (the type in words, "escalation policy"): text with English
  stemming (``pd_english``); each has an ``exact`` subfield (``pd_exact``: no stemming) so exact
  words rank above stemmed relatives and quoted phrases and prefixes stay literal, as on SQLite.
  ``content`` keeps offsets in its postings: snippets are highlighted without re-analysing it.
  ``title.sort``: a keyword for listing by title (titles past ``TITLE_SORT_CHARS`` sort last).
- ``acl``: one opaque keyword per (source, entity) of ``sys_racl`` (``documents.access_key``);
  every search filters on it inside the query.
- ``key`` (also the ``_id``), ``source``, ``doc_id``, ``type``: keywords for look-ups and order.
- ``url``, ``sys_racl``, ``content_hash``: stored, not searched (``content_hash`` has doc values
  so ``hashes`` reads it without loading ``_source``).
- ``vector``: a 384-dimension ``knn_vector`` (all-MiniLM-L6-v2), HNSW on the ``lucene`` engine
  with cosine similarity. The engine matters: ``faiss`` and ``nmslib`` need native libraries
  that a plugin installed from Maven Central lacks, and the node dies on the first write. A
  cluster without the k-NN plugin gets the mapping without this field (``vectors=False``,
  recorded in ``_meta``): keyword search works the same, semantic search is off.

Both analysers split words the way SQLite's ``unicode61`` does (any character outside the
Unicode letters, numbers and private use separates words, so ``ada.lovelace@example.com`` is
four words) and fold case and diacritics, so both backends agree on what a word is.
"""

from __future__ import annotations

import re
from typing import Any, Final

from pdsearch.index.errors import IndexSettingsError

MAPPING_VERSION: Final = 1
VECTOR_DIMENSION: Final = 384
#: How deep ``from``/``size`` paging may go: past it a page is empty (its total still right).
MAX_RESULT_WINDOW: Final = 100_000
TITLE_SORT_CHARS: Final = 1000

_PREFIX = re.compile(r"^[a-z0-9][a-z0-9_-]{0,99}$")

# Java regex: what separates words (see the module docstring).
WORD_SEPARATORS: Final = r"[^\p{L}\p{N}\p{Co}]+"

ENGLISH: Final = "pd_english"
EXACT: Final = "pd_exact"


def check_prefix(prefix: str) -> str:
    """``prefix`` if OpenSearch accepts it in an index name, else ``IndexSettingsError``."""
    if not _PREFIX.match(prefix):
        raise IndexSettingsError(
            f"index prefix {prefix!r} is not usable in an OpenSearch index name: use 1 to 100 "
            "lower-case letters, digits, '-' or '_', starting with a letter or digit"
        )
    return prefix


def alias_name(prefix: str) -> str:
    return f"{prefix}-docs"


def index_name(prefix: str, version: int) -> str:
    return f"{prefix}-docs-v{version}"


def _text(*, offsets: bool = False) -> dict[str, Any]:
    field: dict[str, Any] = {
        "type": "text",
        "analyzer": ENGLISH,
        "fields": {"exact": {"type": "text", "analyzer": EXACT}},
    }
    if offsets:
        field["index_options"] = "offsets"
    return field


def _stored() -> dict[str, Any]:
    return {"type": "keyword", "index": False, "doc_values": False}


VECTOR_FIELD: Final = {
    "type": "knn_vector",
    "dimension": VECTOR_DIMENSION,
    "method": {
        "name": "hnsw",
        "engine": "lucene",
        "space_type": "cosinesimil",
        "parameters": {"m": 16, "ef_construction": 128},
    },
}


def index_body(*, shards: int = 1, replicas: str = "0-1", vectors: bool = True) -> dict[str, Any]:
    """The settings and mapping of a new index of ``MAPPING_VERSION``.

    ``replicas`` is ``auto_expand_replicas``: "0-1" keeps a single node green and gives a
    cluster one replica of each shard. ``vectors``: the k-NN field (the cluster needs the k-NN
    plugin).
    """
    title = _text()
    title["fields"]["sort"] = {"type": "keyword", "ignore_above": TITLE_SORT_CHARS}
    body: dict[str, Any] = {
        "settings": {
            "index": {
                "number_of_shards": shards,
                "auto_expand_replicas": replicas,
                "max_result_window": MAX_RESULT_WINDOW,
            },
            "analysis": {
                "tokenizer": {"pd_words": {"type": "pattern", "pattern": WORD_SEPARATORS}},
                "filter": {"pd_stemmer": {"type": "stemmer", "language": "english"}},
                "analyzer": {
                    EXACT: {
                        "type": "custom",
                        "tokenizer": "pd_words",
                        "filter": ["lowercase", "asciifolding"],
                    },
                    ENGLISH: {
                        "type": "custom",
                        "tokenizer": "pd_words",
                        "filter": ["lowercase", "asciifolding", "pd_stemmer"],
                    },
                },
            },
        },
        "mappings": {
            "dynamic": "strict",
            "_meta": {"pdsearch": {"mapping_version": MAPPING_VERSION, "vectors": vectors}},
            "properties": {
                "key": {"type": "keyword"},
                "source": {"type": "keyword"},
                "doc_id": {"type": "keyword"},
                "type": {"type": "keyword"},
                "kind": _text(),
                "title": title,
                "content": _text(offsets=True),
                "url": _stored(),
                "sys_racl": _stored(),
                "content_hash": {"type": "keyword", "index": False},
                "acl": {"type": "keyword", "doc_values": False},
            },
        },
    }
    if vectors:
        body["settings"]["index"]["knn"] = True
        body["mappings"]["properties"]["vector"] = dict(VECTOR_FIELD)
    return body


def has_vectors(mappings: dict[str, Any]) -> bool:
    """Whether an index's mappings hold the k-NN field."""
    field = mappings.get("properties", {}).get("vector")
    return isinstance(field, dict) and field.get("type") == "knn_vector"


def mapping_version(mappings: dict[str, Any]) -> int | None:
    """The pdsearch mapping version recorded in an index's mappings, or None if it has none
    (not made by pdsearch)."""
    meta = mappings.get("_meta")
    if not isinstance(meta, dict):
        return None
    ours = meta.get("pdsearch")
    if not isinstance(ours, dict):
        return None
    version = ours.get("mapping_version")
    return version if isinstance(version, int) and not isinstance(version, bool) else None
