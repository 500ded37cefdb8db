from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

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
    a = store.create_connector("Acme", "api_key", "us", {"api_key": SECRET})
    b = store.create_connector(
        "Euro", "oauth2", "eu", {"client_id": "cid", "client_secret": "cs"},
        base_url="http://127.0.0.1:9/", oauth_base_url="http://127.0.0.1:9/",
    )
    assert a.status == "new" and a.subdomain is None and a.last_error is None
    assert b.status == "needs_authorization" and b.region == "eu"
    assert store.get_connector(a.id) == a
    assert store.get_connector_by_name("acme") == a
    items, total = store.list_connectors()
    assert total == 2 and [c.name for c in items] == ["Acme", "Euro"]
    items, total = store.list_connectors(skip=1, limit=1)
    assert total == 2 and [c.id for c in items] == [b.id]
    d = a.to_dict()
    assert d["created_at"].endswith("Z") and SECRET not in repr(d) and "credentials" not in d


def test_duplicate_name_conflicts_case_insensitively(store: Store, connector: Connector) -> None:
    with pytest.raises(ConflictError, match="already exists"):
        store.create_connector("ACME", "api_key", "us", {"api_key": "x"})
    other = store.create_connector("Other", "api_key", "us", {"api_key": "x"})
    with pytest.raises(ConflictError):
        store.update_connector(other.id, name="acme")


def test_invalid_values_rejected(store: Store) -> None:
    with pytest.raises(InvalidValueError, match="region"):
        store.create_connector("x", "api_key", "asia", {"api_key": "k"})
    with pytest.raises(InvalidValueError, match="auth_type"):
        store.create_connector("x", "basic", "us", {"api_key": "k"})
    with pytest.raises(InvalidValueError, match="name"):
        store.create_connector("  ", "api_key", "us", {"api_key": "k"})
    with pytest.raises(ValueError, match="Credentials"):
        store.create_connector("x", "api_key", "us", {"api_key": 5})  # type: ignore[dict-item]


def test_update_and_status(store: Store, connector: Connector) -> None:
    c = store.update_connector(connector.id, name="Acme Prod", region="eu")
    assert (c.name, c.region) == ("Acme Prod", "eu")
    assert c.updated_at >= connector.updated_at
    with pytest.raises(InvalidValueError):
        store.update_connector(connector.id, credentials="x")
    with pytest.raises(InvalidValueError):
        store.update_connector(connector.id, status="bogus")
    c = store.set_status(connector.id, "error", error="PagerDuty rejected the API key (401).")
    assert c.status == "error" and c.last_error and "401" in c.last_error
    c = store.set_status(connector.id, "connected", subdomain="acme")
    assert (c.status, c.subdomain, c.last_error) == ("connected", "acme", None)
    c = store.set_status(connector.id, "connected")
    assert c.subdomain == "acme"


def test_missing_connector(store: Store) -> None:
    for call in (
        lambda: store.get_connector("nope"),
        lambda: store.get_connector_by_name("nope"),
        lambda: store.update_connector("nope", name="x"),
        lambda: store.delete_connector("nope"),
        lambda: store.get_credentials("nope"),
        lambda: store.set_credentials("nope", {}),
        lambda: store.update_credentials("nope", a="b"),
    ):
        with pytest.raises(NotFoundError):
            call()


def test_credentials_round_trip_and_are_encrypted_at_rest(
    tmp_path: Path, store: Store, connector: Connector
) -> None:
    assert store.get_credentials(connector.id) == {"api_key": SECRET}
    oauth = store.create_connector("o", "oauth2", "us", {"client_id": "c", "client_secret": "s"})
    store.update_credentials(
        oauth.id, access_token="AcCeSs-ToKeN-987", refresh_token="ReFrEsH-654", expires_at="1"
    )
    creds = store.update_credentials(oauth.id, access_token="AcCeSs-2", expires_at=None)
    assert creds == {"client_id": "c", "client_secret": "s", "access_token": "AcCeSs-2",
                     "refresh_token": "ReFrEsH-654"}
    assert store.get_credentials(oauth.id) == creds
    store.set_credentials(connector.id, {"api_key": "NeW-KeY-000"})
    assert store.get_credentials(connector.id) == {"api_key": "NeW-KeY-000"}
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("state.db*"))
    store.close()
    raw += (tmp_path / "state.db").read_bytes()
    for secret in (SECRET, "AcCeSs-ToKeN-987", "AcCeSs-2", "ReFrEsH-654", "NeW-KeY-000"):
        assert secret.encode() not in raw
    assert SECRET not in repr(connector) and SECRET not in repr(store)


