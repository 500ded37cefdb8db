"""``pdsearch rotate-secrets``: move the stored secrets to a new key.

With ``PDSEARCH_SECRET_KEY="<new key>,<old key>"`` the first key encrypts and every key decrypts
(``pdsearch/crypto.py``); this command re-encrypts every stored secret with the first, in one
transaction (``Store.rotate_secrets``), after which the old key can be dropped.
"""

from __future__ import annotations

from pathlib import Path

import typer

from pdsearch.cli.common import (
    DataDirOption,
    JsonOption,
    fail,
    no_connectors,
    print_json,
    reported_errors,
    settings_problem,
)

NEW_KEY_HINT = (
    'make the new key with: python -c "from cryptography.fernet import Fernet; '
    'print(Fernet.generate_key().decode())"'
)


def rotate_secrets(data_dir: DataDirOption = None, as_json: JsonOption = False) -> None:
    """Re-encrypt every stored secret (connector credentials, OAuth sign-ins under way) with the
    new key of PDSEARCH_SECRET_KEY="<new key>,<old key>"; afterwards set PDSEARCH_SECRET_KEY to
    the new key alone. Run it with the service stopped, or running with both keys."""
    from pdsearch.config import Settings
    from pdsearch.store import Store

    try:
        settings = Settings.load(data_dir)
    except ValueError as exc:
        fail(settings_problem(exc))
    if settings.secret_key is None:
        fail(
            f"PDSEARCH_SECRET_KEY is not set, so the secrets are under the key file "
            f"{settings.key_path}. To rotate, set PDSEARCH_SECRET_KEY=\"<new key>,<old key>\" "
            f"with the old key from that file ({NEW_KEY_HINT}), then run this again.",
            code=2,
        )
    keys = [k for k in settings.secret_key.get_secret_value().split(",") if k.strip()]
    if len(keys) < 2:
        fail(
            "PDSEARCH_SECRET_KEY names one key: there is nothing to rotate from. Set it to "
            f'"<new key>,<old key>" ({NEW_KEY_HINT}), then run this again.',
            code=2,
        )
    if settings.database_url is None and not Path(settings.state_path).is_file():
        fail(no_connectors(Path(settings.home)))
    with reported_errors(), Store.open(settings) as store:
        rotated = store.rotate_secrets()
    if as_json:
        print_json({"rotated": rotated})
        return
    typer.echo(
        f"Re-encrypted {rotated} secret(s) with the first key of PDSEARCH_SECRET_KEY. Set "
        "PDSEARCH_SECRET_KEY to that key alone now (on every replica, and restart the "
        "service); the old key opens nothing any more."
    )
