"""Model objects for mapping tests: the spec's own examples, plus small hand-made accounts."""

from __future__ import annotations

import json
from typing import Any

from spec_paths import PAGERDUTY_EXAMPLES

from pdsearch.pagerduty.models import EscalationPolicy, Schedule, Team, User

EXAMPLES = PAGERDUTY_EXAMPLES


def example(name: str) -> Any:
    return json.loads((EXAMPLES / name).read_text())


def example_users() -> list[User]:
    return [User.model_validate(u) for u in example("users_list_with_teams.json")["users"]]


def example_teams() -> list[Team]:
    return [Team.model_validate(t) for t in example("teams_list_page.json")["teams"]]


def example_policies() -> list[EscalationPolicy]:
    data = example("escalation_policies_list_page.json")["escalation_policies"]
    return [EscalationPolicy.model_validate(p) for p in data]


def example_schedule() -> Schedule:
    return Schedule.model_validate(example("schedule_single_with_layers.json")["schedule"])


def example_listed_schedules() -> list[Schedule]:
    data = example("schedules_list_page_with_layers.json")["schedules"]
    return [Schedule.model_validate(s) for s in data]


def ref(kind: str, obj_id: str, summary: str | None = None) -> dict[str, Any]:
    return {"id": obj_id, "type": f"{kind}_reference", "summary": summary,
            "html_url": f"https://acme.pagerduty.com/{kind}s/{obj_id}"}


def user(obj_id: str, name: str, email: str, role: str = "user",
         teams: list[str] | None = None) -> User:
    return User.model_validate({"id": obj_id, "name": name, "email": email, "role": role,
                                "teams": [ref("team", t) for t in teams or []]})


def team(obj_id: str, name: str, default_role: str = "manager") -> Team:
    return Team.model_validate({"id": obj_id, "name": name, "default_role": default_role})


def layer(name: str, turn: int, users: list[str], restrictions: list[dict[str, Any]] | None = None,
          start: str = "2026-01-05T09:00:00+01:00", end: str | None = None) -> dict[str, Any]:
    return {"id": f"L{name[:3].upper()}", "name": name, "start": start, "end": end,
            "rotation_virtual_start": start, "rotation_turn_length_seconds": turn,
            "users": [{"user": ref("user", u)} for u in users],
            "restrictions": restrictions or []}


def weekly(day: int, start: str, seconds: int) -> dict[str, Any]:
    return {"type": "weekly_restriction", "start_day_of_week": day, "start_time_of_day": start,
            "duration_seconds": seconds}


def daily(start: str, seconds: int) -> dict[str, Any]:
    return {"type": "daily_restriction", "start_time_of_day": start, "duration_seconds": seconds}


class SimulatedAccount:
    """A generated simulator account, read back through PagerDuty's shapes into the models."""

    def __init__(self, seed: int = 7, teams: int = 12, users: int = 80, schedules: int = 30,
                 policies: int = 24, subdomain: str = "acme") -> None:
        from pdsearch.pagerduty.models import ScheduleV3, TeamMember
        from pdsearch.simulator.account import Account

        acc = Account.generate(seed=seed, teams=teams, users=users, schedules=schedules,
                               policies=policies, subdomain=subdomain)
        self.account = acc
        self.subdomain = acc.subdomain
        self.users = [User.model_validate(acc.render_user(i, True)) for i in acc.list_ids("users")]
        self.teams = [Team.model_validate(acc.render_team(i)) for i in acc.list_ids("teams")]
        self.memberships = {
            t.id: [TeamMember.model_validate(m) for m in acc.members(t.id)] for t in self.teams
        }
        self.schedules = [Schedule.model_validate(acc.render_schedule(i))
                          for i in acc.list_ids("schedules")]
        self.schedules_v3 = [ScheduleV3.model_validate(acc.render_schedule_v3(i))
                             for i in acc.list_ids("schedules_v3")]
        self.policies = [
            EscalationPolicy.model_validate(
                acc.render_policy(i, ("services", "teams", "targets")))
            for i in acc.list_ids("escalation_policies")
        ]
