"""Secrets at rest: the Fernet key and a small cipher around it.

The key comes from ``PDSEARCH_SECRET_KEY`` (settings.secret_key) when set; otherwise from the key
file ``<home>/secret.key``, created on first use with mode 0600. Losing the key file makes the
stored credentials unreadable (they must then be entered again), so it is never rewritten once
it exists.

Rotating the key: set ``PDSEARCH_SECRET_KEY="<new key>,<old key>"``. The first key encrypts,
every key decrypts; ``Store.rotate_secrets()`` (``pdsearch rotate-secrets``) re-encrypts
everything with the first, after which the old key can be dropped.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import stat
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

if TYPE_CHECKING:
    from pdsearch.config import Settings

log = logging.getLogger(__name__)

KEY_FILE_NAME = "secret.key"
_HOW_TO_MAKE_A_KEY = (
    'Make one with: python -c "from cryptography.fernet import Fernet; '
    'print(Fernet.generate_key().decode())"'
)


class SecretKeyError(Exception):
    """The secret key is missing, malformed, or does not open the stored secrets."""


def generate_key() -> bytes:
    """A fresh Fernet key (url-safe base64 of 32 random bytes)."""
    return Fernet.generate_key()


def validate_key(key: bytes, origin: str) -> bytes:
    """Return ``key`` if it is one Fernet key or a comma-separated list of them (the first
    encrypts, all decrypt), else raise ``SecretKeyError`` naming ``origin``."""
    parts = [p.strip() for p in key.split(b",")]
    for n, part in enumerate(parts, start=1):
        try:
            Fernet(part)
        except (ValueError, TypeError):
            which = f" (key {n} of {len(parts)})" if len(parts) > 1 else ""
            raise SecretKeyError(
                f"The secret key from {origin}{which} is not a valid Fernet key (32 bytes, "
                f"url-safe base64). {_HOW_TO_MAKE_A_KEY}"
            ) from None
    return b",".join(parts)


def key_file_path(home: Path) -> Path:
    return home / KEY_FILE_NAME


def load_or_create_key_file(path: Path) -> bytes:
    """Read the key file, creating it (mode 0600, atomically) when it does not exist yet."""
    try:
        return _read_key_file(path)
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    key = generate_key()
    # Write a private temporary file, then link it into place: link fails if another process
    # created the key meanwhile, and then that process's key wins.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(8)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(key + b"\n")
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            return _read_key_file(path)
        log.info("created a new secret key file at %s", path)
        return key
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def _read_key_file(path: Path) -> bytes:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        log.warning(
            "the secret key file %s is readable by other users (mode %o); run chmod 600 on it",
            path,
            mode,
        )
    key = path.read_bytes().strip()
    return validate_key(key, f"the key file {path}")


def resolve_key(settings: Settings) -> bytes:
    """The key to use: the configured one, else the key file in the data directory."""
    if settings.secret_key is not None:
        raw = settings.secret_key.get_secret_value().strip().encode()
        return validate_key(raw, "PDSEARCH_SECRET_KEY")
    return load_or_create_key_file(key_file_path(settings.home))


class SecretCipher:
    """Encrypts and decrypts small secrets with Fernet (AES-128-CBC + HMAC-SHA256)."""

    def __init__(self, key: bytes) -> None:
        keys = validate_key(key, "the caller").split(b",")
        self._fernet = MultiFernet([Fernet(k) for k in keys])

    def __repr__(self) -> str:
        return "SecretCipher(<key hidden>)"

    def encrypt(self, data: bytes) -> bytes:
        return self._fernet.encrypt(data)

    def decrypt(self, token: bytes) -> bytes:
        try:
            return self._fernet.decrypt(token)
        except InvalidToken:
            raise _undecryptable() from None

    def rotate(self, token: bytes) -> bytes:
        """The same secret encrypted with the first key."""
        try:
            return self._fernet.rotate(token)
        except InvalidToken:
            raise _undecryptable() from None


def _undecryptable() -> SecretKeyError:
    return SecretKeyError(
        "Stored secrets cannot be decrypted with the configured secret key. Set "
        "PDSEARCH_SECRET_KEY (or restore the key file in the data directory) to the key "
        "used when they were saved, or enter the credentials again."
    )
