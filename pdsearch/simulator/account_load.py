"""Loading and checking an account file."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pdsearch.simulator.account import Account


def load_into(account: Account, data: dict[str, Any]) -> None:
    raise NotImplementedError
