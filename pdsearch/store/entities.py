"""Permission entities (DESIGN.md 2.2): derived members follow PagerDuty, manual ones stay.

Members are kept per source. A sync replaces the ``derived`` rows of a connector in one
transaction and never touches ``manual`` rows, so a person added by hand keeps access through any
number of syncs, and one removed from a team in PagerDuty loses it at the next sync. Removing a
manual member who is also a derived member removes only the manual row: the person stays a member
for as long as PagerDuty says so.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Collection, Iterable
from typing import Final, Protocol

from pdsearch.permissions import normalize_email
from pdsearch.store.db import StoreBase
from pdsearch.store.errors import InvalidValueError, NotFoundError
from pdsearch.store.records import EntityRecord

# Loose on purpose (PagerDuty decides what an address is), but strict enough that a URL or
# "user:password@host" is not taken for one: RFC 5322 atext before the @, a host name after.
_EMAIL: Final = re.compile(r"^[\w.!#$%&'*+/=?^`{|}~-]+@[\w-]+(\.[\w-]+)*$")
MAX_EMAIL_LENGTH: Final = 320


class EntityLike(Protocol):
    """What ``replace_derived_entities`` needs of ``pdsearch.permissions.Entity``."""

    @property
    def entity_id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def type(self) -> str: ...
    @property
    def members(self) -> Collection[str]: ...


def _checked_emails(emails: Iterable[str]) -> list[str]:
    if isinstance(emails, str):
        raise InvalidValueError("Give a list of e-mail addresses, not a single string.")
    out: list[str] = []
    for email in emails:
        if not isinstance(email, str):
            raise InvalidValueError("Each user must be an e-mail address given as text.")
        norm = normalize_email(email)
        if (
            len(norm) > MAX_EMAIL_LENGTH
            or not _EMAIL.match(norm)
            or not norm.isprintable()  # NUL, escapes: never part of an address
        ):
            raise InvalidValueError(
                f"{email!r} is not an e-mail address; users are named by their e-mail."
            )
        if norm not in out:
            out.append(norm)
    return out


class EntitiesMixin(StoreBase):
    def replace_derived_entities(self, connector_id: str, entities: Iterable[EntityLike]) -> None:
        """Make the connector's derived entities and members exactly ``entities``, in one
        transaction. Manual members are kept; an entity no longer derived survives only while
        it has manual members."""
        items = list(entities)
        with self._tx() as conn:
            self._require_connector(conn, connector_id)
            conn.execute("UPDATE entities SET derived = 0 WHERE connector_id = ?", (connector_id,))
            conn.execute(
                "DELETE FROM entity_members WHERE connector_id = ? AND source = 'derived'",
                (connector_id,),
            )
            for entity in items:
                conn.execute(
                    "INSERT INTO entities (connector_id, entity_id, name, type, derived) "
                    "VALUES (?, ?, ?, ?, 1) ON CONFLICT (connector_id, entity_id) DO UPDATE "
                    "SET name = excluded.name, type = excluded.type, derived = 1",
                    (connector_id, entity.entity_id, entity.name, entity.type),
                )
                conn.executemany(
                    "INSERT OR IGNORE INTO entity_members "
                    "(connector_id, entity_id, email, source) VALUES (?, ?, ?, 'derived')",
                    [
                        (connector_id, entity.entity_id, normalize_email(m))
                        for m in entity.members
                        if m.strip()
                    ],
                )
            conn.execute(
                "DELETE FROM entities WHERE connector_id = ? AND derived = 0 AND NOT EXISTS "
                "(SELECT 1 FROM entity_members m WHERE m.connector_id = entities.connector_id "
                "AND m.entity_id = entities.entity_id)",
                (connector_id,),
            )

    def list_entities(
        self, connector_id: str, skip: int = 0, limit: int = 100
    ) -> tuple[list[EntityRecord], int]:
        """The connector's entities, the account entity first, then teams by name."""
        with self._lock:
            self._require_connector(self._conn, connector_id)
            total = self._read(
                "SELECT COUNT(*) FROM entities WHERE connector_id = ?", (connector_id,)
            )[0][0]
            rows = self._read(
                "SELECT entity_id, name, type FROM entities WHERE connector_id = ? "
                "ORDER BY type != 'account', name COLLATE NOCASE, entity_id LIMIT ? OFFSET ?",
                (connector_id, max(0, limit), max(0, skip)),
            )
            return [self._record(connector_id, r) for r in rows], int(total)

    def get_entity(self, connector_id: str, entity_id: str) -> EntityRecord | None:
        with self._lock:
            self._require_connector(self._conn, connector_id)
            rows = self._read(
                "SELECT entity_id, name, type FROM entities WHERE connector_id = ? "
                "AND entity_id = ?",
                (connector_id, entity_id),
            )
            return self._record(connector_id, rows[0]) if rows else None

    def add_manual_members(
        self, connector_id: str, entity_id: str, emails: Iterable[str]
    ) -> EntityRecord:
        """Add people by e-mail (lower-cased). The entity must be known from a sync, or be the
        connector's account entity (its subdomain, known once connected), which may be given
        members before the first sync; otherwise NotFoundError."""
        checked = _checked_emails(emails)
        with self._tx() as conn:
            subdomain = self._require_connector(conn, connector_id)
            exists = conn.execute(
                "SELECT 1 FROM entities WHERE connector_id = ? AND entity_id = ?",
                (connector_id, entity_id),
            ).fetchone()
            if exists is None:
                if subdomain is None or entity_id != subdomain:
                    raise NotFoundError(
                        f"No permission entity {entity_id!r} in this connector. Entities are the "
                        "account's subdomain (once connected) and the ids of its teams (after "
                        "a sync)."
                    )
                conn.execute(
                    "INSERT INTO entities (connector_id, entity_id, name, type, derived) "
                    "VALUES (?, ?, ?, 'account', 0)",
                    (connector_id, entity_id, entity_id),
                )
            conn.executemany(
                "INSERT OR IGNORE INTO entity_members (connector_id, entity_id, email, source) "
                "VALUES (?, ?, ?, 'manual')",
                [(connector_id, entity_id, e) for e in checked],
            )
        record = self.get_entity(connector_id, entity_id)
        assert record is not None
        return record

    def remove_manual_members(
        self, connector_id: str, entity_id: str, emails: Iterable[str]
    ) -> EntityRecord:
        """Remove people added by hand. Someone who is also a derived member stays a member
        (PagerDuty says so); e-mails that were not manual members are ignored."""
        checked = _checked_emails(emails)
        with self._tx() as conn:
            self._require_connector(conn, connector_id)
            if self.get_entity(connector_id, entity_id) is None:
                raise NotFoundError(f"No permission entity {entity_id!r} in this connector.")
            conn.executemany(
                "DELETE FROM entity_members WHERE connector_id = ? AND entity_id = ? "
                "AND email = ? AND source = 'manual'",
                [(connector_id, entity_id, e) for e in checked],
            )
        record = self.get_entity(connector_id, entity_id)
        assert record is not None
        return record

    def entities_for_user(self, email: str, connector_id: str | None = None) -> set[str]:
        """Every entity id the user belongs to (derived or manual), across all connectors
        unless one is named. The e-mail is compared case-insensitively."""
        norm = normalize_email(email)
        if not norm:
            return set()
        if connector_id is None:
            rows = self._read(
                "SELECT DISTINCT entity_id FROM entity_members WHERE email = ?", (norm,)
            )
        else:
            rows = self._read(
                "SELECT DISTINCT entity_id FROM entity_members WHERE email = ? "
                "AND connector_id = ?",
                (norm, connector_id),
            )
        return {r[0] for r in rows}

    def _record(self, connector_id: str, row: sqlite3.Row) -> EntityRecord:
        members = self._read(
            "SELECT email, source FROM entity_members WHERE connector_id = ? AND entity_id = ?",
            (connector_id, row["entity_id"]),
        )
        every = sorted({m["email"] for m in members})
        manual = sorted({m["email"] for m in members if m["source"] == "manual"})
        return EntityRecord(row["entity_id"], row["name"], row["type"], every, manual)

    def _require_connector(self, conn: sqlite3.Connection, connector_id: str) -> str | None:
        """The connector's subdomain; NotFoundError when there is no such connector."""
        row = conn.execute(
            "SELECT subdomain FROM connectors WHERE id = ?", (connector_id,)
        ).fetchone()
        if row is None:
            raise NotFoundError(f"No connector with id {connector_id!r}.")
        return row[0]  # type: ignore[no-any-return]