def test_wrong_key_gives_a_clear_error(tmp_path: Path, store: Store, connector: Connector) -> None:
    store.close()
    with Store(tmp_path / "state.db", Fernet.generate_key()) as other:
        assert other.get_connector(connector.id).name == "Acme"
        with pytest.raises(StoreError, match="cannot be decrypted") as info:
            other.get_credentials(connector.id)
        assert SECRET not in str(info.value)


def test_delete_cascades(store: Store, connector: Connector) -> None:
    job = store.create_job(connector.id, "manual")
    store.set_schedule(connector.id, {"interval_minutes": 5})
    store.set_status(connector.id, "connected", subdomain="acme")
    store.add_manual_members(connector.id, "acme", ["a@x.io"])
    state = store.create_oauth_state(connector.id, "verifier", "http://localhost/cb")
    store.delete_connector(connector.id)
    with pytest.raises(NotFoundError):
        store.get_job(job.id)
    assert store.get_schedule(connector.id) is None
    assert store.entities_for_user("a@x.io") == set()
    assert store.consume_oauth_state(state) is None
    assert store.list_connectors() == ([], 0)


def test_open_from_settings_creates_private_key_file(tmp_path: Path) -> None:
    home = tmp_path / "home"
    settings = Settings(home=home)
    with Store.open(settings) as s:
        c = s.create_connector("a", "api_key", "us", {"api_key": SECRET})
    key_file = home / "secret.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(home.stat().st_mode) & 0o077 == 0
    key = key_file.read_bytes()
    with Store.open(settings) as s:  # the same key file is used again
        assert s.get_credentials(c.id) == {"api_key": SECRET}
    assert key_file.read_bytes() == key


def test_open_with_configured_key(tmp_path: Path) -> None:
    key = Fernet.generate_key().decode()
    settings = Settings(home=tmp_path, secret_key=key)
    with Store.open(settings) as s:
        c = s.create_connector("a", "api_key", "us", {"api_key": SECRET})
    assert not (tmp_path / "secret.key").exists()
    with Store(tmp_path / "state.db", key.encode()) as s:
        assert s.get_credentials(c.id)["api_key"] == SECRET
    with pytest.raises(StoreError, match="not a valid Fernet key") as info:
        Store.open(Settings(home=tmp_path, secret_key="not-a-key"))
    assert "not-a-key" not in str(info.value)


def test_migrations_recorded_and_idempotent(tmp_path: Path, secret_key: bytes) -> None:
    path = tmp_path / "state.db"
    with Store(path, secret_key) as s:
        first = s.applied_migrations()
        assert first[0] == "0001_connectors" and first == sorted(first)
    with Store(path, secret_key) as s:
        assert s.applied_migrations() == first


def test_database_from_a_newer_version_is_refused(tmp_path: Path, secret_key: bytes) -> None:
    path = tmp_path / "state.db"
    with Store(path, secret_key) as s:
        s._conn.execute("INSERT INTO schema_migrations (name) VALUES ('9999_future')")
    with pytest.raises(StoreError, match="newer pdsearch"):
        Store(path, secret_key)


def test_unwritable_location(tmp_path: Path, secret_key: bytes) -> None:
    with pytest.raises(StoreError, match="Cannot open"):
        Store(tmp_path / "missing" / "dir" / "state.db", secret_key)
    if os.geteuid() != 0:
        ro = tmp_path / "ro"
        ro.mkdir(mode=0o500)
        with pytest.raises(StoreError, match="data directory"):
            Store.open(Settings(home=ro / "sub"))


def test_key_rotation(
    tmp_path: Path, store: Store, secret_key: bytes, connector: Connector
) -> None:
    state = store.create_oauth_state(connector.id, "VeRiFiEr", "http://localhost/cb")
    store.close()
    new = Fernet.generate_key()
    with Store(tmp_path / "state.db", new + b"," + secret_key) as both:
        assert both.get_credentials(connector.id) == {"api_key": SECRET}  # old key still reads
        assert both.rotate_secrets() == 2
    with Store(tmp_path / "state.db", new) as only_new:
        assert only_new.get_credentials(connector.id) == {"api_key": SECRET}
        assert only_new.consume_oauth_state(state) == (
            connector.id, "VeRiFiEr", "http://localhost/cb"
        )
    wrong = Store(tmp_path / "state.db", Fernet.generate_key())
    with pytest.raises(StoreError, match="cannot be decrypted"):
        wrong.rotate_secrets()
    wrong.close()
    with pytest.raises(StoreError, match=r"key 2 of 2"):
        Store(tmp_path / "state.db", new + b",nope")


def test_damaged_database_gives_a_clear_error(tmp_path: Path, secret_key: bytes) -> None:
    path = tmp_path / "state.db"
    path.write_bytes(b"this is not an SQLite database, just some bytes" * 100)
    with pytest.raises(StoreError, match=r"cannot be used.*move it away"):
        Store(path, secret_key)
