"""The SQLite connection shared by the store's parts, and the schema migrations.

One connection, guarded by a re-entrant lock: the web service's thread pool and the background
sync tasks use the store at once, and SQLite serialises writers anyway. WAL lets another process
(the CLI next to a running service) read while this one writes; ``busy_timeout`` makes the writers
of two processes wait for each other instead of failing.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

from pdsearch.crypto import SecretCipher, SecretKeyError
from pdsearch.store.errors import StoreError

BUSY_TIMEOUT_MS: Final = 10_000

# Named and ordered; each is applied once, in one transaction, and recorded in
# ``schema_migrations``. Never edit a released migration: append a new one.
MIGRATIONS: Final[tuple[tuple[str, tuple[str, ...]], ...]] = (
    (
        "0001_connectors",
        (
            """CREATE TABLE connectors (
                id TEXT PRIMARY KEY,
                name TEXT NOT NULL UNIQUE COLLATE NOCASE,
                auth_type TEXT NOT NULL,
                region TEXT NOT NULL,
                base_url TEXT,
                oauth_base_url TEXT,
                status TEXT NOT NULL DEFAULT 'new',
                subdomain TEXT,
                last_error TEXT,
                credentials BLOB NOT NULL,
                created_at TEXT NOT NULL,
                updated_at TEXT NOT NULL
            )""",
        ),
    ),
    (
        "0002_jobs",
        (
            """CREATE TABLE jobs (
                seq INTEGER PRIMARY KEY AUTOINCREMENT,
                id TEXT NOT NULL UNIQUE,
                connector_id TEXT NOT NULL REFERENCES connectors(id) ON DELETE CASCADE,
                status TEXT NOT NULL,
                trigger TEXT NOT NULL,
                counts TEXT NOT NULL,
                failures TEXT NOT NULL DEFAULT '[]',
                requests INTEGER NOT NULL DEFAULT 0,
                error TEXT,
                progress TEXT NOT NULL DEFAULT '{}',
                created_at TEXT NOT NULL,
                started_at TEXT,
                finished_at TEXT
            )""",
            "CREATE INDEX jobs_by_connector ON jobs(connector_id, seq)",
            "CREATE INDEX jobs_by_status ON jobs(status)",
        ),
    ),
    (
        "0003_schedules",
        (
            """CREATE TABLE schedules (
                connector_id TEXT PRIMARY KEY REFERENCES connectors(id) ON DELETE CASCADE,
                spec TEXT NOT NULL,
                updated_at TEXT NOT NULL
            )""",
        ),
    ),
    (
        "0004_entities",
        (
            """CREATE TABLE entities (
                connector_id TEXT NOT NULL REFERENCES connectors(id) ON DELETE CASCADE,
                entity_id TEXT NOT NULL,
                name TEXT NOT NULL,
                type TEXT NOT NULL,
                derived INTEGER NOT NULL DEFAULT 0,
                PRIMARY KEY (connector_id, entity_id)
            )""",
            """CREATE TABLE entity_members (
                connector_id TEXT NOT NULL,
                entity_id TEXT NOT NULL,
                email TEXT NOT NULL,
                source TEXT NOT NULL CHECK (source IN ('derived', 'manual')),
                PRIMARY KEY (connector_id, entity_id, email, source),
                FOREIGN KEY (connector_id, entity_id)
                    REFERENCES entities(connector_id, entity_id) ON DELETE CASCADE
            )""",
            "CREATE INDEX entity_members_by_email ON entity_members(email)",
        ),
    ),
    (
        "0005_oauth_states",
        (
            """CREATE TABLE oauth_states (
                state_hash TEXT PRIMARY KEY,
                connector_id TEXT NOT NULL REFERENCES connectors(id) ON DELETE CASCADE,
                code_verifier BLOB NOT NULL,
                redirect_uri TEXT NOT NULL,
                expires_at REAL NOT NULL
            )""",
        ),
    ),
    (
        # When a schedule last fired, so that a restart knows which runs it missed.
        "0006_schedule_last_fired",
        ("ALTER TABLE schedules ADD COLUMN last_fired_at TEXT",),
    ),
)


class StoreBase:
    """Connection, lock, cipher and transactions; the store's parts build on it."""

    def __init__(self, path: Path, secret_key: bytes, *, job_history: int = 1000) -> None:
        self.path = Path(path)
        # Finished jobs kept per connector; older ones are pruned as new jobs are created.
        self.job_history = max(1, job_history)
        try:
            self._cipher = SecretCipher(secret_key)
        except SecretKeyError as exc:
            raise StoreError(str(exc)) from None
        self._lock = threading.RLock()
        try:
            self._conn = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=30.0
            )
        except sqlite3.Error as exc:
            raise StoreError(
                f"Cannot open the state database {self.path}: {exc}. Check that the data "
                "directory exists and is writable."
            ) from None
        self._conn.row_factory = sqlite3.Row
        self._closed = False
        try:
            self._conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            self._conn.execute("PRAGMA journal_mode = WAL")
            self._conn.execute("PRAGMA synchronous = NORMAL")
            self._conn.execute("PRAGMA foreign_keys = ON")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            self.close()
            raise StoreError(
                f"The state database {self.path} cannot be used ({exc}). If it is damaged, "
                "restore it from a backup, or move it away to start afresh."
            ) from None
        except BaseException:
            self.close()
            raise

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.path)!r})"

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._conn.close()

    def __enter__(self) -> StoreBase:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """A write transaction, taken at once (IMMEDIATE) so it never fails half-way on a lock."""
        with self._lock:
            self._check_open()
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            else:
                self._conn.execute("COMMIT")

    def _read(self, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            self._check_open()
            return self._conn.execute(sql, params).fetchall()

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError("The store is closed.")

    def _migrate(self) -> None:
        with self._tx() as conn:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations "
                "(name TEXT PRIMARY KEY, applied_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)"
            )
            applied = {r[0] for r in conn.execute("SELECT name FROM schema_migrations")}
            known = {name for name, _ in MIGRATIONS}
            unknown = sorted(applied - known)
            if unknown:
                raise StoreError(
                    f"The state database {self.path} was written by a newer pdsearch "
                    f"(migration {unknown[-1]}). Upgrade pdsearch or use another data directory."
                )
            for name, statements in MIGRATIONS:
                if name in applied:
                    continue
                for sql in statements:
                    conn.execute(sql)
                conn.execute("INSERT INTO schema_migrations (name) VALUES (?)", (name,))

    def applied_migrations(self) -> list[str]:
        """Names of the applied schema migrations, in order."""
        rows = self._read("SELECT name FROM schema_migrations ORDER BY name")
        return [r[0] for r in rows]

    def _encrypt_json(self, value: Any) -> bytes:
        return self._cipher.encrypt(json.dumps(value).encode())

    def _decrypt_json(self, blob: bytes) -> Any:
        try:
            return json.loads(self._cipher.decrypt(blob))
        except SecretKeyError as exc:
            raise StoreError(str(exc)) from None
