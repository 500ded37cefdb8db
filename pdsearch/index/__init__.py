"""Search index backends behind one protocol. Knows nothing of PagerDuty."""

from pdsearch.index.base import Document, SearchHit, SearchIndex, SearchResults, compute_hash

__all__ = ["Document", "SearchHit", "SearchIndex", "SearchResults", "compute_hash"]
