"""Permission entities (DESIGN.md 2.2): what they are and how e-mails are compared.

Two kinds of entity decide who sees a document: the account entity (named by the subdomain, held
by the account's owners and admins) and one entity per team (named by the team id, held by its
members). ``pdsearch.documents.entities`` derives them from what a sync read; the store keeps
them, per connector, next to the members added by hand. Users are named by e-mail, compared after
``normalize_email``. Nothing here does I/O or knows PagerDuty's objects.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

EntityType = Literal["account", "team"]


@dataclass(frozen=True)
class Entity:
    """A permission entity and its derived members (normalized e-mails)."""

    entity_id: str
    name: str
    type: EntityType
    members: frozenset[str]


def normalize_email(email: str) -> str:
    """The form e-mails are stored and compared in: trimmed and lower-cased."""
    return email.strip().lower()
