"""One schema and one migration history on both engines; files of earlier versions upgrade in
place with nothing lost; a database from a newer pdsearch is refused untouched."""

from __future__ import annotations

import sqlite3
import threading
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from cryptography.fernet import Fernet
from legacy_state import (
    ACME,
    API_KEY,
    GLOBEX,
    LEGACY_MIGRATIONS,
    OAUTH_STATE,
    REFRESH,
    build_legacy_file,
)

from pdsearch.store import INTERRUPTED_ERROR, ConflictError, Store, StoreError
from pdsearch.store.migrations import LEGACY_SENTINEL
from pdsearch.store.schema import metadata

HEAD = [
    "0001_connectors", "0002_jobs", "0003_schedules", "0004_entities", "0005_oauth_states",
    "0006_schedule_last_fired", "0007_shared_state", "0008_job_mode", "0009_oncall",
    "0010_incremental",
    "0011_schedule_modes",
]


def test_new_database_is_at_head_and_reopens_unchanged(
    location: str | Path, secret_key: bytes
) -> None:
    with Store(location, secret_key) as s:
        assert s.applied_migrations() == HEAD
    with Store(location, secret_key) as s:
        assert s.applied_migrations() == HEAD


def test_migrated_schema_matches_the_tables_the_queries_use(
    location: str | Path, secret_key: bytes
) -> None:
    with Store(location, secret_key) as s:
        engine = s._db.engine
    engine = sa.create_engine(engine.url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn, opts={"include_object": _ours, "compare_type": True}
            )
            diffs = compare_metadata(context, metadata)
    finally:
        engine.dispose()
    assert diffs == []


def _ours(obj: object, name: str | None, kind: str, reflected: bool, compare_to: object) -> bool:
    # The version tables are Alembic's and the old runner's; PostgreSQL's unique index on
    # lower(name) is made by the migration and never named by a query.
    if kind == "table" and name in ("alembic_version", "schema_migrations"):
        return False
    return not (kind == "index" and name == "connectors_name_nocase")


def test_two_processes_opening_a_new_database_at_once(
    location: str | Path, secret_key: bytes
) -> None:
    assert _open_together(location, secret_key) == []


def test_new_sqlite_files_opened_together_again_and_again(
    tmp_path: Path, secret_key: bytes
) -> None:
    # SQLite refuses a second switch to WAL at once ("database is locked", no busy wait): about
    # one new file in twenty failed before the switch was retried; a hundred files all open.
    errors = [e for n in range(100) for e in _open_together(tmp_path / f"{n}.db", secret_key)]
    assert errors == []


def _open_together(location: str | Path, secret_key: bytes) -> list[BaseException]:
    errors: list[BaseException] = []
    gate = threading.Barrier(3)

    def open_it() -> None:
        gate.wait()
        try:
            with Store(location, secret_key) as s:
                assert s.applied_migrations() == HEAD
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=open_it) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


def test_database_from_a_newer_version_is_refused(
    location: str | Path, secret_key: bytes
) -> None:
    with Store(location, secret_key) as s:
        s.connectors.create("Acme", "api_key", "us", {"api_key": "k"})
        url = s._db.engine.url
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '9999_future'"))
    engine.dispose()
    with pytest.raises(StoreError, match=r"newer pdsearch \(migration 9999_future\)"):
        Store(location, secret_key)
    engine = sa.create_engine(url)
    with engine.connect() as conn:  # refused untouched
        assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar() == (
            "9999_future"
        )
        assert conn.execute(sa.text("SELECT count(*) FROM connectors")).scalar() == 1
    engine.dispose()


# --- files made by earlier versions (SQLite) -------------------------------------------------


def test_a_file_of_the_old_runner_upgrades_in_place_with_nothing_lost(tmp_path: Path) -> None:
    key = Fernet.generate_key()
    path = tmp_path / "state.db"
    build_legacy_file(path, key)
    with Store(path, key) as store:
        assert store.applied_migrations() == HEAD
        acme = store.connectors.get(ACME)
        assert (acme.name, acme.status, acme.subdomain) == ("Acme", "connected", "acme")
        assert acme.created_at == datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)
        assert store.connectors.get_credentials(ACME) == {"api_key": API_KEY}
        globex = store.connectors.get_by_name("GLOBEX")
        assert globex.last_error == "PagerDuty said 401."
        assert globex.base_url
        assert store.connectors.get_credentials(GLOBEX)["refresh_token"] == REFRESH
        assert [c.name for c in store.connectors.list()[0]] == ["Acme", "Globex"]

        done = store.jobs.get("j-done")
        assert done.counts == {"added": 3, "updated": 0, "deleted": 1, "unchanged": 2,
                               "failed": 1}
        assert done.failures == [{"id": "P1", "reason": "unmappable"}]
        assert done.requests == 17
        assert done.duration_seconds == 90.0
        assert done.progress == {"phase": "deleting", "swept": True}
        # Of the two jobs a crash left active, the older was failed so the claim index holds.
        stale = store.jobs.get("j-stale")
        assert stale.status == "failed"
        assert stale.error == INTERRUPTED_ERROR
        assert stale.finished_at is not None
        assert store.jobs.running(ACME) == store.jobs.get("j-newest")
        with pytest.raises(ConflictError):
            store.jobs.create(ACME, "manual")
        assert [j.id for j in store.jobs.list(ACME)[0]] == ["j-newest", "j-stale", "j-done"]

        record = store.schedules.get_record(ACME)
        assert record is not None
        assert record.mode == "full"
        assert record.spec == {"cron": "0 3 * * *", "timezone": "Europe/Paris"}
        assert record.last_fired_at == datetime(2026, 1, 9, 2, 0, tzinfo=UTC)

        pt1 = store.entities.get(ACME, "PT1")
        assert pt1 is not None
        assert pt1.user_ids == ["bob@acme.io", "carol@acme.io"]
        assert pt1.manual_user_ids == ["bob@acme.io", "carol@acme.io"]
        assert store.entities.memberships("DAVE@acme.io") == {(ACME, "PGONE")}
        assert store.oauth.consume_state(OAUTH_STATE) == (
            GLOBEX, "verifier", "http://localhost/oauth/callback"
        )
        # What the upgrade added works on the old data.
        assert store.jobs.request_cancel("j-newest") is True
        assert store.leases.acquire("scheduler", "me", 30)
        # And the old constraints still hold: names stay unique regardless of case,
        # removing a connector removes what hangs from it.
        with pytest.raises(ConflictError):
            store.connectors.create("ACME", "api_key", "us", {"api_key": "k"})
        store.connectors.delete(ACME)
        assert store.entities.memberships("dave@acme.io") == set()
        assert store.jobs.list(ACME) == ([], 0)
    with Store(path, key) as again:
        assert again.applied_migrations() == HEAD  # nothing re-run on the next open
        assert again.connectors.list()[1] == 1


