"""Fresh, empty OpenSearch indexes for the contract suite, without creating one per test.

Creating an index costs the node a cluster-state change (0.3-0.5 s here); emptying one costs
three small requests. So the pool lends out indexes (each its own prefix, alias and physical
index) and, when a test is done with one, deletes every document and refreshes: Lucene then
drops the wholly deleted segments, so the next test starts from an empty index with no
statistics left over (BM25's document frequencies come from live segments only). It keeps
``KEEP`` empty indexes at most (a test may make dozens at once; deleting is cheaper than
emptying); the others, and any it cannot empty, are deleted. Every index the pool made is
deleted when the session ends.
"""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from collections.abc import Iterator

from opensearchpy import OpenSearch
from opensearchpy.exceptions import TransportError

from pdsearch.index.opensearch import OpenSearchIndex, alias_name


def unique_prefix(kind: str = "t") -> str:
    """An index prefix no other test (or session) uses."""
    return f"pdsearch-test-{kind}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


class IndexPool:
    KEEP = 4

    def __init__(self, url: str) -> None:
        self.url = url
        self.client = OpenSearch(hosts=[url], timeout=60)
        self._free: list[str] = []
        self._made: list[str] = []

    @contextlib.contextmanager
    def index(self) -> Iterator[OpenSearchIndex]:
        """An empty ``OpenSearchIndex``; emptied again (or deleted) when the block ends."""
        if self._free:
            prefix = self._free.pop()
        else:
            prefix = unique_prefix("contract")
            self._made.append(prefix)
        index = OpenSearchIndex(self.url, prefix=prefix)
        try:
            yield index
        finally:
            index.close()
            if len(self._free) < self.KEEP and self._empty(prefix):
                self._free.append(prefix)
            else:
                self._delete(prefix)

    def _empty(self, prefix: str) -> bool:
        alias = alias_name(prefix)
        try:
            while True:
                hits = self.client.search(
                    index=alias, body={"size": 10_000, "_source": False}
                )["hits"]["hits"]
                if not hits:
                    break
                lines = "".join(json.dumps({"delete": {"_id": h["_id"]}}) + "\n" for h in hits)
                if self.client.bulk(index=alias, body=lines)["errors"]:
                    return False
                self.client.indices.refresh(index=alias)
        except TransportError:
            return False
        return True

    def _delete(self, prefix: str) -> None:
        with contextlib.suppress(TransportError):
            self.client.indices.delete(index=f"{alias_name(prefix)}-v*", ignore=[404])
        if prefix in self._made:
            self._made.remove(prefix)

    def close(self) -> None:
        for prefix in list(self._made):
            self._delete(prefix)
        self.client.close()
