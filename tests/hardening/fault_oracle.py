"""An oracle for the fault tests: what the index should hold, computed from the simulator alone.

The oracle reads the simulator's stored objects (not its rendered answers, not pdsearch's
mapping): one document per escalation policy and per schedule (v2 and v3), titled with the
object's name, readable by the account's subdomain followed by the teams stored on the object.
``check_after_fault`` then judges an index left by a sync that ran under a fault.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from pdsearch.simulator.account import Account

#: doc id → (title, sys_racl as (subdomain, *sorted team ids))
State = dict[str, tuple[str, tuple[str, ...]]]


def _racl(subdomain: str, obj: dict[str, Any]) -> tuple[str, ...]:
    return (subdomain, *sorted({t["id"] for t in obj.get("teams") or []}))


def expected_state(account: Account) -> State:
    """What PagerDuty holds now, as the index should show it."""
    out: State = {}
    for pid, policy in account.escalation_policies.items():
        out[f"escalation_policy:{pid}"] = (policy["name"], _racl(account.subdomain, policy))
    for sid, schedule in account.schedules.items():
        out[f"schedule:{sid}"] = (schedule["name"], _racl(account.subdomain, schedule))
    return out


#: entity id → the e-mails of its members (lower-cased)
Entities = dict[str, frozenset[str]]


def expected_entities(account: Account) -> Entities:
    """Who may see what, from the simulator alone: the subdomain holds owners and admins, each
    team its members (DESIGN.md 2.2)."""
    email = {uid: u["email"].strip().lower() for uid, u in account.users.items()}
    out: Entities = {
        account.subdomain: frozenset(
            email[uid] for uid, u in account.users.items() if u.get("role") in ("owner", "admin")
        )
    }
    for team_id in account.teams:
        out[team_id] = frozenset(
            email[m["user_id"]] for m in account.memberships.get(team_id, [])
            if m["user_id"] in email
        )
    return out


def stored_entities(store: Any, connector_id: str) -> Entities:
    records, total = store.entities.list(connector_id, 0, 100_000)
    assert total == len(records)
    return {r.entity_id: frozenset(r.user_ids) for r in records}


def index_state(index: Any, source: str) -> State:
    """What the index holds for ``source``; the subdomain stays first, teams compared as a set."""
    docs, total = index.list(source, 0, 1_000_000)
    assert total == len(docs)
    return {d.id: (d.title, (d.sys_racl[0], *sorted(d.sys_racl[1:]))) for d in docs}


@dataclass
class Verdict:
    """The figures of one faulty run, as RELIABILITY.md reports them."""

    lost: list[str] = field(default_factory=list)
    wrongly_deleted: list[str] = field(default_factory=list)
    wrong_acl: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not (self.lost or self.wrongly_deleted or self.wrong_acl or self.unknown)


def judge(before: State, truth: State, after: State, succeeded: bool) -> Verdict:
    """Compare the index after a faulty sync with PagerDuty's state and the index before it.

    - lost: in PagerDuty, not in the index, although the job said it succeeded;
    - wrongly deleted: indexed before, still in PagerDuty, gone from the index (whatever the job
      said: a failed sync must delete nothing);
    - wrong ACL: the document's title or ``sys_racl`` is neither PagerDuty's now nor (after a
      failed job, which keeps the previous index) the previous sync's;
    - unknown: a document that neither PagerDuty nor the previous index ever had.
    """
    verdict = Verdict()
    for doc_id in truth:
        if doc_id not in after:
            if doc_id in before:
                verdict.wrongly_deleted.append(doc_id)
            elif succeeded:
                verdict.lost.append(doc_id)
    for doc_id, value in after.items():
        if doc_id not in truth and doc_id not in before:
            verdict.unknown.append(doc_id)
            continue
        if succeeded:
            if doc_id not in truth:
                verdict.lost.append(f"{doc_id} (not swept)")
            elif value != truth[doc_id]:
                verdict.wrong_acl.append(doc_id)
        elif value != truth.get(doc_id) and value != before.get(doc_id):
            verdict.wrong_acl.append(doc_id)
    return verdict


# --- changing the account between two syncs -------------------------------------------------


def _targeted_schedules(account: Account) -> set[str]:
    return {
        t["id"]
        for p in account.escalation_policies.values()
        for r in p["escalation_rules"]
        for t in r["targets"]
    }


def mutate(account: Account, tag: str = "renamed") -> dict[str, str]:
    """Delete a policy and a schedule, rename two objects, move a policy and a schedule to
    another team, so that a wrong sweep, a skipped update or a stale access list shows."""
    used = {(s.get("escalation_policy") or {}).get("id") for s in account.services.values()}
    free_policies = [p for p in sorted(account.escalation_policies) if p not in used]
    targeted = _targeted_schedules(account)
    free_schedules = [s for s in sorted(account.schedules) if s not in targeted]
    teams = sorted(account.teams)
    done: dict[str, str] = {}

    if free_policies:
        account.delete("escalation_policies", free_policies[0])
        done["deleted_policy"] = free_policies[0]
    if free_schedules:
        gone_schedule = free_schedules[0]
        account.delete(account.schedule_kind(gone_schedule), gone_schedule)
        done["deleted_schedule"] = gone_schedule
    # Renames and team moves may touch any schedule (a targeted one changes policies too).
    schedules = sorted(account.schedules)

    renamed_policy = sorted(account.escalation_policies)[-1]
    account.update(
        "escalation_policies",
        renamed_policy,
        {"name": f"{account.escalation_policies[renamed_policy]['name']} {tag}"},
    )
    done["renamed_policy"] = renamed_policy
    renamed_schedule = schedules[len(schedules) // 2]
    kind = account.schedule_kind(renamed_schedule)
    account.update(
        kind, renamed_schedule, {"name": f"{account.schedules[renamed_schedule]['name']} {tag}"}
    )
    done["renamed_schedule"] = renamed_schedule

    # Access changes: a policy moves to another team, a schedule loses or gains its team.
    moved_policy = sorted(account.escalation_policies)[0]
    current = {t["id"] for t in account.escalation_policies[moved_policy].get("teams") or []}
    other = next(t for t in teams if t not in current)
    account.update(
        "escalation_policies", moved_policy, {"teams": [{"id": other, "type": "team_reference"}]}
    )
    done["moved_policy"] = moved_policy
    moved_schedule = schedules[-1]
    kind = account.schedule_kind(moved_schedule)
    had = account.schedules[moved_schedule].get("teams") or []
    new_teams = [] if had else [{"id": teams[-1], "type": "team_reference"}]
    account.update(kind, moved_schedule, {"teams": new_teams})
    done["moved_schedule"] = moved_schedule

    # Membership and role changes: one user leaves a team, another joins one, one becomes admin.
    for team_id in teams:
        members = account.memberships.get(team_id, [])
        if len(members) > 1:
            account.remove_team_member(team_id, members[0]["user_id"])
            done["left_team"] = f"{members[0]['user_id']}@{team_id}"
            break
    joined_team = teams[0]
    on_team = {m["user_id"] for m in account.memberships.get(joined_team, [])}
    newcomer = next(u for u in sorted(account.users) if u not in on_team)
    account.add_team_member(joined_team, newcomer, "responder")
    done["joined_team"] = f"{newcomer}@{joined_team}"
    promoted = next(
        (u for u, user in sorted(account.users.items()) if user.get("role") == "user"), None
    )
    if promoted is not None:
        account.update("users", promoted, {"role": "admin"})
        done["promoted"] = promoted
    return done


class ScaledClock:
    """A clock on which ``factor`` seconds pass per real second, for the simulator and the
    client together: a rate-limit window of a minute passes in well under a second, and both
    sides agree on it."""

    def __init__(self, factor: float) -> None:
        self.factor = factor
        self._real0 = time.monotonic()
        self._wall0 = time.time()

    def _elapsed(self) -> float:
        return (time.monotonic() - self._real0) * self.factor

    def time(self) -> float:
        return self._wall0 + self._elapsed()

    def monotonic(self) -> float:
        return self._real0 + self._elapsed()

    async def sleep(self, seconds: float) -> None:
        import asyncio

        await asyncio.sleep(max(0.0, seconds) / self.factor)
