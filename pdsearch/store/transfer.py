"""Copying the state from one store into another: ``pdsearch migrate`` (SQLite to PostgreSQL).

What is copied, as it is: connectors (with their encrypted credentials), schedules (with when
they last fired), permission entities with their derived and manual members, and the job
history (in its order). What is not: OAuth states, tickets and leases, which live minutes and are
made again on demand; and the search index, which is not part of the state (a sync fills a new
one). A job still queued or running in the source cannot be running any more once the service
has moved: it arrives failed, with the reason.

Secrets: when the source has one key and the target encrypts with that same key, the encrypted
blobs are copied untouched (the secrets are never decrypted); otherwise each is decrypted with the
source's key(s) and encrypted with the target's first key.

Everything is written in one transaction on the target: a failure leaves it as it was. A target
that already holds connectors, jobs, schedules or entities is refused unless ``replace`` is
given, which first removes what it holds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pdsearch.crypto import SecretKeyError, key_file_path, load_or_create_key_file, validate_key
from pdsearch.store.core import Store
from pdsearch.store.database import POSTGRES_SCHEMES
from pdsearch.store.errors import ConflictError, StoreError
from pdsearch.store.jobs import INTERRUPTED_ERROR
from pdsearch.store.records import ACTIVE_JOB_STATUSES, utcnow
from pdsearch.store.schema import connectors, entities, entity_members, jobs, schedules

if TYPE_CHECKING:
    from pdsearch.config import Settings

_COPIED = (connectors, schedules, entities, entity_members, jobs)


@dataclass(frozen=True)
class CopyReport:
    """What ``copy_state`` copied."""

    connectors: int
    schedules: int
    entities: int
    members: int
    jobs: int
    interrupted_jobs: int  # queued or running in the source: copied as failed
    reencrypted: bool  # False: the keys are the same and the blobs were copied as they are
    replaced: bool  # the target held state, which was removed first

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def copy_state(source: Store, target: Store, *, replace: bool = False) -> CopyReport:
    """Copy ``source``'s connectors, schedules, entities and job history into ``target``."""
    if source is target or (
        source.path is not None and target.path is not None
        and source.path.resolve() == target.path.resolve()
    ):
        raise StoreError("The source and the target are the same database.")
    with source._db.read() as conn:
        rows = {table.name: _rows(conn, table) for table in _COPIED}
    # Copied as they are only when the source knows one key and it is the one the target
    # encrypts with; otherwise each secret moves to the target's first key.
    same_key = source._sealer.fingerprint == target._sealer.primary_fingerprint
    for row in rows["connectors"]:
        if not same_key:
            row["credentials"] = target._sealer.seal(source._sealer.open(row["credentials"]))
    interrupted = 0
    now = utcnow()
    for row in rows["jobs"]:
        del row["seq"]  # the target numbers them, in the same order
        if row["status"] in ACTIVE_JOB_STATUSES:
            row.update(status="failed", error=INTERRUPTED_ERROR, finished_at=now)
            interrupted += 1
    with target._db.write() as conn:
        held = _held(conn)
        if held and not replace:
            raise ConflictError(
                f"The target database {target.location} already holds state ({held}). "
                "Choose an empty database, or replace what it holds (pdsearch migrate --force)."
            )
        if held:
            # Everything else hangs from connectors (ON DELETE CASCADE).
            conn.execute(connectors.delete())
        for table in _COPIED:
            if rows[table.name]:
                conn.execute(table.insert(), rows[table.name])
    return CopyReport(
        connectors=len(rows["connectors"]),
        schedules=len(rows["schedules"]),
        entities=len(rows["entities"]),
        members=len(rows["entity_members"]),
        jobs=len(rows["jobs"]),
        interrupted_jobs=interrupted,
        reencrypted=not same_key and bool(rows["connectors"]),
        replaced=bool(held),
    )


def _rows(conn: Connection, table: sa.Table) -> list[dict[str, Any]]:
    order = [table.c.seq] if table is jobs else list(table.primary_key.columns)
    return [dict(r) for r in conn.execute(sa.select(table).order_by(*order)).mappings()]


def _held(conn: Connection) -> str:
    """What the target already holds, in words; empty when it holds nothing."""
    parts = []
    for table in _COPIED:
        count = conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
        if count:
            parts.append(f"{count} {table.name.replace('_', ' ')}")
    return ", ".join(parts)


def migrate_state(
    settings: Settings,
    target_url: str,
    *,
    replace: bool = False,
    busy: Callable[[Store], str | None] | None = None,
) -> tuple[CopyReport, str]:
    """Copy the data directory's SQLite state into the database at ``target_url`` (creating or
    upgrading its schema); returns the report and the target as it may be shown.

    Keys: the source is read with every key there is (``PDSEARCH_SECRET_KEY``'s, then the data
    directory's key file), the target written with ``PDSEARCH_SECRET_KEY`` when set, else the
    key file; so ``PDSEARCH_SECRET_KEY="<new>,<old>"`` moves the secrets to a new key on the way.
    ``busy(source)`` may name a reason not to copy now (a sync still running)."""
    scheme = target_url.split("://", 1)[0].lower() if "://" in target_url else ""
    if scheme not in POSTGRES_SCHEMES:
        raise StoreError(
            "The target must be a PostgreSQL database: postgresql://user:password@host:port/db."
        )
    path = settings.state_path
    if not path.is_file():
        raise StoreError(
            f"There is no state file at {path}: nothing to migrate. Give the data directory of "
            "the installation to move with --data-dir (or PDSEARCH_HOME)."
        )
    configured = _configured_keys(settings)
    key_file = key_file_path(settings.home)
    file_key = _read_key(key_file) if key_file.is_file() else None
    source_keys = [*configured, *([file_key] if file_key else [])]
    if not source_keys:
        raise StoreError(
            f"No secret key to read the stored credentials with: neither PDSEARCH_SECRET_KEY "
            f"nor the key file {key_file} is there."
        )
    target_keys = configured or source_keys[:1]
    with Store(path, b",".join(dict.fromkeys(source_keys))) as source:
        reason = busy(source) if busy is not None else None
        if reason:
            raise ConflictError(reason)
        with Store(target_url, b",".join(target_keys)) as target:
            return copy_state(source, target, replace=replace), target.location


def _configured_keys(settings: Settings) -> list[bytes]:
    if settings.secret_key is None:
        return []
    raw = settings.secret_key.get_secret_value().strip().encode()
    try:
        return validate_key(raw, "PDSEARCH_SECRET_KEY").split(b",")
    except SecretKeyError as exc:
        raise StoreError(str(exc)) from None


def _read_key(path: Path) -> bytes:
    try:
        return load_or_create_key_file(path).split(b",")[0]
    except (SecretKeyError, OSError) as exc:
        raise StoreError(f"Cannot read the key file {path}: {exc}") from None
