"""Meaning vectors in the SQLite index: stored per document and model, dropped with the content
they were computed from, and searched only among the documents a user's grants admit.

Vectors are made by hand (unit vectors along chosen axes), so every expected neighbour is
known."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from pdsearch.index.base import Document, Grant, VectorIndex
from pdsearch.index.sqlite import SqliteIndex
from pdsearch.index.sqlite.vectors import VECTOR_DIMENSION

MODEL = "test-model"


def axis(i: int, j: int | None = None, weight: float = 0.0) -> list[float]:
    """A unit vector along axis ``i`` (tilted towards ``j`` by ``weight``)."""
    v = np.zeros(VECTOR_DIMENSION, dtype=np.float32)
    v[i] = 1.0
    if j is not None:
        v[j] = weight
    return [float(x) for x in v / np.linalg.norm(v)]


def doc(i: int, team: str, source: str = "c1", content: str = "") -> Document:
    return Document(id=f"schedule:P{i}", type="schedule", title=f"Payments {i:02d}",
                    content=content or f"rotation for team {team}", url=f"https://x/{i}",
                    sys_racl=("acme", team), source=source)


@pytest.fixture
def index(tmp_path: Path) -> Iterator[SqliteIndex]:
    """40 documents of team T<i % 4>; document i points along axis i % 8, tilted towards
    (i + 1) % 8 by 0.01 × i."""
    with SqliteIndex(tmp_path / "index.db") as made:
        made.upsert(doc(i, f"T{i % 4}") for i in range(40))
        stored = made.store_vectors(
            [("c1", f"schedule:P{i}", axis(i % 8, (i + 1) % 8, 0.01 * i)) for i in range(40)],
            model_id=MODEL)
        assert stored == 40
        yield made


def test_the_sqlite_index_has_the_vector_capability(index: SqliteIndex) -> None:
    assert isinstance(index, VectorIndex)


def test_nearest_scores_only_what_the_grants_admit(index: SqliteIndex) -> None:
    # Axis 1 is nearest to documents 1, 9, 17, 25, 33 (all of team T1) and next to 0, 8, ...
    found = index.nearest(axis(1), {Grant("c1", "T1")}, 3, model_id=MODEL)
    assert [doc_id for _, doc_id, _ in found] == ["schedule:P1", "schedule:P9", "schedule:P17"]
    # A team that holds none of the nearest still gets k of its own documents.
    found = index.nearest(axis(1), {Grant("c1", "T2")}, 5, model_id=MODEL)
    assert len(found) == 5
    assert all(int(doc_id.split("P")[1]) % 4 == 2 for _, doc_id, _ in found)
    scores = [score for _, _, score in found]
    assert scores == sorted(scores, reverse=True)


def test_grants_are_per_source(index: SqliteIndex) -> None:
    assert index.nearest(axis(1), {Grant("c2", "T1"), Grant("c2", "acme")}, 5) == []
    assert index.nearest(axis(1), set(), 5) == []
    assert len(index.nearest(axis(1), {Grant("c1", "acme")}, 50)) == 40


def test_random_grants_never_see_outside_them(index: SqliteIndex) -> None:
    rng = random.Random(13)
    teams = ["T0", "T1", "T2", "T3", "T9"]
    for _ in range(60):
        chosen = set(rng.sample(teams, rng.randint(0, 3)))
        grants = {Grant("c1", t) for t in chosen} | {Grant("c2", "acme")}
        k = rng.randint(1, 45)
        found = index.nearest(axis(rng.randrange(8)), grants, k)
        allowed = {f"schedule:P{i}" for i in range(40) if f"T{i % 4}" in chosen}
        assert {doc_id for _, doc_id, _ in found} <= allowed
        assert len(found) == min(k, len(allowed))


def test_missing_vectors_follow_content_and_model(index: SqliteIndex) -> None:
    assert index.missing_vectors("c1", MODEL) == []
    assert len(index.missing_vectors("c1", "another-model")) == 40
    # Rewriting a document unchanged keeps its vector; changing it drops the vector.
    index.upsert([doc(3, "T3")])
    assert index.missing_vectors("c1", MODEL) == []
    index.upsert([doc(3, "T3", content="new words"), doc(40, "T0")])
    assert index.missing_vectors("c1", MODEL) == ["schedule:P3", "schedule:P40"]
    assert index.vector_count("c1") == 39
    found = index.nearest(axis(3), {Grant("c1", "T3")}, 3, model_id=MODEL)
    assert "schedule:P3" not in [doc_id for _, doc_id, _ in found]
    # Vectors of another model are not searched when a model is named.
    index.store_vectors([("c1", "schedule:P40", axis(0))], model_id="another-model")
    assert index.missing_vectors("c1", MODEL) == ["schedule:P3", "schedule:P40"]
    found = index.nearest(axis(0), {Grant("c1", "T0")}, 1, model_id=MODEL)
    assert found[0][1] != "schedule:P40"


def test_deleting_documents_deletes_their_vectors(index: SqliteIndex) -> None:
    index.delete("c1", ["schedule:P1"])
    assert index.vector_count() == 39
    assert "schedule:P1" not in [d for _, d, _ in index.nearest(axis(1), {Grant("c1", "T1")}, 3)]
    index.delete_source("c1")
    assert index.vector_count() == 0
    assert index.nearest(axis(1), {Grant("c1", "acme")}, 3) == []


def test_vectors_of_gone_documents_are_skipped(index: SqliteIndex) -> None:
    assert index.store_vectors([("c1", "schedule:nope", axis(2)), ("c9", "schedule:P1", axis(2))],
                               model_id=MODEL) == 0


@pytest.mark.parametrize("bad", [
    [1.0] * 3, [0.0] * VECTOR_DIMENSION, [float("nan")] + [1.0] * (VECTOR_DIMENSION - 1),
])
def test_bad_vectors_are_refused(index: SqliteIndex, bad: list[float]) -> None:
    with pytest.raises(ValueError, match="vector needs"):
        index.store_vectors([("c1", "schedule:P1", bad)], model_id=MODEL)
    with pytest.raises(ValueError, match="vector needs"):
        index.nearest(bad, {Grant("c1", "acme")}, 3)


def test_another_instance_sees_new_vectors(index: SqliteIndex) -> None:
    # Another process (here: another instance on the same file) writing moves the generation;
    # the cached matrix of this one is read again.
    assert index.nearest(axis(5), {Grant("c1", "T1")}, 1)[0][1] == "schedule:P5"
    with SqliteIndex(index.path) as other:
        other.store_vectors([("c1", "schedule:P1", axis(5))], model_id=MODEL)
    assert index.nearest(axis(5), {Grant("c1", "T1")}, 1, model_id=MODEL)[0][1] == "schedule:P1"
