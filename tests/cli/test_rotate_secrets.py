"""``pdsearch rotate-secrets``: the README's ``new,old`` key rotation, end to end."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr
from typer.testing import CliRunner, Result

from pdsearch.cli import app
from pdsearch.config import Settings
from pdsearch.store import Store, StoreError

API_KEY = "rotate-me-api-key-0123"
Run = Callable[..., Result]


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("PDSEARCH_HOME", "PDSEARCH_SECRET_KEY", "PDSEARCH_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path / "data"


@pytest.fixture
def cli(home: Path) -> Run:
    runner = CliRunner()

    def run(*args: str, key: bytes | None) -> Result:
        env = {"PDSEARCH_HOME": str(home),
               "PDSEARCH_SECRET_KEY": key.decode() if key is not None else None}
        return runner.invoke(app, list(args), env=env)

    return run


@pytest.fixture
def old() -> bytes:
    return Fernet.generate_key()


@pytest.fixture
def connector_id(cli: Run, old: bytes) -> str:
    added = cli("connector", "add", "acme", "--api-key", API_KEY, "--json", key=old)
    assert added.exit_code == 0, added.output
    return str(json.loads(added.output)["id"])


def credentials(home: Path, key: bytes, connector_id: str) -> dict[str, str]:
    settings = Settings(home=home, secret_key=SecretStr(key.decode()))
    with Store.open(settings) as store:
        return store.connectors.get_credentials(connector_id)


def test_new_old_moves_every_secret_to_the_new_key(
    cli: Run, home: Path, old: bytes, connector_id: str
) -> None:
    new = Fernet.generate_key()
    rotated = cli("rotate-secrets", key=new + b"," + old)
    assert rotated.exit_code == 0, rotated.output
    assert "Re-encrypted 1 secret(s)" in rotated.output
    assert "alone" in rotated.output  # what to do next: drop the old key
    for secret in (new, old, API_KEY.encode()):
        assert secret.decode() not in rotated.output
    assert credentials(home, new, connector_id) == {"api_key": API_KEY}
    with pytest.raises(StoreError, match="cannot be decrypted"):
        credentials(home, old, connector_id)
    # Again with the new key first: nothing left under the old one, still readable.
    again = cli("rotate-secrets", "--json", key=new + b"," + old)
    assert again.exit_code == 0, again.output
    assert json.loads(again.output) == {"rotated": 1}
    assert credentials(home, new, connector_id) == {"api_key": API_KEY}


def test_keys_that_open_nothing_change_nothing(
    cli: Run, home: Path, old: bytes, connector_id: str
) -> None:
    strangers = Fernet.generate_key() + b"," + Fernet.generate_key()
    refused = cli("rotate-secrets", key=strangers)
    assert refused.exit_code == 1
    assert "cannot be decrypted" in refused.output
    assert "Traceback" not in refused.output
    assert credentials(home, old, connector_id) == {"api_key": API_KEY}


def test_one_key_or_the_key_file_is_refused_with_what_to_set(
    cli: Run, home: Path, old: bytes, connector_id: str
) -> None:
    one = cli("rotate-secrets", key=old)
    assert one.exit_code == 2
    assert "names one key" in one.output
    assert '"<new key>,<old key>"' in one.output
    assert old.decode() not in one.output
    unset = cli("rotate-secrets", key=None)
    assert unset.exit_code == 2
    assert "PDSEARCH_SECRET_KEY is not set" in unset.output
    assert "secret.key" in unset.output
    assert credentials(home, old, connector_id) == {"api_key": API_KEY}


def test_a_data_directory_without_state_is_named_and_left_uncreated(
    cli: Run, home: Path
) -> None:
    result = cli("rotate-secrets", key=Fernet.generate_key() + b"," + Fernet.generate_key())
    assert result.exit_code == 1
    assert "No connectors yet" in result.output
    assert not home.exists()
