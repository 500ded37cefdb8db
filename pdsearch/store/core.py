"""The ``Store``: the service's state as repositories over one database handle."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa

from pdsearch.crypto import SecretKeyError, resolve_key
from pdsearch.store import migrations
from pdsearch.store.connectors import ConnectorRepository
from pdsearch.store.database import Database
from pdsearch.store.entities import EntityRepository
from pdsearch.store.errors import StoreError
from pdsearch.store.jobs import JobRepository
from pdsearch.store.leases import LeaseRepository
from pdsearch.store.oauth import OAuthStateRepository
from pdsearch.store.oncall import OnCallRepository
from pdsearch.store.schedules import ScheduleRepository
from pdsearch.store.schema import connectors, oauth_states
from pdsearch.store.sealing import Sealer
from pdsearch.store.sync_state import SyncStateRepository
from pdsearch.store.tickets import TicketRepository

if TYPE_CHECKING:
    from pdsearch.config import Settings

log = logging.getLogger(__name__)


class Store:
    """The service's state: SQLite (a file) or PostgreSQL (a URL); safe to share between
    threads, processes and, on PostgreSQL, replicas.

    ``location`` is a file path or a database URL; the schema is created or upgraded on open.
    """

    def __init__(
        self, location: str | Path, secret_key: bytes, *, job_history: int = 1000
    ) -> None:
        self._sealer = Sealer(secret_key)
        self._db = Database(location)
        try:
            if self._db.path is not None and not self._db.path.parent.is_dir():
                raise StoreError(
                    f"Cannot open the state database {self._db.path}: its directory does not "
                    "exist. Check that the data directory exists and is writable."
                )
            migrations.upgrade(self._db)
        except BaseException:
            self._db.close()
            raise
        self._db.opening = False
        self.connectors = ConnectorRepository(self._db, self._sealer)
        self.jobs = JobRepository(self._db, history=job_history)
        self.schedules = ScheduleRepository(self._db)
        self.entities = EntityRepository(self._db)
        self.oauth = OAuthStateRepository(self._db, self._sealer)
        self.tickets = TicketRepository(self._db)
        self.leases = LeaseRepository(self._db)
        self.sync_state = SyncStateRepository(self._db)
        self.oncall = OnCallRepository(self._db)

    @classmethod
    def open(cls, settings: Settings) -> Store:
        """The store ``settings`` name: PostgreSQL at ``settings.database_url`` when set, else
        the SQLite file ``settings.state_path``. Makes the data directory (0700) and, when no
        secret key is configured, the key file in it (0600)."""
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
        if settings.database_url is not None:
            if settings.secret_key is None:
                log.warning(
                    "PDSEARCH_DATABASE_URL is set but PDSEARCH_SECRET_KEY is not: secrets are "
                    "encrypted with the key file %s, which every replica must share",
                    settings.key_path,
                )
            return cls(settings.database_url.get_secret_value(), key)
        store = cls(settings.state_path, key)
        # The database holds only encrypted secrets, but its metadata is nobody else's business.
        for suffix in ("", "-wal", "-shm"):
            p = Path(f"{settings.state_path}{suffix}")
            if p.exists():
                os.chmod(p, 0o600)
        return store

    @property
    def path(self) -> Path | None:
        """The SQLite file, or None on PostgreSQL."""
        return self._db.path

    @property
    def dialect(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return self._db.dialect

    @property
    def location(self) -> str:
        """The file, or the URL with its password masked: fit for logs and messages."""
        return self._db.display

    def __repr__(self) -> str:
        return f"Store({self._db.display!r})"

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def applied_migrations(self) -> list[str]:
        """Names of the applied schema migrations, oldest first."""
        return migrations.applied(self._db)

    def rotate_secrets(self) -> int:
        """Re-encrypt every stored secret with the first configured key (after
        PDSEARCH_SECRET_KEY="<new>,<old>"); returns how many were rewritten. One transaction:
        a secret no configured key opens aborts it with StoreError, changing nothing."""
        count = 0
        with self._db.write() as conn:
            for table, key_col, col in (
                (connectors, connectors.c.id, connectors.c.credentials),
                (oauth_states, oauth_states.c.state_hash, oauth_states.c.code_verifier),
            ):
                for key, blob in conn.execute(sa.select(key_col, col).with_for_update()).all():
                    rotated = self._sealer.rotate(blob)
                    conn.execute(table.update().where(key_col == key).values({col: rotated}))
                    count += 1
        return count
