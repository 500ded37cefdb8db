"""What an account is made of: its objects (with schedule overrides), hosts, abilities, audit
trail, clock, lock and version.

``AccountState`` is the part the writer (``writer.py``) works on and the reads (``account.py``)
render from; both see one instance. It knows how to name an object (``ref``) and when anything
changed (``version``, ``kind_versions``: rendered pages and sorted listings are kept per
version), nothing about rendering or rules.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pdsearch.simulator.audit import AuditTrail
from pdsearch.simulator.constants import DEFAULT_ABILITIES, KINDS, REFERENCES
from pdsearch.simulator.errors import AccountError
from pdsearch.simulator.ids import IdMaker
from pdsearch.simulator.objects import Objects
from pdsearch.simulator.overrides import OverrideStore

JSON = dict[str, Any]


class AccountState:
    """One account's data. Reads are lock-free; every change holds ``lock`` and calls ``touch``."""

    def __init__(
        self,
        subdomain: str = "acme",
        region: str = "us",
        *,
        clock: Callable[[], datetime] | None = None,
        objects: Objects | None = None,
    ) -> None:
        if region not in ("us", "eu"):
            raise AccountError(f"region must be 'us' or 'eu', not {region!r}")
        self.subdomain = subdomain
        self.region = region
        # Record times come from here; a served account's clock is the simulator's.
        self.clock: Callable[[], datetime] = clock or (lambda: datetime.now(UTC))
        self.objects = objects if objects is not None else Objects()
        self.abilities: list[str] = list(DEFAULT_ABILITIES)
        self.audit_records = AuditTrail()  # oldest first; call it to query, newest first
        self.lock = threading.RLock()
        self.version = 0
        self.kind_versions: dict[str, int] = {}
        self._ids: IdMaker | None = None

    # ------------------------------------------------------------------ the objects

    @property
    def users(self) -> dict[str, JSON]:
        return self.objects.users

    @property
    def teams(self) -> dict[str, JSON]:
        return self.objects.teams

    @property
    def memberships(self) -> dict[str, list[JSON]]:
        return self.objects.memberships

    @property
    def schedules(self) -> dict[str, JSON]:
        return self.objects.schedules

    @property
    def escalation_policies(self) -> dict[str, JSON]:
        return self.objects.escalation_policies

    @property
    def services(self) -> dict[str, JSON]:
        return self.objects.services

    @property
    def overrides(self) -> OverrideStore:
        """Schedule overrides, rendered on top of the layers (``overrides.py``)."""
        return self.objects.overrides

    def store(self, kind: str) -> dict[str, JSON]:
        return self.objects.of_kind(kind)

    def get(self, kind: str, object_id: str) -> JSON:
        """The stored object (not a copy; do not change it outside the writer)."""
        return self.objects.get(kind, object_id)

    def exists(self, kind: str, object_id: str) -> bool:
        return self.objects.exists(kind, object_id)

    def schedule_kind(self, schedule_id: str) -> str:
        """``schedules`` or ``schedules_v3`` for a stored schedule id."""
        return self.objects.schedule_kind(schedule_id)

    @property
    def owner_id(self) -> str:
        return self.objects.owner_id

    def now(self) -> datetime:
        return self.clock().astimezone(UTC)

    # ------------------------------------------------------------------ hosts and references

    @property
    def api_url(self) -> str:
        return (
            "https://api.eu.pagerduty.com" if self.region == "eu" else "https://api.pagerduty.com"
        )

    @property
    def web_url(self) -> str:
        infix = ".eu" if self.region == "eu" else ""
        return f"https://{self.subdomain}{infix}.pagerduty.com"

    def ref(self, kind: str, object_id: str) -> JSON:
        """A reference in the spec's shape: id, type ``*_reference``, summary, self, html_url."""
        ref_type, api_path, web_path = REFERENCES[kind]
        obj = self.objects.of_kind(kind).get(object_id)
        return {
            "id": object_id,
            "type": ref_type,
            "summary": obj.get("name") if obj is not None else None,
            "self": f"{self.api_url}/{api_path}/{object_id}",
            "html_url": f"{self.web_url}/{web_path}/{object_id}",
        }

    # ------------------------------------------------------------------ changes

    def touch(self, *kinds: str) -> None:
        """Call after every change: rendered pages and derived indexes follow ``version``;
        listings of ``kinds`` (all when none is named) are re-sorted."""
        self.version += 1
        for kind in kinds or KINDS:
            for k in ("schedules", "schedules_v3") if kind.startswith("schedules") else (kind,):
                self.kind_versions[k] = self.kind_versions.get(k, 0) + 1

    def new_id(self) -> str:
        return self._id_maker().new()

    def new_long_id(self) -> str:
        return self._id_maker().long()

    def _id_maker(self) -> IdMaker:
        if self._ids is None:
            taken = self.objects.ids_in_use()
            self._ids = IdMaker(random.Random(len(taken)), taken)
        return self._ids
