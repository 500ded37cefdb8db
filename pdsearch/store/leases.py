"""Named leases (``store.leases``): one holder at a time, by the database's clock.

The scheduler's leader election uses one: each replica tries ``acquire("scheduler", me, ttl)``
every few seconds; the holder renews before the lease runs out and acts only while ``renew``
says True. A holder that dies stops renewing, and the next ``acquire`` after ``ttl_seconds``
succeeds elsewhere: with a ttl of 15 s and attempts every 5 s, a new leader is in place within
20 s of the old one's last renewal.

Why a lease row and not a PostgreSQL advisory lock: an advisory lock lives as long as the
connection that took it, so a leader whose host vanishes (no FIN, no RST) keeps it until the
server's TCP keepalive notices, by default two hours later, and a pooled connection would have
to be pinned for the lock's lifetime. A lease ends at a time the database itself decides, works
the same on SQLite (several processes on one machine), and a holder can tell it lost the lease
(``renew`` False) before it acts. Times are the database's, so replicas with skewed clocks
agree on who holds a lease.
"""

from __future__ import annotations

import sqlalchemy as sa

from pdsearch.store.database import Database, db_epoch, upsert
from pdsearch.store.errors import InvalidValueError
from pdsearch.store.schema import leases


def _check(name: str, holder: str | None = None, ttl_seconds: float | None = None) -> None:
    if not isinstance(name, str) or not name:
        raise InvalidValueError("A lease needs a name.")
    if holder is not None and (not isinstance(holder, str) or not holder):
        raise InvalidValueError("A lease holder needs a name (e.g. host and process id).")
    if ttl_seconds is not None and not ttl_seconds > 0:
        raise InvalidValueError("ttl_seconds must be positive.")


class LeaseRepository:
    """Acquire, renew, release and look up named leases."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def acquire(self, name: str, holder: str, ttl_seconds: float) -> bool:
        """Take the lease for ``ttl_seconds`` if it is free, expired or already ``holder``'s
        (then it is extended). True when ``holder`` holds it afterwards."""
        _check(name, holder, ttl_seconds)
        statement = upsert(self._db, leases).values(
            name=name, holder=holder, acquired_at=db_epoch(),
            expires_at=db_epoch() + float(ttl_seconds),
        )
        statement = statement.on_conflict_do_update(
            index_elements=[leases.c.name],
            set_={
                "holder": statement.excluded.holder,
                "acquired_at": sa.case(
                    (leases.c.holder == statement.excluded.holder, leases.c.acquired_at),
                    else_=statement.excluded.acquired_at,
                ),
                "expires_at": statement.excluded.expires_at,
            },
            where=sa.or_(leases.c.expires_at <= db_epoch(),
                         leases.c.holder == statement.excluded.holder),
        )
        with self._db.write() as conn:
            won = conn.execute(statement.returning(leases.c.holder)).first()
        return won is not None

    def renew(self, name: str, holder: str, ttl_seconds: float) -> bool:
        """Extend ``holder``'s live lease to ``ttl_seconds`` from now. False when it is not
        theirs or already expired: the holder has lost it and must stop acting as leader."""
        _check(name, holder, ttl_seconds)
        with self._db.write() as conn:
            hit = conn.execute(
                leases.update()
                .where(leases.c.name == name, leases.c.holder == holder,
                       leases.c.expires_at > db_epoch())
                .values(expires_at=db_epoch() + float(ttl_seconds))
                .returning(leases.c.name)
            ).first()
        return hit is not None

    def release(self, name: str, holder: str) -> bool:
        """Give the lease up (on a clean shutdown), so another takes over at once. True when
        ``holder`` held it."""
        _check(name, holder)
        with self._db.write() as conn:
            hit = conn.execute(
                leases.delete().where(leases.c.name == name, leases.c.holder == holder)
                .returning(leases.c.name)
            ).first()
        return hit is not None

    def holder(self, name: str) -> str | None:
        """Who holds the lease now; None when nobody does (never taken, released or
        expired)."""
        _check(name)
        with self._db.read() as conn:
            return conn.execute(
                sa.select(leases.c.holder)
                .where(leases.c.name == name, leases.c.expires_at > db_epoch())
            ).scalar_one_or_none()
