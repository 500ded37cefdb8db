"""A state file made as pdsearch 0.1 made it (before the store moved to SQLAlchemy and Alembic):
its runner's exact statements, its ``schema_migrations`` rows, and rows written in its formats
(ISO 8601 text times, JSON text, Fernet blobs, epoch-second floats). Kept here verbatim so the
upgrade is tested against the real thing, not against what the new code believes it was."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path
from typing import Final

from cryptography.fernet import Fernet

LEGACY_MIGRATIONS: Final[tuple[tuple[str, tuple[str, ...]], ...]] = (
    ("0001_connectors", (
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
    )),
    ("0002_jobs", (
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
    )),
    ("0003_schedules", (
        """CREATE TABLE schedules (
            connector_id TEXT PRIMARY KEY REFERENCES connectors(id) ON DELETE CASCADE,
            spec TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )""",
    )),
    ("0004_entities", (
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
    )),
    ("0005_oauth_states", (
        """CREATE TABLE oauth_states (
            state_hash TEXT PRIMARY KEY,
            connector_id TEXT NOT NULL REFERENCES connectors(id) ON DELETE CASCADE,
            code_verifier BLOB NOT NULL,
            redirect_uri TEXT NOT NULL,
            expires_at REAL NOT NULL
        )""",
    )),
    ("0006_schedule_last_fired", ("ALTER TABLE schedules ADD COLUMN last_fired_at TEXT",)),
)

ACME, GLOBEX = "c0ffee00000000000000000000000001", "c0ffee00000000000000000000000002"
API_KEY = "lEgAcY-api-KEY-0001"
REFRESH = "lEgAcY-refresh-0002"
OAUTH_STATE = "lEgAcY-oauth-state"


def build_legacy_file(path: Path, key: bytes, *, upto: int = 6) -> None:
    """The old runner's first ``upto`` migrations, applied as it applied them, then (with all
    six) a connector of each kind with jobs, a schedule, entities and an OAuth state."""
    fernet = Fernet(key)
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations "
            "(name TEXT PRIMARY KEY, applied_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)"
        )
        for name, statements in LEGACY_MIGRATIONS[:upto]:
            for sql in statements:
                conn.execute(sql)
            conn.execute("INSERT INTO schema_migrations (name) VALUES (?)", (name,))
        conn.execute("COMMIT")
        if upto < 6:
            return

        def seal(value: object) -> bytes:
            return fernet.encrypt(json.dumps(value).encode())

        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(
            "INSERT INTO connectors (id, name, auth_type, region, base_url, oauth_base_url, "
            "status, subdomain, last_error, credentials, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (ACME, "Acme", "api_key", "us", None, None, "connected", "acme", None,
                 seal({"api_key": API_KEY}), "2026-01-02T03:04:05.123456+00:00",
                 "2026-01-03T00:00:00+00:00"),
                (GLOBEX, "Globex", "oauth2", "eu", "http://127.0.0.1:9", None, "error", None,
                 "PagerDuty said 401.",
                 seal({"client_id": "cid", "client_secret": "cs", "refresh_token": REFRESH}),
                 "2026-01-04T00:00:00+00:00", "2026-01-04T00:00:00+00:00"),
            ],
        )
        jobs = [
            ("j-done", ACME, "succeeded", "manual", {"added": 3, "updated": 0, "deleted": 1,
             "unchanged": 2, "failed": 1}, [{"id": "P1", "reason": "unmappable"}], 17, None,
             {"phase": "deleting", "swept": True}, "2026-01-05T00:00:00+00:00",
             "2026-01-05T00:00:01+00:00", "2026-01-05T00:01:31+00:00"),
            # Two left active by a crash (the old service would fail them at its next start).
            ("j-stale", ACME, "running", "scheduled", {}, [], 0, None, {},
             "2026-01-06T00:00:00+00:00", "2026-01-06T00:00:01+00:00", None),
            ("j-newest", ACME, "queued", "manual", {}, [], 0, None, {},
             "2026-01-07T00:00:00+00:00", None, None),
            ("j-globex", GLOBEX, "failed", "manual", {}, [], 2, "PagerDuty said 401.", {},
             "2026-01-08T00:00:00+00:00", "2026-01-08T00:00:01+00:00",
             "2026-01-08T00:00:02+00:00"),
        ]
        conn.executemany(
            "INSERT INTO jobs (id, connector_id, status, trigger, counts, failures, requests, "
            "error, progress, created_at, started_at, finished_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(j[0], j[1], j[2], j[3], json.dumps(j[4]), json.dumps(j[5]), j[6], j[7],
              json.dumps(j[8]), j[9], j[10], j[11]) for j in jobs],
        )
        conn.execute(
            "INSERT INTO schedules (connector_id, spec, updated_at, last_fired_at) "
            "VALUES (?, ?, ?, ?)",
            (ACME, json.dumps({"cron": "0 3 * * *", "timezone": "Europe/Paris"}),
             "2026-01-02T00:00:00+00:00", "2026-01-09T02:00:00+00:00"),
        )
        conn.executemany(
            "INSERT INTO entities (connector_id, entity_id, name, type, derived) "
            "VALUES (?, ?, ?, ?, ?)",
            [(ACME, "acme", "acme", "account", 1), (ACME, "PT1", "Payments", "team", 1),
             (ACME, "PGONE", "Gone team", "team", 0)],
        )
        conn.executemany(
            "INSERT INTO entity_members (connector_id, entity_id, email, source) "
            "VALUES (?, ?, ?, ?)",
            [(ACME, "acme", "ada@acme.io", "derived"), (ACME, "PT1", "bob@acme.io", "derived"),
             (ACME, "PT1", "bob@acme.io", "manual"), (ACME, "PT1", "carol@acme.io", "manual"),
             (ACME, "PGONE", "dave@acme.io", "manual")],
        )
        conn.execute(
            "INSERT INTO oauth_states (state_hash, connector_id, code_verifier, redirect_uri, "
            "expires_at) VALUES (?, ?, ?, ?, ?)",
            (hashlib.sha256(OAUTH_STATE.encode()).hexdigest(), GLOBEX, seal("verifier"),
             "http://localhost/oauth/callback", 4.1e9),
        )
        conn.execute("COMMIT")
    finally:
        conn.close()
