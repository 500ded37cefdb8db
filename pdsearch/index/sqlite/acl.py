"""The access filter: opaque tokens for (source, entity) grants, matched inside FTS5.

Each document's ``acl`` column holds one token per entity of its ``sys_racl``, made from the
document's source and the entity together, so an entity only ever admits documents of its own
source: two connectors whose accounts share a subdomain never see each other's documents.
A search ANDs ``acl : ("tok1" OR "tok2" ...)`` with the user's words (see ``planner``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterable

from pdsearch.index.base import Grant

#: Separates source and entity in a token's digest; neither may hold it unescaped (a NUL).
_SEPARATOR = b"\x00"


def entity_token(source: str, entity: str) -> str:
    """The opaque FTS token for one entity of one source.

    Hashed, so no entity can be tokenized into parts (unicode61 would split ``a.b`` and fold
    ``ABC`` into ``abc``); hex keeps it one token, and the leading letter keeps it apart from
    any number-like word.
    """
    digest = hashlib.sha256(
        _encode(source) + _SEPARATOR + _encode(entity)
    ).hexdigest()
    return "e" + digest[:40]


def _encode(text: str) -> bytes:
    # A NUL inside a name would let ("a\0b", "c") and ("a", "b\0c") collide: escape it.
    return text.encode("utf-8", "surrogatepass").replace(b"\\", b"\\\\").replace(b"\x00", b"\\0")


def document_tokens(source: str, sys_racl: Iterable[str]) -> list[str]:
    return [entity_token(source, entity) for entity in sys_racl]


def acl_expression(grants: Collection[Grant]) -> str:
    """The MATCH clause admitting documents that share one of ``grants`` (non-empty)."""
    tokens = sorted({entity_token(g.source, g.entity) for g in grants})
    return "acl : (" + " OR ".join(f'"{t}"' for t in tokens) + ")"
