"""Which vocabulary snapshot a search ranks with (``ranking.Vocabulary``).

The snapshot belongs to one change ``generation`` (``meta``, raised by every write). An index of
up to ``INLINE_ROWS`` documents re-reads it at the first search after a change (about 20 ms at
10,000 documents); a larger one re-reads it in a background thread when it is older than
``MAX_AGE`` seconds (0.2 s at 100,000 documents), and searches with the previous one meanwhile,
or with FTS5's own bm25 until the first one is there.
"""

from __future__ import annotations

import logging
import threading
import time

import apsw

from pdsearch.index import ranking
from pdsearch.index.sqlite.connections import Connections, storage_errors
from pdsearch.index.sqlite.schema import scalar

log = logging.getLogger(__name__)

INLINE_ROWS = 10_000
MAX_AGE = 30.0
GENERATION_SQL = "SELECT value FROM meta WHERE key = 'generation'"


class VocabularyCache:
    """The current snapshot of one index, refreshed as the module docstring says."""

    def __init__(self, connections: Connections) -> None:
        self._connections = connections
        self._current: ranking.Vocabulary | None = None
        self._lock = threading.Lock()
        self._reading = False

    @property
    def snapshot(self) -> ranking.Vocabulary | None:
        return self._current

    def current(self, conn: apsw.Connection) -> ranking.Vocabulary | None:
        """The snapshot to rank with (inside ``conn``'s read transaction), or None for bm25."""
        generation = int(scalar(conn, GENERATION_SQL))
        current = self._current
        if current is not None and current.generation == generation:
            return current
        if current is None or current.rows <= INLINE_ROWS:
            if self._reading:
                return current
            return self._keep(ranking.read_vocabulary(conn, generation))
        if time.monotonic() - current.taken >= MAX_AGE:
            self.read_in_background()
        return current

    def read_in_background(self) -> None:
        with self._lock:
            if self._reading or self._connections.closed:
                return
            self._reading = True
        threading.Thread(
            target=self._read_worker, name="pdsearch-index-vocabulary", daemon=True
        ).start()

    def _keep(self, fresh: ranking.Vocabulary) -> ranking.Vocabulary:
        with self._lock:
            current = self._current
            if current is None or fresh.generation >= current.generation:
                self._current = fresh
        return fresh

    def _read_worker(self) -> None:
        try:
            # A connection of its own: close() may run meanwhile and must not pull this one
            # from under the read.
            conn = self._connections.open()
            try:
                with storage_errors(self._connections.path):
                    conn.execute("BEGIN")
                    try:
                        generation = int(scalar(conn, GENERATION_SQL))
                        fresh = ranking.read_vocabulary(conn, generation)
                    finally:
                        conn.execute("COMMIT")
            finally:
                conn.close()
            self._keep(fresh)
        except Exception:
            log.warning("could not read the search index's vocabulary; ranking with bm25",
                        exc_info=True)
        finally:
            self._reading = False
