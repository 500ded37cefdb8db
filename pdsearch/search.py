"""Searching as a user: resolve the user's permission entities, then ask the index.

Access fails closed: an unknown user, an empty e-mail or a user with no entities gets no results
(the index is never asked with an empty entity set, and the index treats one as "sees nothing"
anyway). The query string goes to the index untouched; the index turns it into safe terms.
"""

from __future__ import annotations

from typing import Final, Protocol

from pdsearch.index.base import SearchIndex, SearchResults

MAX_LIMIT: Final = 100
MAX_OFFSET: Final = 10_000


class UserEntities(Protocol):
    """The part of ``pdsearch.store.Store`` search needs."""

    def entities_for_user(self, email: str, connector_id: str | None = None) -> set[str]: ...


def search(
    index: SearchIndex,
    store: UserEntities,
    query: str,
    user_email: str,
    limit: int = 10,
    offset: int = 0,
    *,
    connector_id: str | None = None,
) -> SearchResults:
    """The documents ``user_email`` may see that match ``query``, best first; a blank query
    lists everything the user may see.

    ``limit`` is clamped to 1..100 and ``offset`` to 0..10,000. ``connector_id`` limits the
    user's entities to one connector's; by default every connector counts.
    """
    limit = min(max(int(limit), 1), MAX_LIMIT)
    offset = min(max(int(offset), 0), MAX_OFFSET)
    email = (user_email or "").strip()
    if not email:
        return SearchResults(total=0, hits=[])
    entities = store.entities_for_user(email, connector_id)
    if not entities:
        return SearchResults(total=0, hits=[])
    return index.search(query or "", entities, limit=limit, offset=offset)
