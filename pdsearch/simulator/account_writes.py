"""Writes to the simulated account (filled in below)."""

from __future__ import annotations


class AccountWrites:
    """Create, update and delete, each validated and audited."""
