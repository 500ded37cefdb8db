"""One-time OAuth ``state`` values binding an authorization redirect to a connector
(``store.oauth``).

Only a SHA-256 of the state is stored (a leaked database does not yield live states), and the
PKCE code verifier is encrypted. The state lives in the database, so the replica that answers
PagerDuty's callback need not be the one that began the sign-in.
"""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import exc

from pdsearch.store.database import Database, db_epoch
from pdsearch.store.errors import InvalidValueError, NotFoundError
from pdsearch.store.schema import oauth_states
from pdsearch.store.sealing import Sealer


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class OAuthStateRepository:
    """OAuth states: created for one sign-in, consumed once by its callback."""

    def __init__(self, db: Database, sealer: Sealer) -> None:
        self._db = db
        self._sealer = sealer

    def create_state(
        self, connector_id: str, code_verifier: str, redirect_uri: str, ttl_seconds: float = 600
    ) -> str:
        """A fresh, unguessable state (256 random bits) valid for ``ttl_seconds``."""
        if ttl_seconds <= 0:
            raise InvalidValueError("ttl_seconds must be positive.")
        state = secrets.token_urlsafe(32)
        with self._db.write() as conn:
            conn.execute(oauth_states.delete().where(oauth_states.c.expires_at <= db_epoch()))
            try:
                conn.execute(
                    oauth_states.insert().values(
                        state_hash=digest(state),
                        connector_id=connector_id,
                        code_verifier=self._sealer.seal(code_verifier),
                        redirect_uri=redirect_uri,
                        expires_at=db_epoch() + float(ttl_seconds),
                    )
                )
            except exc.IntegrityError:
                raise NotFoundError(f"No connector with id {connector_id!r}.") from None
        return state

    def consume_state(self, state: str) -> tuple[str, str, str] | None:
        """(connector_id, code_verifier, redirect_uri) for a live state, which is used up;
        None for an unknown, used or expired one."""
        if not isinstance(state, str) or not state:
            return None
        with self._db.write() as conn:
            row = conn.execute(
                oauth_states.delete()
                .where(oauth_states.c.state_hash == digest(state))
                .returning(
                    oauth_states.c.connector_id,
                    oauth_states.c.code_verifier,
                    oauth_states.c.redirect_uri,
                    (oauth_states.c.expires_at > db_epoch()).label("live"),
                )
            ).first()
        if row is None or not row.live:
            return None
        return row.connector_id, str(self._sealer.open(row.code_verifier)), row.redirect_uri
