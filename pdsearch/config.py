"""Configuration, read once at the edge (CLI, ``create_app``) and passed down.

Where each setting comes from, first match wins:

1. arguments given in code, e.g. the CLI's ``--data-dir`` (``Settings(home=...)`` or
   ``Settings.load(data_dir)``);
2. environment variables ``PDSEARCH_<NAME>`` (``PDSEARCH_HOME``, ``PDSEARCH_API_TOKEN``, ...);
3. the settings file: the TOML file named by ``PDSEARCH_CONFIG``, else ``<home>/config.toml``
   when it exists, with the same names as keys (``api_token = "..."``, ``port = 8080``);
4. the defaults below. The data directory defaults to ``~/.pdsearch``.

A settings file holding ``api_token``, ``secret_key`` or ``index_password`` should be readable by
its owner only (``chmod 600``); pdsearch warns when it is not.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import re
import stat
import tomllib
from pathlib import Path
from typing import Annotated, Any, Final

from pydantic import Field, SecretStr, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

log = logging.getLogger(__name__)

CONFIG_FILE_NAME: Final = "config.toml"
_HEADER_NAME: Final = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")
_LOG_LEVELS: Final = ("debug", "info", "warning", "error")
#: ``trusted_proxies`` entry that trusts every address (an explicit opt-in).
ANY_ADDRESS: Final = "*"

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
_DATABASE_SCHEMES: Final = ("postgresql", "postgres", "postgresql+psycopg", "sqlite")


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
        secret_keys = ("api_token", "secret_key", "index_password")
        if any(key in data for key in secret_keys) and _others_can_read(path):
            log.warning(
                "the settings file %s holds secrets but other users can read it; run chmod 600",
                path,
            )
        for key in ("home", "index_ca_certs"):  # relative paths are relative to the file
            if isinstance(data.get(key), str):
                named = Path(data[key]).expanduser()
                data[key] = named if named.is_absolute() else path.parent / named
        return data


def _others_can_read(path: Path) -> bool:
    try:
        return bool(stat.S_IMODE(path.stat().st_mode) & 0o077)
    except OSError:
        return False


class Settings(BaseSettings):
    """pdsearch's settings. Environment variables are prefixed ``PDSEARCH_``."""

    # hide_input_in_errors: a bad value may be a secret (a token, a key, a database URL with
    # its password), and a ValidationError's text would otherwise quote it.
    model_config = SettingsConfigDict(
        env_prefix="PDSEARCH_", extra="ignore", env_ignore_empty=True, hide_input_in_errors=True
    )

    home: Path = Field(default_factory=default_home, description="data directory")
    api_token: SecretStr | None = Field(default=None, description="bearer token of the REST API")
    secret_key: SecretStr | None = Field(
        default=None, description="Fernet key for secrets at rest; else a key file in home"
    )
    user_header: str = Field(
        default="X-Forwarded-Email",
        description="header naming the search page's user, believed only from trusted_proxies",
    )
    # NoDecode: the environment gives a comma-separated list ("10.0.0.5, 10.1.0.0/16"), the way
    # uvicorn's --forwarded-allow-ips reads, not JSON.
    trusted_proxies: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(),
        description="addresses (IPs or CIDR networks) of the SSO proxies allowed to send "
        "user_header; '*' trusts any address; empty: the header is never believed",
    )
    public_url: str | None = Field(
        default=None, description="the service's external URL, for the OAuth redirect"
    )
    host: str = Field(default="127.0.0.1", description="interface `pdsearch serve` listens on")
    port: int = Field(default=8000, ge=0, le=65535, description="TCP port of `pdsearch serve`")
    log_level: str = Field(default="info", description="debug, info, warning or error")
    oncall_refresh_minutes: int = Field(
        default=10, ge=0, le=1440,
        description="minutes between on-call refreshes of each connector (0: off)",
    )
    oncall_window_days: int = Field(
        default=7, ge=1, le=90, description="how far ahead on-call data reaches (PagerDuty: 90)"
    )
    semantic: bool = Field(
        default=True,
        description="hybrid search: keyword and meaning (the embedding model) fused; "
        "off: keyword search only (on/off, true/false)",
    )
    # The search index (pdsearch/index/factory.py): the SQLite file in home unless a URL is set.
    index_url: str | None = Field(
        default=None,
        description="none: the SQLite index in home; http(s)://host:port: OpenSearch",
    )
    index_username: str | None = Field(default=None, description="OpenSearch user")
    index_password: SecretStr | None = Field(default=None, description="OpenSearch password")
    index_ca_certs: Path | None = Field(
        default=None, description="CA certificates (PEM) to verify OpenSearch's TLS certificate"
    )
    index_verify_certs: bool = Field(
        default=True, description="verify OpenSearch's TLS certificate (https)"
    )
    index_prefix: str = Field(
        default="pdsearch", description="OpenSearch names: alias <prefix>-docs"
    )
    database_url: SecretStr | None = Field(
        default=None,
        description="PostgreSQL for the state (postgresql://user:password@host:port/db); "
        "default the SQLite file in home",
    )

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

    @field_validator("api_token", "secret_key", "index_password", mode="after")
    @classmethod
    def _blank_is_unset(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        return SecretStr(value.get_secret_value().strip())

    @field_validator("database_url", mode="after")
    @classmethod
    def _check_database_url(cls, value: SecretStr | None) -> SecretStr | None:
        # The URL holds a password: messages name the scheme at most, never the value.
        if value is None or not value.get_secret_value().strip():
            return None
        url = value.get_secret_value().strip()
        scheme = url.split("://", 1)[0].lower() if "://" in url else ""
        if scheme not in _DATABASE_SCHEMES:
            raise ValueError(
                "must be a PostgreSQL URL, postgresql://user:password@host:port/database "
                "(leave it unset for the SQLite file in the data directory)"
            )
        return SecretStr(url)

    @field_validator("user_header", mode="after")
    @classmethod
    def _check_header(cls, value: str) -> str:
        value = value.strip()
        if not _HEADER_NAME.match(value):
            raise ValueError(f"{value!r} is not an HTTP header name, e.g. X-Forwarded-Email")
        return value

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _split_proxies(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(part for part in re.split(r"[,\s]+", value) if part)
        return value

    @field_validator("trusted_proxies", mode="after")
    @classmethod
    def _check_proxies(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        out: list[str] = []
        for entry in value:
            entry = entry.strip()
            if entry == ANY_ADDRESS:
                out.append(entry)
                continue
            try:
                out.append(str(ipaddress.ip_network(entry, strict=False)))
            except ValueError:
                raise ValueError(
                    f"{entry!r} is not an IP address or network; give the SSO proxy's address "
                    "(e.g. 10.0.0.5, 10.0.0.0/24, ::1) or '*' to trust any address"
                ) from None
        return tuple(out)

    @property
    def trusted_proxy_networks(self) -> tuple[IPNetwork, ...]:
        """``trusted_proxies`` as networks (without ``*``)."""
        return tuple(
            ipaddress.ip_network(entry) for entry in self.trusted_proxies if entry != ANY_ADDRESS
        )

    def trusts_proxy(self, address: str | None) -> bool:
        """True when a request whose peer is ``address`` may name the user in ``user_header``.

        ``address`` is the TCP peer (the proxy), never a forwarded-for header: anybody can
        write one of those."""
        if ANY_ADDRESS in self.trusted_proxies:
            return True
        if not address:
            return False
        try:
            ip = ipaddress.ip_address(address.strip("[]"))
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped  # a dual-stack socket shows IPv4 peers as ::ffff:a.b.c.d
        return any(ip in network for network in self.trusted_proxy_networks)

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

    @field_validator("index_url", mode="after")
    @classmethod
    def _check_index_url(cls, value: str | None) -> str | None:
        # Messages never repeat the value: it could hold a password.
        if value is None or not value.strip():
            return None
        value = value.strip().rstrip("/")
        if not re.match(r"^https?://[^/\s]+", value, re.IGNORECASE):
            raise ValueError(
                "must be empty (the SQLite index in the data directory) or an OpenSearch URL "
                "such as https://search.example.com:9200"
            )
        if "@" in value.split("://", 1)[1].split("/", 1)[0]:
            raise ValueError(
                "must not hold credentials: set index_username and index_password "
                "(PDSEARCH_INDEX_USERNAME, PDSEARCH_INDEX_PASSWORD) instead"
            )
        return value

    @field_validator("index_username", mode="after")
    @classmethod
    def _blank_username(cls, value: str | None) -> str | None:
        return value.strip() or None if value is not None else None

    @field_validator("index_ca_certs", mode="after")
    @classmethod
    def _check_ca_certs(cls, value: Path | None) -> Path | None:
        if value is None or not str(value).strip():
            return None
        value = value.expanduser()
        if not value.is_file():
            raise ValueError(f"{value} is not a file; give a PEM file of CA certificates")
        return value

    @field_validator("index_prefix", mode="after")
    @classmethod
    def _check_index_prefix(cls, value: str) -> str:
        value = value.strip()
        if not re.match(r"^[a-z0-9][a-z0-9_-]{0,99}$", value):
            raise ValueError(
                "use 1 to 100 lower-case letters, digits, '-' or '_', starting with a letter or "
                "digit (OpenSearch index names)"
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