def test_an_older_file_of_the_old_runner_gets_its_missing_steps(tmp_path: Path) -> None:
    key = Fernet.generate_key()
    path = tmp_path / "state.db"
    build_legacy_file(path, key, upto=4)  # before OAuth states and last_fired_at existed
    with Store(path, key) as store:
        assert store.applied_migrations() == HEAD
        c = store.connectors.create("Acme", "api_key", "us", {"api_key": "k"})
        store.schedules.set(c.id, {"interval_minutes": 5})
        store.schedules.record_fired(c.id)
        assert store.oauth.consume_state(store.oauth.create_state(c.id, "v", "r")) is not None


def test_the_old_runner_refuses_an_upgraded_file(tmp_path: Path) -> None:
    # What pdsearch 0.1 does on open: any recorded name it does not know means "newer".
    key = Fernet.generate_key()
    path = tmp_path / "state.db"
    build_legacy_file(path, key)
    Store(path, key).close()
    with Store(tmp_path / "new.db", key):
        pass
    for upgraded in (path, tmp_path / "new.db"):
        conn = sqlite3.connect(upgraded)
        try:
            applied = {r[0] for r in conn.execute("SELECT name FROM schema_migrations")}
        finally:
            conn.close()
        assert applied - {name for name, _ in LEGACY_MIGRATIONS} == {LEGACY_SENTINEL}


def test_a_file_with_an_unknown_old_migration_is_refused(tmp_path: Path) -> None:
    key = Fernet.generate_key()
    path = tmp_path / "state.db"
    build_legacy_file(path, key)
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("INSERT INTO schema_migrations (name) VALUES ('0099_from_a_fork')")
    conn.close()
    with pytest.raises(StoreError, match=r"newer pdsearch \(migration 0099_from_a_fork\)"):
        Store(path, key)
    conn = sqlite3.connect(path)
    try:  # untouched: still the old runner's file
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    finally:
        conn.close()
    assert "alembic_version" not in tables


# --- PostgreSQL specifics ---------------------------------------------------------------------


@pytest.mark.postgres
def test_postgres_password_never_in_errors_or_repr(
    postgres_schema_url: str, secret_key: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    url = sa.make_url(postgres_schema_url)
    password = url.password
    assert password
    with Store(postgres_schema_url, secret_key) as s:
        assert password not in repr(s)
        assert password not in s.location
        assert s.dialect == "postgresql"
        assert s.path is None
    wrong = url.set(password="WrOnG-pAsSwOrD-1").render_as_string(hide_password=False)
    with pytest.raises(StoreError, match="cannot be reached or used") as info:
        Store(wrong, secret_key)
    assert "WrOnG-pAsSwOrD-1" not in str(info.value)
    assert "***" in str(info.value)
    closed_port = url.set(port=1, password="SeCrEt-PoRt-2").render_as_string(
        hide_password=False
    )
    with pytest.raises(StoreError, match="PDSEARCH_DATABASE_URL") as info:
        Store(closed_port, secret_key)
    assert "SeCrEt-PoRt-2" not in str(info.value)
    for bad in ("postgresql://u:SeCrEt-3@[bad/db", "postgresql://u:SeCrEt-3@h:5432"):
        with pytest.raises(StoreError) as info:
            Store(bad, secret_key)
        assert "SeCrEt-3" not in str(info.value)
    with pytest.raises(StoreError, match="scheme 'mysql'"):
        Store("mysql://u:SeCrEt-4@h/db", secret_key)
    for secret in (password, "WrOnG-pAsSwOrD-1", "SeCrEt-PoRt-2", "SeCrEt-3"):
        assert secret not in caplog.text


@pytest.mark.postgres
def test_postgres_schema_uses_native_types(postgres_schema_url: str, secret_key: bytes) -> None:
    with Store(postgres_schema_url, secret_key):
        pass
    with psycopg.connect(postgres_schema_url) as conn:
        types: dict[str, str] = dict(conn.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = 'jobs'"
        ).fetchall())
    assert types["created_at"] == "timestamp with time zone"
    assert types["seq"] == "bigint"
