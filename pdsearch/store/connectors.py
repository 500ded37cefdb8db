"""Connectors and their encrypted credentials."""

from __future__ import annotations

import sqlite3
import unicodedata
import uuid
from typing import Any, Final

from pdsearch.store.db import StoreBase
from pdsearch.store.errors import ConflictError, InvalidValueError, NotFoundError
from pdsearch.store.records import (
    AUTH_TYPES,
    CONNECTOR_STATUSES,
    REGIONS,
    Connector,
    from_db_time,
    to_db_time,
    utcnow,
)

_UPDATABLE: Final = frozenset(
    {"name", "auth_type", "region", "base_url", "oauth_base_url", "status", "subdomain",
     "last_error"}
)


def _row_to_connector(row: sqlite3.Row) -> Connector:
    created = from_db_time(row["created_at"])
    updated = from_db_time(row["updated_at"])
    assert created is not None and updated is not None
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
        created_at=created,
        updated_at=updated,
    )


def _check_choice(field: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise InvalidValueError(
            f"{field} must be one of {', '.join(choices)}; got {value!r}."
        )


_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


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


class ConnectorsMixin(StoreBase):
    def create_connector(
        self,
        name: str,
        auth_type: str,
        region: str,
        credentials: dict[str, str],
        base_url: str | None = None,
        oauth_base_url: str | None = None,
    ) -> Connector:
        name = _check_name(name)
        _check_choice("auth_type", auth_type, AUTH_TYPES)
        _check_choice("region", region, REGIONS)
        blob = self._encrypt_json(_check_credentials(credentials))
        now = to_db_time(utcnow())
        cid = uuid.uuid4().hex
        status = "needs_authorization" if auth_type == "oauth2" and not credentials.get(
            "access_token"
        ) else "new"
        try:
            with self._tx() as conn:
                conn.execute(
                    "INSERT INTO connectors (id, name, auth_type, region, base_url, "
                    "oauth_base_url, status, credentials, created_at, updated_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (cid, name, auth_type, region, base_url, oauth_base_url, status, blob, now,
                     now),
                )
        except sqlite3.IntegrityError:
            raise ConflictError(
                f"A connector named {name!r} already exists; choose another name."
            ) from None
        return self.get_connector(cid)

    def get_connector(self, connector_id: str) -> Connector:
        rows = self._read("SELECT * FROM connectors WHERE id = ?", (connector_id,))
        if not rows:
            raise NotFoundError(f"No connector with id {connector_id!r}.")
        return _row_to_connector(rows[0])

    def get_connector_by_name(self, name: str) -> Connector:
        """The connector of that name (case-insensitive), or NotFoundError."""
        rows = self._read("SELECT * FROM connectors WHERE name = ?", (name.strip(),))
        if not rows:
            raise NotFoundError(f"No connector named {name!r}.")
        return _row_to_connector(rows[0])

    def list_connectors(self, skip: int = 0, limit: int = 100) -> tuple[list[Connector], int]:
        """Connectors oldest first, and how many there are in all."""
        with self._lock:
            total = self._read("SELECT COUNT(*) FROM connectors")[0][0]
            rows = self._read(
                "SELECT * FROM connectors ORDER BY created_at, id LIMIT ? OFFSET ?",
                (max(0, limit), max(0, skip)),
            )
        return [_row_to_connector(r) for r in rows], int(total)

    def update_connector(self, connector_id: str, **changes: Any) -> Connector:
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
            return self.get_connector(connector_id)
        changes["updated_at"] = to_db_time(utcnow())
        assignments = ", ".join(f"{k} = :{k}" for k in changes)
        try:
            with self._tx() as conn:
                cur = conn.execute(
                    f"UPDATE connectors SET {assignments} WHERE id = :_id",  # noqa: S608
                    {**changes, "_id": connector_id},
                )
                if cur.rowcount == 0:
                    raise NotFoundError(f"No connector with id {connector_id!r}.")
        except sqlite3.IntegrityError:
            raise ConflictError(
                f"A connector named {changes.get('name')!r} already exists; choose another name."
            ) from None
        return self.get_connector(connector_id)

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
        return self.update_connector(connector_id, **changes)

    def delete_connector(self, connector_id: str) -> None:
        """Remove the connector with its jobs, schedule, entities and OAuth states."""
        with self._tx() as conn:
            cur = conn.execute("DELETE FROM connectors WHERE id = ?", (connector_id,))
            if cur.rowcount == 0:
                raise NotFoundError(f"No connector with id {connector_id!r}.")

    def get_credentials(self, connector_id: str) -> dict[str, str]:
        """The decrypted credentials, e.g. {"api_key"} or {"client_id", "client_secret",
        "access_token", "refresh_token", "expires_at"}."""
        rows = self._read("SELECT credentials FROM connectors WHERE id = ?", (connector_id,))
        if not rows:
            raise NotFoundError(f"No connector with id {connector_id!r}.")
        value = self._decrypt_json(rows[0][0])
        assert isinstance(value, dict)
        return {str(k): str(v) for k, v in value.items()}

    def set_credentials(self, connector_id: str, credentials: dict[str, str]) -> None:
        """Replace the credentials as a whole."""
        with self._tx():
            self._write_credentials(connector_id, credentials)

    def update_credentials(self, connector_id: str, **fields: str | None) -> dict[str, str]:
        """Merge fields into the credentials (a None value removes the field), atomically, e.g.
        to persist rotated OAuth tokens. Returns the new credentials."""
        with self._tx():
            creds = self.get_credentials(connector_id)
            for key, value in fields.items():
                if value is None:
                    creds.pop(key, None)
                else:
                    creds[key] = value
            self._write_credentials(connector_id, creds)
        return creds

    def _write_credentials(self, connector_id: str, credentials: dict[str, str]) -> None:
        """Inside a transaction: replace the credentials blob, or NotFoundError."""
        blob = self._encrypt_json(_check_credentials(credentials))
        cur = self._conn.execute(
            "UPDATE connectors SET credentials = ?, updated_at = ? WHERE id = ?",
            (blob, to_db_time(utcnow()), connector_id),
        )
        if cur.rowcount == 0:
            raise NotFoundError(f"No connector with id {connector_id!r}.")
