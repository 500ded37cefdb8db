"""Searching as a user: resolve the user's grants, then ask the index.

Access fails closed: an unknown user, an empty e-mail or a user with no entities gets no results
(the index is never asked with an empty grant set, and the index treats one as "sees nothing"
anyway). A user's entities count only within their own connector: a grant is the pair
(connector, entity), so two accounts that share a subdomain never see each other's documents.
The query string goes to the index untouched; the index turns it into safe terms.

Given an embedder (semantic search on), a search is hybrid: keyword and meaning candidates,
both within the user's grants, fused (``pdsearch.hybrid``); without one, keyword only. Either
way a ``notice`` says when the words that matter match nothing the user may see.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Final

from pdsearch.hybrid import QueryEmbedder, hybrid_search, notice
from pdsearch.index.base import Document, Grant, SearchIndex, SearchResults
from pdsearch.index.query import parse_query
from pdsearch.questions import question_terms
from pdsearch.store import EntityRepository

if TYPE_CHECKING:
    from pdsearch.semantic import Embedder

log = logging.getLogger(__name__)

MAX_LIMIT: Final = 100
MAX_OFFSET: Final = 10_000


def load_embedder(semantic: bool) -> Embedder | None:
    """The embedding model when semantic search is on (``Settings.semantic``), loaded once per
    process; None when it is off, or when the model cannot be loaded (then a warning says why
    and search is keyword only)."""
    if not semantic:
        return None
    from pdsearch.semantic import Embedder, ModelUnavailableError

    try:
        return Embedder.load()
    except ModelUnavailableError as exc:
        log.warning("semantic search is off: %s", exc)
        return None


def grants_for(
    entities: EntityRepository, user_email: str, connector_id: str | None = None
) -> set[Grant]:
    """What ``user_email`` may see: one grant per (connector, entity) they belong to, limited to
    one connector when ``connector_id`` is given."""
    email = (user_email or "").strip()
    if not email:
        return set()
    return {
        Grant(source, entity)
        for source, entity in entities.memberships(email)
        if connector_id is None or source == connector_id
    }


def search(
    index: SearchIndex,
    entities: EntityRepository,
    query: str,
    user_email: str,
    limit: int = 10,
    offset: int = 0,
    *,
    connector_id: str | None = None,
    embedder: QueryEmbedder | None = None,
) -> SearchResults:
    """The documents ``user_email`` may see that match ``query``, best first; a blank query
    lists everything the user may see.

    ``limit`` is clamped to 1..100 and ``offset`` to 0..10,000. ``connector_id`` limits the
    search to one connector's documents; by default every connector counts. ``embedder``:
    hybrid search (None: keyword only).
    """
    limit = min(max(int(limit), 1), MAX_LIMIT)
    offset = min(max(int(offset), 0), MAX_OFFSET)
    grants = grants_for(entities, user_email, connector_id)
    # "who is on call for payments" searches for "payments" (pdsearch/questions.py).
    query = question_terms(query or "")
    if not grants:  # the notice a visible-nothing search would give, for anyone
        return SearchResults(total=0, hits=[], notice=notice(parse_query(query),
                                                             SearchResults(0, []), False))
    return hybrid_search(index, embedder, query, grants, limit, offset)


def visible_document(
    index: SearchIndex, entities: EntityRepository, user_email: str, connector_id: str, doc_id: str
) -> Document | None:
    """One document of one connector when ``user_email`` may see it, else None: a document
    the user may not see is indistinguishable from one that does not exist.

    The same rule as the index's search filter: a grant of the document's own connector names
    an entity of its ``sys_racl``."""
    grants = grants_for(entities, user_email, connector_id)
    if not grants:
        return None
    doc = index.get(connector_id, doc_id)
    if doc is None or not any(Grant(doc.source, entity) in grants for entity in doc.sys_racl):
        return None
    return doc
