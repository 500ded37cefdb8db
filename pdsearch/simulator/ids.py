"""PagerDuty-like ids: 'P' and six upper-case letters or digits, or 26 characters for v3 parts."""

from __future__ import annotations

import random
import string

_ID_ALPHABET = string.ascii_uppercase + string.digits
_LONG_ID_ALPHABET = string.ascii_uppercase + "234567"


class IdMaker:
    """Ids drawn from ``rng``, never one in ``taken`` (which grows with every id handed out)."""

    def __init__(self, rng: random.Random, taken: set[str] | None = None) -> None:
        self.rng = rng
        self.taken: set[str] = taken if taken is not None else set()

    def new(self) -> str:
        while True:
            candidate = "P" + "".join(self.rng.choices(_ID_ALPHABET, k=6))
            if candidate not in self.taken:
                self.taken.add(candidate)
                return candidate

    def long(self) -> str:
        """A 26-character id, the shape of v3 rotation and event ids."""
        while True:
            candidate = "".join(self.rng.choices(_LONG_ID_ALPHABET, k=26))
            if candidate not in self.taken:
                self.taken.add(candidate)
                return candidate
