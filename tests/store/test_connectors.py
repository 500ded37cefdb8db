from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet
from store_raw import raw_state

from pdsearch.config import Settings
from pdsearch.store import (
    ConflictError,
    Connector,
    InvalidValueError,
    NotFoundError,
    Store,
    StoreError,
)

SECRET = "u+sEcReT-KeY-123"


def test_create_get_and_list(store: Store) -> None:
    a = store.connectors.create("Acme", "api_key", "us", {"api_key": SECRET})
    b = store.connectors.create(
        "Euro", "oauth2", "eu", {"client_id": "cid", "client_secret": "cs"},
        base_url="http://127.0.0.1:9/", oauth_base_url="http://127.0.0.1:9/",
    )
    assert a.status == "new"
    assert a.subdomain is None
    assert a.last_error is None
    assert b.status == "needs_authorization"
    assert b.region == "eu"
    assert store.connectors.get(a.id) == a
    assert store.connectors.get_by_name("acme") == a
    assert store.connectors.get_by_name("  EURO ") == b
    items, total = store.connectors.list()
    assert total == 2
    assert [c.name for c in items] == ["Acme", "Euro"]
    items, total = store.connectors.list(skip=1, limit=1)
    assert total == 2
    assert [c.id for c in items] == [b.id]
    d = a.to_dict()
    assert d["created_at"].endswith("Z")
    assert SECRET not in repr(d)
    assert "credentials" not in d
    assert a.created_at.tzinfo is not None


def test_duplicate_name_conflicts_case_insensitively(store: Store, connector: Connector) -> None:
    with pytest.raises(ConflictError, match="already exists"):
        store.connectors.create("ACME", "api_key", "us", {"api_key": "x"})
    other = store.connectors.create("Other", "api_key", "us", {"api_key": "x"})
    with pytest.raises(ConflictError):
        store.connectors.update(other.id, name="acme")
    assert store.connectors.update(connector.id, name="ACME").name == "ACME"  # its own name


