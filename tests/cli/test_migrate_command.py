"""``pdsearch migrate`` against a real PostgreSQL: an installation's state moves over whole."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet
from typer.testing import CliRunner, Result

from pdsearch.cli import app
from pdsearch.config import Settings
from pdsearch.store import Store

pytestmark = pytest.mark.postgres

API_KEY = "mIgRaTe-api-KEY-777"


@dataclass(frozen=True)
class Ent:
    entity_id: str
    name: str
    type: str
    members: frozenset[str]


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("HOME", "SECRET_KEY", "DATABASE_URL", "CONFIG"):
        monkeypatch.delenv(f"PDSEARCH_{name}", raising=False)
    home = tmp_path / "home"
    with Store.open(Settings(home=home)) as store:
        c = store.connectors.create("acme", "api_key", "us", {"api_key": API_KEY})
        store.connectors.set_status(c.id, "connected", subdomain="acme")
        store.schedules.set(c.id, {"interval_minutes": 60})
        store.entities.replace_derived(c.id, [
            Ent("acme", "acme", "account", frozenset({"ada@acme.io"})),
            Ent("PT1", "Payments", "team", frozenset({"bob@acme.io"})),
        ])
        store.entities.add_manual_members(c.id, "PT1", ["billing@acme.io"])
        job = store.jobs.create(c.id, "manual", status="running")
        store.jobs.update(job.id, status="succeeded", counts={"added": 12})
    return home


def _run(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(app, ["migrate", *args], env=env, catch_exceptions=False)


def _key(home: Path) -> bytes:
    return (home / "secret.key").read_bytes().strip()


def test_migrate_moves_the_state_into_postgresql(home: Path, postgres_schema_url: str) -> None:
    password = sa.make_url(postgres_schema_url).password
    assert password
    result = _run("--to", postgres_schema_url, "--data-dir", str(home))
    assert result.exit_code == 0, result.output
    assert "Copied 1 connector(s)" in result.output
    assert "1 job(s)" in result.output
    assert "copied encrypted, as they were" in result.output
    assert "pdsearch sync" in result.output  # says how the index is rebuilt
    assert password not in result.output
    assert API_KEY not in result.output
    with Store(postgres_schema_url, _key(home)) as moved, Store.open(Settings(home=home)) as old:
        [connector] = moved.connectors.list()[0]
        assert connector == old.connectors.get_by_name("acme")
        assert moved.connectors.get_credentials(connector.id) == {"api_key": API_KEY}
        assert moved.schedules.get(connector.id) == {"interval_minutes": 60}
        assert moved.entities.list(connector.id) == old.entities.list(connector.id)
        assert moved.entities.for_user("BILLING@acme.io", connector.id) == {"PT1"}
        assert moved.jobs.list(connector.id) == old.jobs.list(connector.id)

    again = _run("--to", postgres_schema_url, "--data-dir", str(home))
    assert again.exit_code == 1
    assert "already holds state" in again.output
    assert password not in again.output
    forced = _run("--to", postgres_schema_url, "--data-dir", str(home), "--force", "--json")
    assert forced.exit_code == 0, forced.output
    report = json.loads(forced.output)
    assert report["replaced"] is True
    assert report["connectors"] == 1
    assert password not in report["target"]
    assert "***" in report["target"]


def test_migrate_to_a_new_key(home: Path, postgres_schema_url: str) -> None:
    new = Fernet.generate_key()
    env = {"PDSEARCH_DATABASE_URL": postgres_schema_url,
           "PDSEARCH_SECRET_KEY": f"{new.decode()},{_key(home).decode()}"}
    result = _run("--data-dir", str(home), env=env)  # the target from PDSEARCH_DATABASE_URL
    assert result.exit_code == 0, result.output
    assert "re-encrypted with the target's key" in result.output
    with Store(postgres_schema_url, new) as moved:
        [connector] = moved.connectors.list()[0]
        assert moved.connectors.get_credentials(connector.id) == {"api_key": API_KEY}


def test_migrate_refuses_what_it_cannot_do(home: Path, postgres_schema_url: str,
                                           tmp_path: Path) -> None:
    assert "Name the target database" in _run("--data-dir", str(home)).output
    not_pg = _run("--to", f"sqlite:///{tmp_path}/other.db", "--data-dir", str(home))
    assert not_pg.exit_code == 1
    assert "must be a PostgreSQL database" in not_pg.output
    assert not (tmp_path / "other.db").exists()
    empty = _run("--to", postgres_schema_url, "--data-dir", str(tmp_path / "nothing-here"))
    assert empty.exit_code == 1
    assert "nothing to migrate" in empty.output
    with Store.open(Settings(home=home)) as store:  # a sync running in another process
        [connector] = store.connectors.list()[0]
        job = store.jobs.create(connector.id, "manual", status="running")
        store.jobs.update(job.id, progress={"pid": 1, "host": "elsewhere",
                                            "updated_at": job.created_at.isoformat()})
    busy = _run("--to", postgres_schema_url, "--data-dir", str(home))
    assert busy.exit_code == 1
    assert "is running" in busy.output
    with Store(postgres_schema_url, _key(home)) as target:
        assert target.connectors.list() == ([], 0)
