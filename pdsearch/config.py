"""Configuration, read once at the edge (CLI, ``create_app``) and passed down.

Where each setting comes from, first match wins:

1. arguments given in code, e.g. the CLI's ``--data-dir`` (``Settings(home=...)`` or
   ``Settings.load(data_dir)``);
2. environment variables ``PDSEARCH_<NAME>`` (``PDSEARCH_HOME``, ``PDSEARCH_API_TOKEN``, ...);
3. the settings file: the TOML file named by ``PDSEARCH_CONFIG``, else ``<home>/config.toml``
   when it exists, with the same names as keys (``api_token = "..."``, ``port = 8080``);
4. the defaults below. The data directory defaults to ``~/.pdsearch``.

A settings file holding ``api_token`` or ``secret_key`` should be readable by its owner only
(``chmod 600``); pdsearch warns when it is not.
"""

from __future__ import annotations

import logging
import os
import re
import stat
import tomllib
from pathlib import Path
from typing import Any, Final

from pydantic import Field, SecretStr, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

log = logging.getLogger(__name__)

CONFIG_FILE_NAME: Final = "config.toml"
_HEADER_NAME: Final = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")
_LOG_LEVELS: Final = ("debug", "info", "warning", "error")


class SettingsError(ValueError):
    """The settings cannot be used; the message names the setting and what to do."""


def default_home() -> Path:
    return Path(os.environ.get("PDSEARCH_HOME") or Path.home() / ".pdsearch").expanduser()


def config_file_path(home: Path | str | None = None) -> Path:
    """The settings file: ``PDSEARCH_CONFIG`` if set, else ``config.toml`` in the data directory
    (``home``, else ``PDSEARCH_HOME``, else ``~/.pdsearch``)."""
    named = os.environ.get("PDSEARCH_CONFIG")
    if named:
        return Path(named).expanduser()
    base = Path(home).expanduser() if home is not None else default_home()
    return base / CONFIG_FILE_NAME


class _TomlFileSource(PydanticBaseSettingsSource):
    """Settings from a TOML file; unknown keys and bad syntax are errors, not silence."""

    def __init__(self, settings_cls: type[BaseSettings], path: Path, required: bool) -> None:
        super().__init__(settings_cls)
        self._path = path
        self._required = required

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # __call__ reads the whole file at once

    def __call__(self) -> dict[str, Any]:
        path = self._path
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            if self._required:
                raise SettingsError(
                    f"PDSEARCH_CONFIG names {path}, which does not exist. Create it or unset "
                    "PDSEARCH_CONFIG."
                ) from None
            return {}
        except OSError as exc:
            raise SettingsError(f"Cannot read the settings file {path}: {exc.strerror}.") from None
        try:
            data = tomllib.loads(raw.decode("utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise SettingsError(f"The settings file {path} is not valid TOML: {exc}.") from None
        known = set(self.settings_cls.model_fields)
        unknown = sorted(set(data) - known)
        if unknown:
            raise SettingsError(
                f"The settings file {path} has unknown setting(s) {', '.join(unknown)}; known "
                f"ones are {', '.join(sorted(known))}."
            )
        if ("api_token" in data or "secret_key" in data) and _others_can_read(path):
            log.warning(
                "the settings file %s holds secrets but other users can read it; run chmod 600",
                path,
            )
        if isinstance(data.get("home"), str):
            home = Path(data["home"]).expanduser()
            data["home"] = home if home.is_absolute() else path.parent / home
        return data


def _others_can_read(path: Path) -> bool:
    try:
        return bool(stat.S_IMODE(path.stat().st_mode) & 0o077)
    except OSError:
        return False


class Settings(BaseSettings):
    """pdsearch's settings. Environment variables are prefixed ``PDSEARCH_``."""

    model_config = SettingsConfigDict(env_prefix="PDSEARCH_", extra="ignore", env_ignore_empty=True)

    home: Path = Field(default_factory=default_home, description="data directory")
    api_token: SecretStr | None = Field(default=None, description="bearer token of the REST API")
    secret_key: SecretStr | None = Field(
        default=None, description="Fernet key for secrets at rest; else a key file in home"
    )
    user_header: str = Field(
        default="X-Forwarded-Email", description="trusted header naming the page's user"
    )
    public_url: str | None = Field(
        default=None, description="the service's external URL, for the OAuth redirect"
    )
    host: str = Field(default="127.0.0.1", description="interface `pdsearch serve` listens on")
    port: int = Field(default=8000, ge=0, le=65535, description="TCP port of `pdsearch serve`")
    log_level: str = Field(default="info", description="debug, info, warning or error")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        init_kwargs: dict[str, Any] = getattr(init_settings, "init_kwargs", {}) or {}
        home = init_kwargs.get("home")
        path = config_file_path(home)
        required = bool(os.environ.get("PDSEARCH_CONFIG"))
        return (
            init_settings,
            env_settings,
            _TomlFileSource(settings_cls, path, required),
            file_secret_settings,
        )

    @classmethod
    def load(cls, data_dir: Path | None = None, **overrides: Any) -> Settings:
        """Settings for the command line: ``--data-dir`` (when given) wins over PDSEARCH_HOME."""
        if data_dir is not None:
            overrides["home"] = data_dir
        return cls(**overrides)

    @field_validator("home", mode="after")
    @classmethod
    def _expand_home(cls, value: Path) -> Path:
        return value.expanduser()

    @field_validator("api_token", "secret_key", mode="after")
    @classmethod
    def _blank_is_unset(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        return SecretStr(value.get_secret_value().strip())

    @field_validator("user_header", mode="after")
    @classmethod
    def _check_header(cls, value: str) -> str:
        value = value.strip()
        if not _HEADER_NAME.match(value):
            raise ValueError(f"{value!r} is not an HTTP header name, e.g. X-Forwarded-Email")
        return value

    @field_validator("public_url", mode="after")
    @classmethod
    def _check_public_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip().rstrip("/")
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError(
                f"{value!r} is not an http(s) URL; give the address people reach the service "
                "at, e.g. https://pdsearch.example.com"
            )
        return value

    @field_validator("log_level", mode="after")
    @classmethod
    def _check_log_level(cls, value: str) -> str:
        value = value.strip().lower()
        if value not in _LOG_LEVELS:
            raise ValueError(f"log_level must be one of {', '.join(_LOG_LEVELS)}")
        return value

    @property
    def state_path(self) -> Path:
        return self.home / "state.db"

    @property
    def index_path(self) -> Path:
        return self.home / "index.db"

    @property
    def config_path(self) -> Path:
        """Where the settings file is (or would be) read from."""
        return config_file_path(self.home)

    @property
    def key_path(self) -> Path:
        """The secret key file used when no ``secret_key`` is configured."""
        return self.home / "secret.key"
