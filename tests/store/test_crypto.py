"""The secret key file and the cipher."""

from __future__ import annotations

import logging
import stat
import threading
from pathlib import Path

import pytest

from pdsearch.crypto import (
    SecretCipher,
    SecretKeyError,
    generate_key,
    load_or_create_key_file,
)


def test_key_file_created_once_even_under_a_race(tmp_path: Path) -> None:
    path = tmp_path / "home" / "secret.key"
    keys: list[bytes] = []
    threads = [
        threading.Thread(target=lambda: keys.append(load_or_create_key_file(path)))
        for _ in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(keys)) == 1
    assert len(keys) == 8
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["secret.key"]  # no temporary left


def test_damaged_key_file_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "secret.key"
    path.write_bytes(b"not a key\n")
    path.chmod(0o600)
    with pytest.raises(SecretKeyError, match=r"key file .* is not a valid Fernet key"):
        load_or_create_key_file(path)


def test_readable_key_file_warns(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "secret.key"
    key = generate_key()
    path.write_bytes(key)
    path.chmod(0o644)
    with caplog.at_level(logging.WARNING):
        assert load_or_create_key_file(path) == key
    assert "chmod 600" in caplog.text
    assert key.decode() not in caplog.text


def test_cipher_round_trip_and_hidden_key() -> None:
    key = generate_key()
    cipher = SecretCipher(key)
    token = cipher.encrypt(b"s3cret")
    assert b"s3cret" not in token
    assert cipher.decrypt(token) == b"s3cret"
    assert key.decode() not in repr(cipher)
    with pytest.raises(SecretKeyError, match="cannot be decrypted"):
        SecretCipher(generate_key()).decrypt(token)
