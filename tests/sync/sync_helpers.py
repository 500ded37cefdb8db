"""Picking objects of a generated account that a test can change without side effects."""

from __future__ import annotations

from pdsearch.simulator.account import Account


def deletable_policy(account: Account) -> str:
    """A policy no service uses: PagerDuty refuses to delete one that is in use."""
    used = {(s.get("escalation_policy") or {}).get("id") for s in account.services.values()}
    return next(p for p in sorted(account.escalation_policies) if p not in used)


def isolated_schedule(account: Account) -> str:
    """A v2 schedule no policy targets, so renaming it changes its document only."""
    targeted = {
        t["id"]
        for p in account.escalation_policies.values()
        for r in p["escalation_rules"]
        for t in r["targets"]
    }
    for sid, sched in sorted(account.schedules.items()):
        if sched.get("type") != "schedule_v3" and sid not in targeted:
            return sid
    raise AssertionError("the generated account has no untargeted schedule")
