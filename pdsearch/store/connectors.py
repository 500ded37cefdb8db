"""Connectors and their encrypted credentials (``store.connectors``)."""

from __future__ import annotations

import unicodedata
import uuid
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy import exc
from sqlalchemy.engine import Connection, RowMapping

from pdsearch.store.database import Database
from pdsearch.store.errors import ConflictError, InvalidValueError, NotFoundError
from pdsearch.store.records import (
    AUTH_TYPES,
    CONNECTOR_STATUSES,
    REGIONS,
    Connector,
    utcnow,
)
from pdsearch.store.schema import connectors
from pdsearch.store.sealing import Sealer

_UPDATABLE: Final = frozenset(
    {"name", "auth_type", "region", "base_url", "oauth_base_url", "status", "subdomain",
     "last_error"}
)
_PUBLIC_COLUMNS: Final = [c for c in connectors.c if c.name != "credentials"]
_BIDI_CONTROLS: Final = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")

ConnectorPage = tuple[list[Connector], int]
_GET: Final = sa.select(*_PUBLIC_COLUMNS).where(connectors.c.id == sa.bindparam("id"))


def _to_connector(row: RowMapping) -> Connector:
    return Connector(
        id=row["id"],
        name=row["name"],
        auth_type=row["auth_type"],
        region=row["region"],
        base_url=row["base_url"],
        oauth_base_url=row["oauth_base_url"],
        status=row["status"],
        subdomain=row["subdomain"],
        last_error=row["last_error"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _check_choice(field: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise InvalidValueError(f"{field} must be one of {', '.join(choices)}; got {value!r}.")


def _check_name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip():
        raise InvalidValueError("A connector needs a non-empty name.")
    if len(name.strip()) > 200:
        raise InvalidValueError("A connector name must be at most 200 characters.")
    if any(unicodedata.category(c) == "Cc" or c in _BIDI_CONTROLS for c in name.strip()):
        # A name is printed in tables, pages and terminals: NUL, escape sequences or
        # right-to-left overrides there would garble or disguise what is shown.
        raise InvalidValueError(
            "A connector name must not contain control characters (tabs, line breaks, NUL, "
            "escape sequences or text-direction overrides)."
        )
    return name.strip()


def _check_credentials(creds: dict[str, str]) -> dict[str, str]:
    if not isinstance(creds, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in creds.items()
    ):
        # Never echo the values: they are secrets.
        raise InvalidValueError("Credentials must be a mapping of text fields to text values.")
    return dict(creds)


def _taken(name: Any) -> ConflictError:
    return ConflictError(f"A connector named {name!r} already exists; choose another name.")


def _missing(connector_id: str) -> NotFoundError:
    return NotFoundError(f"No connector with id {connector_id!r}.")


class ConnectorRepository:
    """Connectors: ``Connector`` records never hold a secret; credentials are one sealed blob."""

    def __init__(self, db: Database, sealer: Sealer) -> None:
        self._db = db
        self._sealer = sealer

    def create(
        self,
        name: str,
        auth_type: str,
        region: str,
        credentials: dict[str, str],
        base_url: str | None = None,
        oauth_base_url: str | None = None,
    ) -> Connector:
        """A new connector: status ``new``, or ``needs_authorization`` for an oauth2 connector
        without an ``access_token``. A taken name (case-insensitive) is a ConflictError."""
        name = _check_name(name)
        _check_choice("auth_type", auth_type, AUTH_TYPES)
        _check_choice("region", region, REGIONS)
        blob = self._sealer.seal(_check_credentials(credentials))
        now = utcnow()
        needs_auth = auth_type == "oauth2" and not credentials.get("access_token")
        values = {
            "id": uuid.uuid4().hex, "name": name, "auth_type": auth_type, "region": region,
            "base_url": base_url, "oauth_base_url": oauth_base_url,
            "status": "needs_authorization" if needs_auth else "new",
            "credentials": blob, "created_at": now, "updated_at": now,
        }
        with self._db.write() as conn:
            if self._name_taken(conn, name):
                raise _taken(name)
            try:
                row = conn.execute(
                    connectors.insert().values(values).returning(*_PUBLIC_COLUMNS)
                ).mappings().one()
            except exc.IntegrityError:  # a concurrent create on PostgreSQL
                raise _taken(name) from None
        return _to_connector(row)

    def get(self, connector_id: str) -> Connector:
        """The connector, or NotFoundError."""
        with self._db.read() as conn:
            row = conn.execute(_GET, {"id": connector_id}).mappings().first()
        if row is None:
            raise _missing(connector_id)
        return _to_connector(row)

    def get_by_name(self, name: str) -> Connector:
        """The connector of that name (case-insensitive), or NotFoundError."""
        with self._db.read() as conn:
            row = conn.execute(
                sa.select(*_PUBLIC_COLUMNS).where(
                    sa.func.lower(connectors.c.name) == sa.func.lower(name.strip())
                )
            ).mappings().first()
        if row is None:
            raise NotFoundError(f"No connector named {name!r}.")
        return _to_connector(row)

    def list(self, skip: int = 0, limit: int = 100) -> ConnectorPage:
        """Connectors oldest first, and how many there are in all."""
        with self._db.read() as conn:
            total = conn.execute(sa.select(sa.func.count()).select_from(connectors)).scalar_one()
            rows = conn.execute(
                sa.select(*_PUBLIC_COLUMNS)
                .order_by(connectors.c.created_at, connectors.c.id)
                .limit(max(0, limit))
                .offset(max(0, skip))
            ).mappings().all()
        return [_to_connector(r) for r in rows], int(total)

    def update(self, connector_id: str, **changes: Any) -> Connector:
        """Change any of name, auth_type, region, base_url, oauth_base_url, status, subdomain,
        last_error. Unknown fields raise InvalidValueError; a taken name ConflictError."""
        unknown = set(changes) - _UPDATABLE
        if unknown:
            raise InvalidValueError(f"Cannot change {', '.join(sorted(unknown))} of a connector.")
        if "name" in changes:
            changes["name"] = _check_name(changes["name"])
        if "auth_type" in changes:
            _check_choice("auth_type", changes["auth_type"], AUTH_TYPES)
        if "region" in changes:
            _check_choice("region", changes["region"], REGIONS)
        if "status" in changes:
            _check_choice("status", changes["status"], CONNECTOR_STATUSES)
        if not changes:
            return self.get(connector_id)
        with self._db.write() as conn:
            if "name" in changes and self._name_taken(conn, changes["name"], connector_id):
                raise _taken(changes["name"])
            try:
                row = conn.execute(
                    connectors.update()
                    .where(connectors.c.id == connector_id)
                    .values(**changes, updated_at=utcnow())
                    .returning(*_PUBLIC_COLUMNS)
                ).mappings().first()
            except exc.IntegrityError:
                raise _taken(changes.get("name")) from None
        if row is None:
            raise _missing(connector_id)
        return _to_connector(row)

    def set_status(
        self,
        connector_id: str,
        status: str,
        *,
        subdomain: str | None = None,
        error: str | None = None,
    ) -> Connector:
        """Set the status; ``last_error`` becomes ``error`` (so a success clears it) and the
        subdomain is changed only when given."""
        changes: dict[str, Any] = {"status": status, "last_error": error}
        if subdomain is not None:
            changes["subdomain"] = subdomain
        return self.update(connector_id, **changes)

    def delete(self, connector_id: str) -> None:
        """Remove the connector with its jobs, schedule, entities and OAuth states."""
        with self._db.write() as conn:
            result = conn.execute(connectors.delete().where(connectors.c.id == connector_id))
        if result.rowcount == 0:
            raise _missing(connector_id)

    def get_credentials(self, connector_id: str) -> dict[str, str]:
        """The decrypted credentials, e.g. {"api_key"} or {"client_id", "client_secret",
        "access_token", "refresh_token", "expires_at"}."""
        with self._db.read() as conn:
            blob = conn.execute(
                sa.select(connectors.c.credentials).where(connectors.c.id == connector_id)
            ).scalar_one_or_none()
        if blob is None:
            raise _missing(connector_id)
        return self._open(blob)

    def set_credentials(self, connector_id: str, credentials: dict[str, str]) -> None:
        """Replace the credentials as a whole."""
        blob = self._sealer.seal(_check_credentials(credentials))
        with self._db.write() as conn:
            self._write_credentials(conn, connector_id, blob)

    def update_credentials(self, connector_id: str, **fields: str | None) -> dict[str, str]:
        """Merge fields into the credentials (a None value removes the field), atomically, e.g.
        to persist rotated OAuth tokens. Returns the new credentials."""
        with self._db.write() as conn:
            # FOR UPDATE: two replicas refreshing one connector's token must not both read the
            # old credentials and lose one write (SQLite's write lock already serialises them).
            blob = conn.execute(
                sa.select(connectors.c.credentials)
                .where(connectors.c.id == connector_id)
                .with_for_update()
            ).scalar_one_or_none()
            if blob is None:
                raise _missing(connector_id)
            creds = self._open(blob)
            for key, value in fields.items():
                if value is None:
                    creds.pop(key, None)
                else:
                    creds[key] = value
            sealed = self._sealer.seal(_check_credentials(creds))
            self._write_credentials(conn, connector_id, sealed)
        return creds

    # --- inside the store ------------------------------------------------------------------

    def _open(self, blob: bytes) -> dict[str, str]:
        value = self._sealer.open(blob)
        if not isinstance(value, dict):
            raise InvalidValueError("The stored credentials are damaged; enter them again.")
        return {str(k): str(v) for k, v in value.items()}

    def _write_credentials(self, conn: Connection, connector_id: str, blob: bytes) -> None:
        result = conn.execute(
            connectors.update()
            .where(connectors.c.id == connector_id)
            .values(credentials=blob, updated_at=utcnow())
        )
        if result.rowcount == 0:
            raise _missing(connector_id)

    @staticmethod
    def _name_taken(conn: Connection, name: str, other_than: str | None = None) -> bool:
        query = sa.select(connectors.c.id).where(
            sa.func.lower(connectors.c.name) == sa.func.lower(name)
        )
        if other_than is not None:
            query = query.where(connectors.c.id != other_than)
        return conn.execute(query.limit(1)).first() is not None
