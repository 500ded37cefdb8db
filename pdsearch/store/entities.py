"""Permission entities (``store.entities``; DESIGN.md 2.2): derived members follow PagerDuty,
manual ones stay.

Members are kept per source. A sync replaces the ``derived`` rows of a connector in one
transaction and never touches ``manual`` rows, so a person added by hand keeps access through any
number of syncs, and one removed from a team in PagerDuty loses it at the next sync. Removing a
manual member who is also a derived member removes only the manual row: the person stays a member
for as long as PagerDuty says so.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from typing import Final, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pdsearch.permissions import normalize_email
from pdsearch.store.database import Database, upsert
from pdsearch.store.errors import InvalidValueError, NotFoundError
from pdsearch.store.records import EntityRecord
from pdsearch.store.schema import connectors, entities, entity_members

# Loose on purpose (PagerDuty decides what an address is), but strict enough that a URL or
# "user:password@host" is not taken for one: RFC 5322 atext before the @, a host name after.
_EMAIL: Final = re.compile(r"^[\w.!#$%&'*+/=?^`{|}~-]+@[\w-]+(\.[\w-]+)*$")
MAX_EMAIL_LENGTH: Final = 320

EntityPage = tuple[list[EntityRecord], int]
# Named here: inside the repository, ``list`` is its own method.
_Records = list[EntityRecord]
_Rows = list[tuple[str, str, str]]
_MemberRows = list[dict[str, str]]


# Asked on every search: built and compiled once, run straight on the driver (fetch_all).
_MEMBERSHIPS: Final = (
    sa.select(entity_members.c.connector_id, entity_members.c.entity_id)
    .where(entity_members.c.email == sa.bindparam("email"))
    .distinct()
)


_SQLITE_INSERT_MEMBERS: Final = (
    "INSERT OR IGNORE INTO entity_members (connector_id, entity_id, email, source) "
    "VALUES (?, ?, ?, ?)"
)
_PG_INSERT_MEMBERS: Final = sa.text(
    "INSERT INTO entity_members (connector_id, entity_id, email, source) "
    "SELECT * FROM unnest(CAST(:connector_id AS TEXT[]), CAST(:entity_id AS TEXT[]), "
    "CAST(:email AS TEXT[]), CAST(:source AS TEXT[])) ON CONFLICT DO NOTHING"
)


class EntityLike(Protocol):
    """What ``replace_derived`` needs of ``pdsearch.permissions.Entity``."""

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


class EntityRepository:
    """Permission entities and their members, per connector."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def replace_derived(self, connector_id: str, items: Iterable[EntityLike]) -> None:
        """Make the connector's derived entities and members exactly ``items``, in one
        transaction. Manual members are kept; an entity no longer derived survives only while
        it has manual members."""
        given = list(items)
        mine = entities.c.connector_id == connector_id
        with self._db.write() as conn:
            self._require_connector(conn, connector_id)
            conn.execute(entities.update().where(mine).values(derived=0))
            conn.execute(
                entity_members.delete().where(
                    entity_members.c.connector_id == connector_id,
                    entity_members.c.source == "derived",
                )
            )
            rows = [
                {"connector_id": connector_id, "entity_id": e.entity_id, "name": e.name,
                 "type": e.type, "derived": 1}
                for e in given
            ]
            members = [
                {"connector_id": connector_id, "entity_id": e.entity_id,
                 "email": normalize_email(m), "source": "derived"}
                for e in given
                for m in e.members
                if m.strip()
            ]
            if rows:
                statement = upsert(self._db, entities)
                conn.execute(
                    statement.on_conflict_do_update(
                        index_elements=[entities.c.connector_id, entities.c.entity_id],
                        set_={"name": statement.excluded.name, "type": statement.excluded.type,
                              "derived": 1},
                    ),
                    rows,
                )
            self._insert_members(conn, members)
            has_members = sa.exists().where(
                entity_members.c.connector_id == entities.c.connector_id,
                entity_members.c.entity_id == entities.c.entity_id,
            )
            conn.execute(entities.delete().where(mine, entities.c.derived == 0, ~has_members))

    def list(self, connector_id: str, skip: int = 0, limit: int = 100) -> EntityPage:
        """The connector's entities, the account entity first, then teams by name."""
        with self._db.read() as conn:
            self._require_connector(conn, connector_id)
            total = conn.execute(
                sa.select(sa.func.count()).select_from(entities)
                .where(entities.c.connector_id == connector_id)
            ).scalar_one()
            rows = conn.execute(
                sa.select(entities.c.entity_id, entities.c.name, entities.c.type)
                .where(entities.c.connector_id == connector_id)
                .order_by(
                    sa.case((entities.c.type == "account", 0), else_=1),
                    sa.func.lower(entities.c.name),
                    entities.c.entity_id,
                )
                .limit(max(0, limit)).offset(max(0, skip))
            ).all()
            records = self._records(conn, connector_id, [tuple(r) for r in rows])
        return records, int(total)

    def get(self, connector_id: str, entity_id: str) -> EntityRecord | None:
        """One entity with its members; None when the connector has no such entity
        (NotFoundError when there is no such connector)."""
        with self._db.read() as conn:
            self._require_connector(conn, connector_id)
            return self._get(conn, connector_id, entity_id)

    def add_manual_members(
        self, connector_id: str, entity_id: str, emails: Iterable[str]
    ) -> EntityRecord:
        """Add people by e-mail (lower-cased). The entity must be known from a sync, or be the
        connector's account entity (its subdomain, known once connected), which may be given
        members before the first sync; otherwise NotFoundError."""
        checked = _checked_emails(emails)
        with self._db.write() as conn:
            subdomain = self._require_connector(conn, connector_id)
            exists = conn.execute(
                sa.select(entities.c.entity_id).where(
                    entities.c.connector_id == connector_id, entities.c.entity_id == entity_id
                )
            ).first()
            if exists is None:
                if subdomain is None or entity_id != subdomain:
                    raise NotFoundError(
                        f"No permission entity {entity_id!r} in this connector. Entities are the "
                        "account's subdomain (once connected) and the ids of its teams (after "
                        "a sync)."
                    )
                conn.execute(
                    upsert(self._db, entities).on_conflict_do_nothing(),
                    {"connector_id": connector_id, "entity_id": entity_id, "name": entity_id,
                     "type": "account", "derived": 0},
                )
            if checked:
                conn.execute(
                    upsert(self._db, entity_members).on_conflict_do_nothing(),
                    [{"connector_id": connector_id, "entity_id": entity_id, "email": e,
                      "source": "manual"} for e in checked],
                )
            record = self._get(conn, connector_id, entity_id)
        if record is None:  # pragma: no cover - made or found above, in the same transaction
            raise NotFoundError(f"No permission entity {entity_id!r} in this connector.")
        return record

    def remove_manual_members(
        self, connector_id: str, entity_id: str, emails: Iterable[str]
    ) -> EntityRecord:
        """Remove people added by hand. Someone who is also a derived member stays a member
        (PagerDuty says so); e-mails that were not manual members are ignored."""
        checked = _checked_emails(emails)
        with self._db.write() as conn:
            self._require_connector(conn, connector_id)
            if self._get(conn, connector_id, entity_id) is None:
                raise NotFoundError(f"No permission entity {entity_id!r} in this connector.")
            if checked:
                conn.execute(
                    entity_members.delete().where(
                        entity_members.c.connector_id == connector_id,
                        entity_members.c.entity_id == entity_id,
                        entity_members.c.source == "manual",
                        entity_members.c.email.in_(checked),
                    )
                )
            record = self._get(conn, connector_id, entity_id)
        if record is None:  # pragma: no cover - checked above, in the same transaction
            raise NotFoundError(f"No permission entity {entity_id!r} in this connector.")
        return record

    def for_user(self, email: str, connector_id: str) -> set[str]:
        """The ids of the connector's entities the user belongs to (derived or manual). The
        e-mail is compared case-insensitively."""
        return {e for c, e in self.memberships(email) if c == connector_id}

    def memberships(self, email: str) -> set[tuple[str, str]]:
        """Every ``(connector_id, entity_id)`` the user belongs to, derived or manual.

        Entities are only ever meaningful within their connector: two accounts may share a
        subdomain, and the pair keeps them apart. The e-mail is compared case-insensitively.
        """
        norm = normalize_email(email)
        if not norm:
            return set()
        rows = self._db.fetch_all(_MEMBERSHIPS, {"email": norm})
        return {(r[0], r[1]) for r in rows}

    # --- inside the store ------------------------------------------------------------------

    def _insert_members(self, conn: Connection, members: _MemberRows) -> None:
        """Insert member rows, skipping any already there. A large account has tens of
        thousands, so both go to the driver as they are: on SQLite its executemany (a loop in
        C), on PostgreSQL four arrays in one statement (a statement per row would be a round
        trip per row)."""
        if not members:
            return
        if self._db.dialect == "sqlite":
            conn.exec_driver_sql(
                _SQLITE_INSERT_MEMBERS,
                [(m["connector_id"], m["entity_id"], m["email"], m["source"]) for m in members],
            )
            return
        conn.execute(
            _PG_INSERT_MEMBERS,
            {key: [m[key] for m in members]
             for key in ("connector_id", "entity_id", "email", "source")},
        )

    def _get(self, conn: Connection, connector_id: str, entity_id: str) -> EntityRecord | None:
        row = conn.execute(
            sa.select(entities.c.entity_id, entities.c.name, entities.c.type).where(
                entities.c.connector_id == connector_id, entities.c.entity_id == entity_id
            )
        ).first()
        if row is None:
            return None
        return self._records(conn, connector_id, [tuple(row)])[0]

    @staticmethod
    def _records(conn: Connection, connector_id: str, rows: _Rows) -> _Records:
        """Records for ``(entity_id, name, type)`` rows, members read in one query."""
        if not rows:
            return []
        found = conn.execute(
            sa.select(entity_members.c.entity_id, entity_members.c.email,
                      entity_members.c.source)
            .where(entity_members.c.connector_id == connector_id,
                   entity_members.c.entity_id.in_([r[0] for r in rows]))
        ).all()
        every: dict[str, set[str]] = {r[0]: set() for r in rows}
        manual: dict[str, set[str]] = {r[0]: set() for r in rows}
        for entity_id, email, source in found:
            every[entity_id].add(email)
            if source == "manual":
                manual[entity_id].add(email)
        return [
            EntityRecord(eid, name, kind, sorted(every[eid]), sorted(manual[eid]))
            for eid, name, kind in rows
        ]

    @staticmethod
    def _require_connector(conn: Connection, connector_id: str) -> str | None:
        """The connector's subdomain; NotFoundError when there is no such connector."""
        row = conn.execute(
            sa.select(connectors.c.subdomain).where(connectors.c.id == connector_id)
        ).first()
        if row is None:
            raise NotFoundError(f"No connector with id {connector_id!r}.")
        return row[0]  # type: ignore[no-any-return]
