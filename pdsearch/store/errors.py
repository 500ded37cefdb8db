"""The store's exceptions.

    StoreError            anything the store refuses or cannot do
    ├── NotFoundError     no connector, job or entity with that id
    ├── ConflictError     a unique name is taken, or the change clashes with current state
    └── InvalidValueError a value the store cannot hold (unknown region,
                          malformed e-mail); also a ValueError
"""

from __future__ import annotations


class StoreError(Exception):
    """Base class of the store's errors; the message is fit to show to a person."""


class NotFoundError(StoreError):
    pass


class ConflictError(StoreError):
    pass


class InvalidValueError(StoreError, ValueError):
    pass
