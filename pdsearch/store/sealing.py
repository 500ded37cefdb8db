"""Secrets at rest for the repositories: JSON values sealed with the store's Fernet key."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pdsearch.crypto import SecretCipher, SecretKeyError
from pdsearch.store.errors import StoreError


def _fingerprint(key: bytes) -> str:
    return hashlib.sha256(b"pdsearch-key:" + key).hexdigest()


class Sealer:
    """Encrypts JSON values for the database and opens them again; the key never shows."""

    def __init__(self, secret_key: bytes) -> None:
        try:
            self._cipher = SecretCipher(secret_key)
        except SecretKeyError as exc:
            raise StoreError(str(exc)) from None
        # Tell two stores' keys apart (``pdsearch migrate``) without keeping a key in text:
        # every key, and the first alone (the one that encrypts).
        keys = [k.strip() for k in secret_key.strip().split(b",")]
        self.fingerprint = _fingerprint(b",".join(keys))
        self.primary_fingerprint = _fingerprint(keys[0])

    def __repr__(self) -> str:
        return "Sealer(<key hidden>)"

    def seal(self, value: Any) -> bytes:
        return self._cipher.encrypt(json.dumps(value).encode())

    def open(self, blob: bytes) -> Any:
        try:
            return json.loads(self._cipher.decrypt(bytes(blob)))
        except SecretKeyError as exc:
            raise StoreError(str(exc)) from None

    def rotate(self, blob: bytes) -> bytes:
        """The same secret sealed with the first key (key rotation)."""
        try:
            return self._cipher.rotate(bytes(blob))
        except SecretKeyError as exc:
            raise StoreError(str(exc)) from None
