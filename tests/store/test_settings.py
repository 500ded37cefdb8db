"""Settings: precedence of arguments, environment and the settings file."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from pydantic import ValidationError

from pdsearch.config import Settings, SettingsError


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("HOME", "API_TOKEN", "SECRET_KEY", "CONFIG", "PORT", "HOST", "PUBLIC_URL",
                 "USER_HEADER", "LOG_LEVEL", "DATABASE_URL"):
        monkeypatch.delenv(f"PDSEARCH_{name}", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "user"))


def test_defaults(tmp_path: Path) -> None:
    s = Settings()
    assert s.home == tmp_path / "user" / ".pdsearch"
    assert (s.host, s.port, s.api_token, s.secret_key) == ("127.0.0.1", 8000, None, None)
    assert s.state_path == s.home / "state.db"
    assert s.index_path == s.home / "index.db"
    assert s.config_path == s.home / "config.toml"


def test_data_dir_wins_over_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PDSEARCH_HOME", str(tmp_path / "env"))
    assert Settings().home == tmp_path / "env"
    assert Settings.load(tmp_path / "flag").home == tmp_path / "flag"
    assert Settings.load(None).home == tmp_path / "env"
    assert Settings(home=tmp_path / "flag").home == tmp_path / "flag"


def test_settings_file_in_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    home = tmp_path / "data"
    home.mkdir()
    (home / "config.toml").write_text(
        'api_token = "file-token"\nport = 9000\npublic_url = "https://search.example.com/"\n'
    )
    (home / "config.toml").chmod(0o600)
    s = Settings.load(home)
    assert s.api_token is not None
    assert s.api_token.get_secret_value() == "file-token"
    assert s.port == 9000
    assert s.public_url == "https://search.example.com"
    monkeypatch.setenv("PDSEARCH_PORT", "9100")  # the environment beats the file
    assert Settings.load(home).port == 9100
    assert Settings.load(home, port=9200).port == 9200  # and arguments beat both


def test_settings_file_named_by_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    cfg = tmp_path / "etc" / "pdsearch.toml"
    cfg.parent.mkdir()
    cfg.write_text('home = "state"\nuser_header = "X-Auth-Email"\n')
    monkeypatch.setenv("PDSEARCH_CONFIG", str(cfg))
    s = Settings()
    assert s.home == tmp_path / "etc" / "state"  # relative to the file
    assert s.user_header == "X-Auth-Email"
    monkeypatch.setenv("PDSEARCH_CONFIG", str(tmp_path / "missing.toml"))
    with pytest.raises(SettingsError, match="does not exist"):
        Settings()


def test_bad_settings_files(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text("api_token = \n")
    with pytest.raises(SettingsError, match="not valid TOML"):
        Settings.load(tmp_path)
    (tmp_path / "config.toml").write_text('api_tokn = "x"\n')
    with pytest.raises(SettingsError, match=r"unknown setting.*api_tokn"):
        Settings.load(tmp_path)


def test_world_readable_secret_file_warns(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text('api_token = "TopSecretToken"\n')
    cfg.chmod(0o644)
    with caplog.at_level(logging.WARNING):
        Settings.load(tmp_path)
    assert "chmod 600" in caplog.text
    assert "TopSecretToken" not in caplog.text


def test_secrets_hidden_and_blank_means_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PDSEARCH_API_TOKEN", "  tok-123  ")
    monkeypatch.setenv("PDSEARCH_SECRET_KEY", "")
    s = Settings()
    assert s.api_token is not None
    assert s.api_token.get_secret_value() == "tok-123"
    assert s.secret_key is None
    assert "tok-123" not in repr(s)
    assert "tok-123" not in str(s.model_dump())


@pytest.mark.parametrize(
    ("field", "value"),
    [("port", "70000"), ("public_url", "ftp://x"), ("user_header", "X Bad"), ("log_level", "loud")],
)
def test_invalid_values(monkeypatch: pytest.MonkeyPatch, field: str, value: str) -> None:
    monkeypatch.setenv(f"PDSEARCH_{field.upper()}", value)
    with pytest.raises(ValidationError):
        Settings()


def test_empty_environment_values_are_unset(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PDSEARCH_HOME", "")
    monkeypatch.setenv("PDSEARCH_PORT", "")
    s = Settings()
    assert s.home == tmp_path / "user" / ".pdsearch"
    assert s.port == 8000


def test_database_url_from_the_environment_and_the_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert Settings().database_url is None  # the SQLite file in the data directory
    monkeypatch.setenv("PDSEARCH_DATABASE_URL", " postgresql://pd:Pa55-w0rd@db:5432/pdsearch ")
    s = Settings()
    assert s.database_url is not None
    assert s.database_url.get_secret_value() == "postgresql://pd:Pa55-w0rd@db:5432/pdsearch"
    assert "Pa55-w0rd" not in repr(s)
    assert "Pa55-w0rd" not in str(s.model_dump())
    monkeypatch.setenv("PDSEARCH_DATABASE_URL", "")
    assert Settings().database_url is None
    monkeypatch.delenv("PDSEARCH_DATABASE_URL")
    (tmp_path / "config.toml").write_text('database_url = "postgres://pd:x@db/pdsearch"\n')
    (tmp_path / "config.toml").chmod(0o600)
    assert Settings.load(tmp_path).database_url is not None


def test_a_bad_database_url_is_refused_without_quoting_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for bad in ("mysql://pd:Pa55-w0rd@db/pdsearch", "db.example.com:5432", "Pa55-w0rd"):
        monkeypatch.setenv("PDSEARCH_DATABASE_URL", bad)
        with pytest.raises(ValidationError, match="PostgreSQL URL") as info:
            Settings()
        assert "Pa55-w0rd" not in str(info.value)
