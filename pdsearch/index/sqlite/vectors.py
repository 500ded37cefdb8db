"""Meaning vectors in the SQLite index: stored beside the documents, searched by brute force.

- ``vectors``: one row per document that has one, keyed by the document's ``rid``, with the
  embedding model's id, the content hash the vector was computed for and the vector itself
  (float32, little-endian, as a blob). Writing a document with another content hash drops its
  vector (``index.py``), deleting a document deletes it: a stored vector always belongs to the
  document's current content.
- ``nearest``: the documents the grants admit are found first, with the very access filter the
  keyword query ANDs into its MATCH (``acl.py``); only their vectors are scored. So a user's k
  nearest are k documents they may see, never fewer because of others, and a vector of a
  document outside the grants is never read into a result.

Scoring is numpy over a matrix of every vector of one model, read once per change generation
of the file (``meta.generation``, raised by every write of any process) and shared by the
threads of this process. At 100,000 documents the matrix is 147 MiB; a user who sees a few
percent of them is scored on a gathered copy of just their rows, an administrator on all rows.
"""

from __future__ import annotations

import threading
from collections.abc import Collection
from dataclasses import dataclass

import apsw
import numpy as np
import numpy.typing as npt

from pdsearch.index.base import Grant, Vector
from pdsearch.index.sqlite.acl import acl_expression

#: Dimensions of a stored vector (all-MiniLM-L6-v2's; the OpenSearch mapping's too).
VECTOR_DIMENSION = 384
#: Above this share of visible rows, score every row and mask, rather than gather the visible
#: rows first (a gather copies; a full product reads the matrix once).
GATHER_BELOW = 0.3


# One row, the rids as text: numpy parses it in C. Fetching a row per rid cost an
# administrator 18 ms at 100,000 documents (the Python loop over rows), this 5.6 ms.
_VISIBLE_SQL = "SELECT group_concat(rowid) FROM docs_fts WHERE docs_fts MATCH ?"
_GENERATION_SQL = "SELECT value FROM meta WHERE key = 'generation'"

Matrix = npt.NDArray[np.float32]


def checked_vector(vector: Vector) -> Matrix:
    """``vector`` as ``VECTOR_DIMENSION`` finite float32 numbers, not all zero (else
    ``ValueError``)."""
    values = np.asarray(vector, dtype=np.float32).reshape(-1)
    if values.shape[0] != VECTOR_DIMENSION:
        raise ValueError(f"a vector needs {VECTOR_DIMENSION} numbers, not {values.shape[0]}")
    if not np.all(np.isfinite(values)) or not np.any(values):
        raise ValueError("a vector needs finite numbers, not all zero")
    return values


def to_blob(vector: Matrix) -> bytes:
    return vector.astype("<f4", copy=False).tobytes()


@dataclass(frozen=True)
class VectorMatrix:
    """Every vector of one model as of one change generation: ``rids`` ascending, ``rows``
    their vectors in that order."""

    generation: int
    model: str | None
    rids: npt.NDArray[np.int64]
    rows: Matrix


def read_matrix(conn: apsw.Connection, model: str | None, generation: int) -> VectorMatrix:
    """The vectors of ``model`` (any model when None) whose content hash is their document's."""
    sql = ("SELECT v.rid, v.vector FROM vectors AS v JOIN docs AS d ON d.rid = v.rid "
           "AND d.content_hash = v.content_hash")
    args: tuple[str, ...] = ()
    if model is not None:
        sql += " WHERE v.model = ?"
        args = (model,)
    sql += " ORDER BY v.rid"
    rids: list[int] = []
    blobs: list[bytes] = []
    for rid, blob in conn.execute(sql, args):
        if isinstance(blob, bytes) and len(blob) == VECTOR_DIMENSION * 4:
            rids.append(int(rid))
            blobs.append(blob)
    rows = (np.frombuffer(b"".join(blobs), dtype="<f4").reshape(len(blobs), VECTOR_DIMENSION)
            .astype(np.float32, copy=False))
    return VectorMatrix(generation, model, np.asarray(rids, dtype=np.int64), rows)


class VectorCache:
    """The matrix searches use, re-read when the file's change generation moves."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._matrix: VectorMatrix | None = None

    def current(self, conn: apsw.Connection, model: str | None) -> VectorMatrix:
        """The matrix for ``model`` as of the read transaction ``conn`` is in."""
        generation = int(conn.execute(_GENERATION_SQL).fetchone()[0])  # type: ignore[index]
        matrix = self._matrix
        if matrix is not None and matrix.generation == generation and matrix.model == model:
            return matrix
        with self._lock:  # one thread reads it; the others wait for that one
            matrix = self._matrix
            if matrix is None or matrix.generation != generation or matrix.model != model:
                matrix = read_matrix(conn, model, generation)
                self._matrix = matrix
            return matrix

    def forget(self) -> None:
        self._matrix = None


def visible_rids(conn: apsw.Connection, grants: Collection[Grant]) -> npt.NDArray[np.int64]:
    """The rids of every document ``grants`` admit (the keyword query's filter), in no
    particular order."""
    row = conn.execute(_VISIBLE_SQL, (acl_expression(grants),)).fetchone()
    text = row[0] if row is not None else None
    return np.fromstring(text or "", dtype=np.int64, sep=",")


def nearest_rows(
    matrix: VectorMatrix, visible: npt.NDArray[np.int64], query: Matrix, k: int
) -> list[tuple[int, float]]:
    """The ``k`` visible rids with the highest cosine to ``query`` (vectors are unit length),
    as ``(rid, cosine)``, best first; ties by rid."""
    if k <= 0 or not len(visible) or not len(matrix.rids):
        return []
    # Where each visible rid is in the matrix; those without a vector are left out.
    at = np.minimum(np.searchsorted(matrix.rids, visible), len(matrix.rids) - 1)
    positions = at[matrix.rids[at] == visible]
    if not len(positions):
        return []
    norm = float(np.linalg.norm(query))
    unit = (query / norm).astype(np.float32) if norm else query
    if len(positions) < GATHER_BELOW * len(matrix.rids):
        scores = matrix.rows[positions] @ unit
    else:
        scores = (matrix.rows @ unit)[positions]
    k = min(k, len(positions))
    top = np.argpartition(-scores, k - 1)[:k] if k < len(positions) else np.arange(len(positions))
    order = sorted(top.tolist(), key=lambda i: (-float(scores[i]), int(positions[i])))
    return [(int(matrix.rids[positions[i]]), float(scores[i])) for i in order]
