"""Errors the simulated account raises; the HTTP app maps them to PagerDuty's responses."""

from __future__ import annotations


class AccountError(ValueError):
    """Input or a file PagerDuty would refuse; the message says what is wrong and where.

    The app answers it with 400 code 2001 (Invalid Input)."""


class NotFound(LookupError):
    """No object of that kind has that id; the app answers 404."""

    def __init__(self, kind: str, object_id: str) -> None:
        super().__init__(f"{kind} {object_id!r} not found")
        self.kind = kind
        self.object_id = object_id
