"""What mapping knows about the account, gathered once per sync, and the errors it raises."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from pdsearch.pagerduty.models import (
    EscalationPolicy,
    Reference,
    Schedule,
    ScheduleV3,
    Team,
    User,
)


class MappingError(ValueError):
    """An object that cannot be turned into a document; names the object and the reason."""

    def __init__(self, object_id: str, reason: str) -> None:
        super().__init__(f"{object_id}: {reason}")
        self.object_id = object_id
        self.reason = reason


@dataclass(frozen=True)
class AccountContext:
    """What mapping needs to resolve ids to names, gathered once per sync.

    ``policies_by_schedule`` maps a schedule id to (policy id, level number) pairs, in policy
    order, for every rule that targets the schedule. ``service_descriptions``: service id →
    what the service does, when the sync read it.
    """

    subdomain: str
    users: Mapping[str, User] = field(default_factory=dict)
    teams: Mapping[str, Team] = field(default_factory=dict)
    schedule_names: Mapping[str, str] = field(default_factory=dict)
    policies: Mapping[str, EscalationPolicy] = field(default_factory=dict)
    policies_by_schedule: Mapping[str, tuple[tuple[str, int], ...]] = field(default_factory=dict)
    service_descriptions: Mapping[str, str] = field(default_factory=dict)


def build_context(
    subdomain: str,
    users: Iterable[User] = (),
    teams: Iterable[Team] = (),
    schedules: Iterable[Schedule] = (),
    schedules_v3: Iterable[ScheduleV3] = (),
    policies: Iterable[EscalationPolicy] = (),
    service_descriptions: Mapping[str, str] | None = None,
) -> AccountContext:
    """Index the account's objects by id for name resolution."""
    all_schedules: list[Schedule | ScheduleV3] = [*schedules, *schedules_v3]
    policy_map = {p.id: p for p in policies}
    # A schedule's document says which policies page it, and at which level; PagerDuty only
    # lists the policies on the schedule, so the levels come from the policies' own rules.
    uses: dict[str, list[tuple[str, int]]] = {}
    for policy in policy_map.values():
        for level, rule in enumerate(policy.escalation_rules, start=1):
            for target in rule.targets:
                if is_schedule(target):
                    pairs = uses.setdefault(target.id, [])
                    if (policy.id, level) not in pairs:
                        pairs.append((policy.id, level))
    return AccountContext(
        subdomain=subdomain,
        users={u.id: u for u in users},
        teams={t.id: t for t in teams},
        schedule_names={s.id: s.name for s in all_schedules if s.name},
        policies=policy_map,
        policies_by_schedule={k: tuple(v) for k, v in uses.items()},
        service_descriptions=dict(service_descriptions or {}),
    )


def sys_racl(subdomain: str, teams: Sequence[Reference]) -> tuple[str, ...]:
    """The subdomain first, then the object's team ids in its own order, without repeats."""
    if not subdomain:
        raise ValueError("an account subdomain is needed for sys_racl")
    return tuple(dedupe([subdomain, *(t.id for t in teams if t.id)]))


def is_schedule(target: Reference) -> bool:
    """Whether an escalation target is a schedule; v3 schedules have their own reference type."""
    return target.type in ("schedule", "schedule_reference", "schedule_v3_reference")


def dedupe(items: Iterable[str]) -> list[str]:
    """``items`` without repeats, each where it first appears (a ``set`` would lose the order)."""
    return list(dict.fromkeys(items))
