"""Secrets at rest under key rotation, on both engines."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from pdsearch.store import Connector, Store, StoreError

SECRET = "u+sEcReT-KeY-123"


def test_key_rotation(
    location: str | Path, store: Store, secret_key: bytes, connector: Connector
) -> None:
    state = store.oauth.create_state(connector.id, "VeRiFiEr", "http://localhost/cb")
    store.close()
    new = Fernet.generate_key()
    with Store(location, new + b"," + secret_key) as both:
        assert both.connectors.get_credentials(connector.id) == {"api_key": SECRET}
        assert both.rotate_secrets() == 2
    with Store(location, new) as only_new:
        assert only_new.connectors.get_credentials(connector.id) == {"api_key": SECRET}
        assert only_new.oauth.consume_state(state) == (
            connector.id, "VeRiFiEr", "http://localhost/cb"
        )
    with Store(location, Fernet.generate_key()) as wrong, pytest.raises(
        StoreError, match="cannot be decrypted"
    ):
        wrong.rotate_secrets()
    with Store(location, new) as again:  # the failed rotation changed nothing
        assert again.connectors.get_credentials(connector.id) == {"api_key": SECRET}
    with pytest.raises(StoreError, match=r"key 2 of 2"):
        Store(location, new + b",nope")
