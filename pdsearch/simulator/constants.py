"""PagerDuty's vocabulary as the simulator uses it: object kinds, roles, enums and abilities.

A leaf module: everything else in the simulator may import it, it imports nothing of the simulator.
"""

from __future__ import annotations

# The kinds the account stores and the write methods take. ``schedules`` are layer-based (v2),
# ``schedules_v3`` shift-based; both live in one dict (PagerDuty keeps the id when a schedule is
# upgraded), told apart by ``type``.
KINDS = ("users", "teams", "schedules", "schedules_v3", "escalation_policies", "services")

# kind -> (reference type, API path, web path)
REFERENCES: dict[str, tuple[str, str, str]] = {
    "users": ("user_reference", "users", "users"),
    "teams": ("team_reference", "teams", "teams"),
    "schedules": ("schedule_reference", "schedules", "schedules"),
    "schedules_v3": ("schedule_v3_reference", "v3/schedules", "schedules"),
    "escalation_policies": (
        "escalation_policy_reference",
        "escalation_policies",
        "escalation_policies",
    ),
    "services": ("service_reference", "services", "service-directory"),
}

# What a new account may do. PagerDuty names ``teams`` and ``read_only_users`` (the spec's
# /abilities example); it names no ability for the Audit Trail feature, so ``audit_trail`` is the
# simulator's own switch for it (an account without it gets 402 from the audit endpoints).
DEFAULT_ABILITIES = (
    "teams",
    "read_only_users",
    "advanced_permissions",
    "audit_trail",
    "escalation_policy_support",
    "urgencies",
)

USER_ROLES = (
    "admin",
    "limited_user",
    "observer",
    "owner",
    "read_only_user",
    "restricted_access",
    "read_only_limited_user",
    "user",
)
# Account roles that may read the account-wide audit trail (FACTS §1).
AUDIT_READER_ROLES = ("owner", "admin")
# Observers and read-only users cannot be on call in PagerDuty.
NOT_ON_CALL = ("observer", "read_only_user", "read_only_limited_user")
TEAM_ROLES = ("observer", "responder", "manager")
TARGET_TYPES = ("user", "schedule", "user_reference", "schedule_reference", "schedule_v3_reference")
RULE_STRATEGIES = ("round_robin", "assign_to_everyone")
HANDOFF = ("if_has_services", "always")
V3_STRATEGIES = ("rotating_member_assignment_strategy", "every_member_assignment_strategy")
