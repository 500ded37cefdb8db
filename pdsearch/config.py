"""Configuration, read once at the edge (CLI, ``create_app``) and passed down."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


def default_home() -> Path:
    return Path(os.environ.get("PDSEARCH_HOME") or Path.home() / ".pdsearch")


class Settings(BaseSettings):
    """pdsearch's settings. Environment variables are prefixed ``PDSEARCH_``."""

    model_config = SettingsConfigDict(env_prefix="PDSEARCH_", extra="ignore")

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

    @property
    def state_path(self) -> Path:
        return self.home / "state.db"

    @property
    def index_path(self) -> Path:
        return self.home / "index.db"
