"""Single-use tickets (``store.tickets``): short-lived links for the one call a browser must
make itself, such as following the OAuth authorize link.

A ticket is 256 random bits; only its SHA-256 is stored, with what it is for and when it
expires by the database's clock. Redeeming deletes it, so it works once on whichever replica
receives it, and never twice even when two replicas receive it at the same moment.
"""

from __future__ import annotations

import secrets

import sqlalchemy as sa

from pdsearch.store.database import Database, db_epoch
from pdsearch.store.errors import InvalidValueError
from pdsearch.store.oauth import digest
from pdsearch.store.schema import tickets


class TicketRepository:
    """Issue a ticket for a purpose; redeem it once before it expires."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def issue(self, purpose: str, ttl_seconds: float = 300) -> str:
        """A fresh ticket for ``purpose`` (e.g. ``"authorize:<connector id>"``), valid for
        ``ttl_seconds``. Expired tickets are cleared on the way."""
        if not purpose:
            raise InvalidValueError("A ticket needs a purpose.")
        if ttl_seconds <= 0:
            raise InvalidValueError("ttl_seconds must be positive.")
        ticket = secrets.token_urlsafe(32)
        with self._db.write() as conn:
            conn.execute(tickets.delete().where(tickets.c.expires_at <= db_epoch()))
            conn.execute(
                tickets.insert().values(
                    ticket_hash=digest(ticket),
                    purpose=purpose,
                    expires_at=db_epoch() + float(ttl_seconds),
                )
            )
        return ticket

    def redeem(self, purpose: str, ticket: str) -> bool:
        """True once for a live ticket issued for ``purpose``; False for an unknown, used,
        expired or forged one, or one issued for another purpose (which stays unused)."""
        if not isinstance(ticket, str) or not ticket or not purpose:
            return False
        with self._db.write() as conn:
            hit = conn.execute(
                tickets.delete()
                .where(*_live(purpose, ticket))
                .returning(tickets.c.ticket_hash)
            ).first()
        return hit is not None

    def live(self, purpose: str, ticket: str) -> bool:
        """Whether ``ticket`` was issued for ``purpose`` and is neither redeemed nor expired
        (it stays usable: for a ticket that lasts, such as a page session)."""
        if not isinstance(ticket, str) or not ticket or not purpose:
            return False
        with self._db.read() as conn:
            hit = conn.execute(
                sa.select(tickets.c.ticket_hash).where(*_live(purpose, ticket))
            ).first()
        return hit is not None

    def count(self) -> int:
        """How many tickets are stored (live or not yet cleared); for tests and metrics."""
        with self._db.read() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(tickets)).scalar_one())


def _live(purpose: str, ticket: str) -> tuple[sa.ColumnElement[bool], ...]:
    """The rows of ``ticket`` issued for ``purpose`` and not expired."""
    return (tickets.c.ticket_hash == digest(ticket), tickets.c.purpose == purpose,
            tickets.c.expires_at > db_epoch())