def test_concurrent_creates_of_one_name_make_one_connector(store: Store) -> None:
    outcomes: list[str] = []
    start = threading.Barrier(4)

    def create(n: int) -> None:
        start.wait()
        try:
            name = "Race" if n % 2 else "RACE"
            store.connectors.create(name, "api_key", "us", {"api_key": "k"})
            outcomes.append("made")
        except ConflictError:
            outcomes.append("taken")

    threads = [threading.Thread(target=create, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["made", "taken", "taken", "taken"]
    assert store.connectors.list()[1] == 1


def test_invalid_values_rejected(store: Store) -> None:
    with pytest.raises(InvalidValueError, match="region"):
        store.connectors.create("x", "api_key", "asia", {"api_key": "k"})
    with pytest.raises(InvalidValueError, match="auth_type"):
        store.connectors.create("x", "basic", "us", {"api_key": "k"})
    with pytest.raises(InvalidValueError, match="name"):
        store.connectors.create("  ", "api_key", "us", {"api_key": "k"})
    with pytest.raises(ValueError, match="Credentials"):
        store.connectors.create("x", "api_key", "us", {"api_key": 5})  # type: ignore[dict-item]
    assert store.connectors.list() == ([], 0)


def test_update_and_status(store: Store, connector: Connector) -> None:
    c = store.connectors.update(connector.id, name="Acme Prod", region="eu")
    assert (c.name, c.region) == ("Acme Prod", "eu")
    assert c.updated_at >= connector.updated_at
    with pytest.raises(InvalidValueError):
        store.connectors.update(connector.id, credentials="x")
    with pytest.raises(InvalidValueError):
        store.connectors.update(connector.id, status="bogus")
    c = store.connectors.set_status(connector.id, "error", error="PagerDuty said 401.")
    assert c.status == "error"
    assert c.last_error
    assert "401" in c.last_error
    c = store.connectors.set_status(connector.id, "connected", subdomain="acme")
    assert (c.status, c.subdomain, c.last_error) == ("connected", "acme", None)
    c = store.connectors.set_status(connector.id, "connected")
    assert c.subdomain == "acme"


def test_missing_connector(store: Store) -> None:
    connectors = store.connectors
    for call in (
        lambda: connectors.get("nope"),
        lambda: connectors.get_by_name("nope"),
        lambda: connectors.update("nope", name="x"),
        lambda: connectors.delete("nope"),
        lambda: connectors.get_credentials("nope"),
        lambda: connectors.set_credentials("nope", {}),
        lambda: connectors.update_credentials("nope", a="b"),
    ):
        with pytest.raises(NotFoundError):
            call()


def test_credentials_round_trip_and_are_encrypted_at_rest(
    location: str | Path, store: Store, connector: Connector
) -> None:
    assert store.connectors.get_credentials(connector.id) == {"api_key": SECRET}
    oauth = store.connectors.create(
        "o", "oauth2", "us", {"client_id": "c", "client_secret": "s"}
    )
    store.connectors.update_credentials(
        oauth.id, access_token="AcCeSs-ToKeN-987", refresh_token="ReFrEsH-654", expires_at="1"
    )
    creds = store.connectors.update_credentials(oauth.id, access_token="AcCeSs-2",
                                                expires_at=None)
    assert creds == {"client_id": "c", "client_secret": "s", "access_token": "AcCeSs-2",
                     "refresh_token": "ReFrEsH-654"}
    assert store.connectors.get_credentials(oauth.id) == creds
    store.connectors.set_credentials(connector.id, {"api_key": "NeW-KeY-000"})
    assert store.connectors.get_credentials(connector.id) == {"api_key": "NeW-KeY-000"}
    url = location if isinstance(location, str) else None
    raw = raw_state(store, url)
    store.close()
    if store.path is not None:
        raw += store.path.read_bytes()  # after the checkpoint
    for secret in (SECRET, "AcCeSs-ToKeN-987", "AcCeSs-2", "ReFrEsH-654", "NeW-KeY-000"):
        assert secret.encode() not in raw
    assert b"Acme" in raw  # ...while what is not secret is plainly there
    assert SECRET not in repr(connector)
    assert SECRET not in repr(store)


def test_wrong_key_gives_a_clear_error(
    location: str | Path, store: Store, connector: Connector
) -> None:
    store.close()
    with Store(location, Fernet.generate_key()) as other:
        assert other.connectors.get(connector.id).name == "Acme"
        with pytest.raises(StoreError, match="cannot be decrypted") as info:
            other.connectors.get_credentials(connector.id)
        assert SECRET not in str(info.value)


def test_delete_cascades(store: Store, connector: Connector) -> None:
    job = store.jobs.create(connector.id, "manual")
    store.schedules.set(connector.id, {"interval_minutes": 5})
    store.connectors.set_status(connector.id, "connected", subdomain="acme")
    store.entities.add_manual_members(connector.id, "acme", ["a@x.io"])
    state = store.oauth.create_state(connector.id, "verifier", "http://localhost/cb")
    store.connectors.delete(connector.id)
    with pytest.raises(NotFoundError):
        store.jobs.get(job.id)
    assert store.schedules.get(connector.id) is None
    assert store.entities.memberships("a@x.io") == set()
    assert store.oauth.consume_state(state) is None
    assert store.connectors.list() == ([], 0)


def test_a_second_store_on_the_same_database_sees_every_change(
    location: str | Path, secret_key: bytes, store: Store, connector: Connector
) -> None:
    # Like the CLI beside the service, or a second replica.
    with Store(location, secret_key) as second:
        assert second.connectors.get(connector.id) == connector
        second.connectors.update_credentials(connector.id, extra="1")
        assert store.connectors.get_credentials(connector.id)["extra"] == "1"
        second.connectors.delete(connector.id)
    with pytest.raises(NotFoundError):
        store.connectors.get(connector.id)


def test_closed_store_refuses(store: Store) -> None:
    store.close()
    with pytest.raises(StoreError, match="closed"):
        store.connectors.list()
    with pytest.raises(StoreError, match="closed"):
        store.entities.memberships("a@x.io")


# --- SQLite files and settings ----------------------------------------------------------------


def test_open_from_settings_creates_private_key_file(tmp_path: Path) -> None:
    home = tmp_path / "home"
    settings = Settings(home=home)
    with Store.open(settings) as s:
        c = s.connectors.create("a", "api_key", "us", {"api_key": SECRET})
        assert s.dialect == "sqlite"
        assert s.path == home / "state.db"
    key_file = home / "secret.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(home.stat().st_mode) & 0o077 == 0
    assert stat.S_IMODE((home / "state.db").stat().st_mode) == 0o600
    key = key_file.read_bytes()
    with Store.open(settings) as s:  # the same key file is used again
        assert s.connectors.get_credentials(c.id) == {"api_key": SECRET}
    assert key_file.read_bytes() == key


def test_open_with_configured_key(tmp_path: Path) -> None:
    key = Fernet.generate_key().decode()
    settings = Settings(home=tmp_path, secret_key=key)
    with Store.open(settings) as s:
        c = s.connectors.create("a", "api_key", "us", {"api_key": SECRET})
    assert not (tmp_path / "secret.key").exists()
    with Store(tmp_path / "state.db", key.encode()) as s:
        assert s.connectors.get_credentials(c.id)["api_key"] == SECRET
    with pytest.raises(StoreError, match="not a valid Fernet key") as info:
        Store.open(Settings(home=tmp_path, secret_key="not-a-key"))
    assert "not-a-key" not in str(info.value)


def test_unwritable_location(tmp_path: Path, secret_key: bytes) -> None:
    with pytest.raises(StoreError, match="Cannot open"):
        Store(tmp_path / "missing" / "dir" / "state.db", secret_key)
    if os.geteuid() != 0:
        ro = tmp_path / "ro"
        ro.mkdir(mode=0o500)
        with pytest.raises(StoreError, match="data directory"):
            Store.open(Settings(home=ro / "sub"))


def test_damaged_database_gives_a_clear_error(tmp_path: Path, secret_key: bytes) -> None:
    path = tmp_path / "state.db"
    path.write_bytes(b"this is not an SQLite database, just some bytes" * 100)
    with pytest.raises(StoreError, match=r"cannot be used.*move it away"):
        Store(path, secret_key)
    assert path.read_bytes() == b"this is not an SQLite database, just some bytes" * 100


@pytest.mark.postgres
def test_open_from_settings_on_postgresql(
    tmp_path: Path, postgres_schema_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    key = Fernet.generate_key().decode()
    settings = Settings(home=tmp_path / "home", database_url=postgres_schema_url, secret_key=key)
    with Store.open(settings) as s:
        assert s.dialect == "postgresql"
        assert s.path is None
        c = s.connectors.create("a", "api_key", "us", {"api_key": SECRET})
    assert not (tmp_path / "home" / "state.db").exists()
    with Store(postgres_schema_url, key.encode()) as s:
        assert s.connectors.get_credentials(c.id) == {"api_key": SECRET}
    # Without a configured key every replica would make its own key file: said at once.
    shared = Settings(home=tmp_path / "other", database_url=postgres_schema_url)
    with caplog.at_level("WARNING"), Store.open(shared):
        pass
    assert "PDSEARCH_SECRET_KEY" in caplog.text
    password = sa.make_url(postgres_schema_url).password
    assert password
    assert password not in caplog.text


@pytest.mark.postgres
def test_connections_the_server_dropped_are_replaced_unnoticed(
    postgres_schema_url: str, secret_key: bytes, database_url: str
) -> None:
    # What a PostgreSQL restart or failover does to the pool: every connection is cut.
    with Store(postgres_schema_url, secret_key) as store:
        c = store.connectors.create("a", "api_key", "us", {"api_key": SECRET})
        with store._db.read() as conn:
            pids = {conn.execute(sa.select(sa.func.pg_backend_pid())).scalar_one()}
        store.entities.memberships("a@x.io")
        with psycopg.connect(database_url.replace("+psycopg", ""), autocommit=True) as admin:
            for pid in pids:
                admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        assert store.entities.memberships("a@x.io") == set()  # the search path
        assert store.connectors.get(c.id).name == "a"  # and every other
