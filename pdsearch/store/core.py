"""The ``Store`` class: all of the service's state behind one object."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from pdsearch.crypto import SecretKeyError, resolve_key
from pdsearch.store.connectors import ConnectorsMixin
from pdsearch.store.entities import EntitiesMixin
from pdsearch.store.errors import StoreError
from pdsearch.store.jobs import JobsMixin
from pdsearch.store.oauth_states import OAuthStatesMixin
from pdsearch.store.schedules import SchedulesMixin

if TYPE_CHECKING:
    from pdsearch.config import Settings


class Store(ConnectorsMixin, JobsMixin, SchedulesMixin, EntitiesMixin, OAuthStatesMixin):
    """The service's state in one SQLite file; safe to share between threads."""

    @classmethod
    def open(cls, settings: Settings) -> Store:
        """Open (creating when needed) ``settings.state_path``: makes the data directory (0700)
        and, when no secret key is configured, the key file in it (0600)."""
        home = Path(settings.home)
        try:
            home.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise StoreError(
                f"Cannot create the data directory {home}: {exc.strerror}. Choose another "
                "with --data-dir or PDSEARCH_HOME."
            ) from None
        try:
            key = resolve_key(settings)
        except SecretKeyError as exc:
            raise StoreError(str(exc)) from None
        except OSError as exc:
            raise StoreError(
                f"Cannot read or create the secret key file in {home}: {exc.strerror}."
            ) from None
        store = cls(settings.state_path, key)
        # The database holds only encrypted secrets, but its metadata is nobody else's business.
        for suffix in ("", "-wal", "-shm"):
            p = Path(f"{settings.state_path}{suffix}")
            if p.exists():
                os.chmod(p, 0o600)
        return store

    def __enter__(self) -> Store:
        return self

    def rotate_secrets(self) -> int:
        """Re-encrypt every stored secret with the first configured key (after
        PDSEARCH_SECRET_KEY="<new>,<old>"); returns how many were rewritten. One transaction:
        a secret no configured key opens aborts it with StoreError, changing nothing."""
        count = 0
        with self._tx() as conn:
            for table, key_col, col in (
                ("connectors", "id", "credentials"),
                ("oauth_states", "state_hash", "code_verifier"),
            ):
                rows = conn.execute(f"SELECT {key_col}, {col} FROM {table}").fetchall()  # noqa: S608
                for row in rows:
                    try:
                        blob = self._cipher.rotate(row[1])
                    except SecretKeyError as exc:
                        raise StoreError(str(exc)) from None
                    conn.execute(
                        f"UPDATE {table} SET {col} = ? WHERE {key_col} = ?",  # noqa: S608
                        (blob, row[0]),
                    )
                    count += 1
        return count
