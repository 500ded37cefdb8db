"""The schema's one migration history, for SQLite and PostgreSQL alike, run by Alembic on open.

Why Alembic over the named-migration runner of earlier versions (which applied lists of SQL
strings): the same migration must now build two engines' schemas, and Alembic's operations emit
each dialect's DDL from one description (types, partial indexes, server defaults), with batch
mode for the day SQLite needs a table rebuilt (it cannot alter a constraint in place). Its
version table is the one a database administrator knows, and ``alembic`` can print the SQL of an
upgrade for review on a managed PostgreSQL. The runner we would otherwise grow (dialect branches,
a version check, an advisory lock) is what Alembic already is.

How it runs: ``upgrade(db)`` takes one write transaction (``BEGIN IMMEDIATE`` on SQLite, plus
an advisory transaction lock on PostgreSQL so replicas starting together migrate one at a time)
and applies every missing revision in it: all or nothing.

Files of earlier versions: their runner recorded names ``0001_connectors`` .. ``0006_schedule_
last_fired`` in ``schema_migrations``. Revisions 0001 to 0006 here carry those very names as
their ids, so such a file is *stamped* at the newest name it lists (nothing re-run, no data
touched) and upgraded from there. On SQLite, ``schema_migrations`` is kept and given the row
``LEGACY_SENTINEL``, a name the old runner does not know: an older pdsearch then refuses the file
("written by a newer pdsearch") instead of re-running its migrations on it.

A database whose version is unknown here (written by a newer pdsearch) is refused, unchanged.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Final

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.script.revision import RevisionError
from alembic.util import CommandError
from sqlalchemy.engine import Connection

from pdsearch.store.database import Database
from pdsearch.store.errors import StoreError

SCRIPTS: Final = Path(__file__).resolve().parent
LEGACY: Final = (
    "0001_connectors",
    "0002_jobs",
    "0003_schedules",
    "0004_entities",
    "0005_oauth_states",
    "0006_schedule_last_fired",
)
LEGACY_SENTINEL: Final = "0007_schema_managed_by_alembic"
# Any constant will do, as long as nothing else on the server uses it: "pdsearch" in ASCII.
PG_MIGRATION_LOCK: Final = 0x7064736561726368


@functools.cache
def script_directory() -> ScriptDirectory:
    return ScriptDirectory(str(SCRIPTS))


def _config(conn: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(SCRIPTS))
    config.attributes["connection"] = conn
    return config


def upgrade(db: Database) -> None:
    """Bring the database to the newest schema, in one transaction; StoreError if it was
    written by a newer pdsearch."""
    script = script_directory()
    with db.write() as conn:
        if db.dialect == "postgresql":
            conn.execute(sa.select(sa.func.pg_advisory_xact_lock(PG_MIGRATION_LOCK)))
        _adopt_legacy(conn, db)
        heads = MigrationContext.configure(conn).get_current_heads()
        for head in heads:
            try:
                script.get_revision(head)
            except (RevisionError, CommandError):
                raise _newer(db, head) from None
        if tuple(heads) == (script.get_current_head(),):
            return
        try:
            command.upgrade(_config(conn), "head")
        except (RevisionError, CommandError) as exc:
            raise StoreError(
                f"The state database {db.display} cannot be upgraded: {exc}"
            ) from None
        if db.dialect == "sqlite":
            _mark_for_old_versions(conn)


def applied(db: Database) -> list[str]:
    """The applied revisions, oldest first."""
    script = script_directory()
    with db.read() as conn:
        heads = MigrationContext.configure(conn).get_current_heads()
    if not heads:
        return []
    return [rev.revision for rev in script.iterate_revisions(heads, "base")][::-1]


def _newer(db: Database, name: str) -> StoreError:
    return StoreError(
        f"The state database {db.display} was written by a newer pdsearch (migration {name}). "
        "Upgrade pdsearch or use another data directory."
    )


def _adopt_legacy(conn: Connection, db: Database) -> None:
    """A file of the old runner: stamp the revision it reached, so nothing runs twice."""
    tables = set(sa.inspect(conn).get_table_names())
    if "alembic_version" in tables or "schema_migrations" not in tables:
        return
    names = {r[0] for r in conn.execute(sa.text("SELECT name FROM schema_migrations"))}
    names.discard(LEGACY_SENTINEL)
    unknown = sorted(names - set(LEGACY))
    if unknown:
        raise _newer(db, unknown[-1])
    # The old runner applied its list in order, each step with its row in one transaction, so
    # the names are always a prefix of the list.
    reached = [name for name in LEGACY if name in names]
    if reached != list(LEGACY[: len(reached)]):
        raise StoreError(
            f"The state database {db.display} lists migrations {', '.join(sorted(names))}, "
            "which no pdsearch ever applied in that order; restore it from a backup."
        )
    if reached:
        command.stamp(_config(conn), reached[-1])


def _mark_for_old_versions(conn: Connection) -> None:
    conn.execute(
        sa.text(
            "CREATE TABLE IF NOT EXISTS schema_migrations "
            "(name TEXT PRIMARY KEY, applied_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)"
        )
    )
    conn.execute(
        sa.text("INSERT OR IGNORE INTO schema_migrations (name) VALUES (:name)"),
        {"name": LEGACY_SENTINEL},
    )
