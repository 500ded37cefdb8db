"""One-time OAuth ``state`` values binding an authorization redirect to a connector.

Only a SHA-256 of the state is stored (a leaked database does not yield live states), and the
PKCE code verifier is encrypted.
"""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
import time

from pdsearch.store.db import StoreBase
from pdsearch.store.errors import InvalidValueError, NotFoundError


def _digest(state: str) -> str:
    return hashlib.sha256(state.encode()).hexdigest()


class OAuthStatesMixin(StoreBase):
    def create_oauth_state(
        self, connector_id: str, code_verifier: str, redirect_uri: str, ttl_seconds: float = 600
    ) -> str:
        """A fresh, unguessable state (256 random bits) valid for ``ttl_seconds``."""
        if ttl_seconds <= 0:
            raise InvalidValueError("ttl_seconds must be positive.")
        state = secrets.token_urlsafe(32)
        now = time.time()
        try:
            with self._tx() as conn:
                conn.execute("DELETE FROM oauth_states WHERE expires_at <= ?", (now,))
                conn.execute(
                    "INSERT INTO oauth_states "
                    "(state_hash, connector_id, code_verifier, redirect_uri, expires_at) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (_digest(state), connector_id, self._encrypt_json(code_verifier),
                     redirect_uri, now + ttl_seconds),
                )
        except sqlite3.IntegrityError:
            raise NotFoundError(f"No connector with id {connector_id!r}.") from None
        return state

    def consume_oauth_state(self, state: str) -> tuple[str, str, str] | None:
        """(connector_id, code_verifier, redirect_uri) for a live state, which is used up;
        None for an unknown, used or expired one."""
        if not isinstance(state, str) or not state:
            return None
        with self._tx() as conn:
            row = conn.execute(
                "DELETE FROM oauth_states WHERE state_hash = ? "
                "RETURNING connector_id, code_verifier, redirect_uri, expires_at",
                (_digest(state),),
            ).fetchone()
        if row is None or row["expires_at"] <= time.time():
            return None
        verifier = self._decrypt_json(row["code_verifier"])
        return row["connector_id"], str(verifier), row["redirect_uri"]
