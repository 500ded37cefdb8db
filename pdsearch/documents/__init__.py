"""Pure mapping of PagerDuty escalation policies and schedules to search documents.

DESIGN.md 2.1 is the contract: one document per policy and per schedule (v2 layer-based and v3
shift-based alike), ``sys_racl`` = the subdomain followed by the object's team ids, and content
written as prose a person can scan, with every id resolved to a name. Nothing here does I/O:
the sync engine gathers the account once into an ``AccountContext`` and maps each object.

A malformed object (a restriction PagerDuty would never send, an unreadable RRULE) raises
``MappingError`` naming the object, so the engine can count it as failed and carry on.

``context`` holds the account and the errors, ``entities`` derives who may see what,
``policy`` and ``schedule`` write the documents, ``names`` resolves ids to names and ``words``
puts times, rotations and rules into words.
"""

from pdsearch.documents.context import AccountContext, MappingError, build_context, sys_racl
from pdsearch.documents.entities import ACCOUNT_ROLES, derive_entities
from pdsearch.documents.policy import POLICY_TYPE, policy_document
from pdsearch.documents.schedule import SCHEDULE_TYPE, schedule_document
from pdsearch.documents.words import recurrence_words, restriction_words, rotation_words

__all__ = [
    "ACCOUNT_ROLES",
    "POLICY_TYPE",
    "SCHEDULE_TYPE",
    "AccountContext",
    "MappingError",
    "build_context",
    "derive_entities",
    "policy_document",
    "recurrence_words",
    "restriction_words",
    "rotation_words",
    "schedule_document",
    "sys_racl",
]
