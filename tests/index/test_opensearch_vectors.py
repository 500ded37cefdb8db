"""Meaning vectors in OpenSearch: the 384-dimension k-NN field (lucene engine) and a k-NN
search whose filter is the access filter. Vectors are made by hand (unit vectors along chosen
axes), so every expected neighbour is known; one index for the module."""

from __future__ import annotations

import math
from collections.abc import Iterator

import pytest
from index_helpers import acl
from opensearch_pool import unique_prefix

from pdsearch.index.base import Document
from pdsearch.index.opensearch import VECTOR_DIMENSION, OpenSearchIndex


def axis(i: int, j: int | None = None, weight: float = 0.0) -> list[float]:
    """A unit vector along axis ``i`` (tilted towards ``j`` by ``weight``)."""
    v = [0.0] * VECTOR_DIMENSION
    v[i] = 1.0
    if j is not None:
        v[j] = weight
    norm = math.sqrt(sum(x * x for x in v))
    return [x / norm for x in v]


def doc(i: int, team: str, source: str = "c1") -> Document:
    return Document(id=f"schedule:P{i}", type="schedule", title=f"Payments {i:02d}",
                    content=f"rotation for team {team}", url=f"https://x/{i}", sys_racl=(team,),
                    source=source)


@pytest.fixture(scope="module")
def index(opensearch_url: str) -> Iterator[OpenSearchIndex]:
    """40 documents of team T<i % 4>; document i points along axis i % 8, tilted towards
    (i + 1) % 8 by 0.01 × i."""
    with OpenSearchIndex(opensearch_url, prefix=unique_prefix("vectors")) as made:
        try:
            made.upsert(doc(i, f"T{i % 4}") for i in range(40))
            stored = made.store_vectors(
                [("c1", f"schedule:P{i}", axis(i % 8, (i + 1) % 8, 0.01 * i)) for i in range(40)]
                + [("c1", "schedule:P404", axis(0))])  # gone: skipped
            assert stored == 40
            yield made
        finally:
            made.drop()


def test_nearest_ranks_visible_documents_by_similarity(index: OpenSearchIndex) -> None:
    got = index.nearest(axis(1), acl("T1"), 3)
    # Team T1 holds 1, 5, 9, ...: along axis 1 are 1, 9, 17, 25, 33, the least tilted first.
    assert [n[1] for n in got] == ["schedule:P1", "schedule:P9", "schedule:P17"]
    sims = [n[2] for n in got]
    assert sims == sorted(sims, reverse=True)
    assert 0.99 < sims[0] <= 1.0 + 1e-6
    assert all(n[0] == "c1" for n in got)


def test_nearest_never_returns_what_the_user_cannot_see(index: OpenSearchIndex) -> None:
    # The best documents for axis 0 are team T0's; a T1 user gets k of their own all the same.
    got = index.nearest(axis(0), acl("T1"), 10)
    assert len(got) == 10
    assert {n[1] for n in got} <= {f"schedule:P{i}" for i in range(1, 40, 4)}
    assert index.nearest(axis(0), acl("T9"), 10) == []
    assert index.nearest(axis(0), acl(), 10) == []
    assert index.nearest(axis(0), acl("T1", source="c2"), 10) == []
    assert len(index.nearest(axis(0), acl("T1", "T2"), 100)) == 20
    assert index.nearest(axis(0), acl("T1"), 0) == []


def test_bad_vectors_are_refused(index: OpenSearchIndex) -> None:
    for bad in ([math.nan] * VECTOR_DIMENSION, [0.0] * VECTOR_DIMENSION, [1.0] * 8):
        with pytest.raises(ValueError, match="a vector needs"):
            index.store_vectors([("c1", "schedule:P1", bad)])
        with pytest.raises(ValueError, match="a vector needs"):
            index.nearest(bad, acl("T1"), 3)


def test_writing_a_document_again_drops_its_vector(opensearch_url: str) -> None:
    with OpenSearchIndex(opensearch_url, prefix=unique_prefix("vectors")) as index:
        try:
            index.upsert([doc(1, "T1"), doc(2, "T1")])
            index.store_vectors([("c1", "schedule:P1", axis(0)), ("c1", "schedule:P2", axis(1))])
            assert [n[1] for n in index.nearest(axis(0), acl("T1"), 5)] == [
                "schedule:P1", "schedule:P2"]
            assert index.missing_vectors("c1") == []
            index.upsert([doc(1, "T1")])
            assert [n[1] for n in index.nearest(axis(0), acl("T1"), 5)] == ["schedule:P2"]
            # The sync asks which documents lack a vector (semantic search's next batch).
            assert index.missing_vectors("c1", "any-model") == ["schedule:P1"]
            assert index.missing_vectors("c2") == []
            index.delete("c1", ["schedule:P2"])
            assert index.nearest(axis(0), acl("T1"), 5) == []
        finally:
            index.drop()
