"""Property: after any sequence of writes, incremental syncs leave the index and the entities
exactly as a full sync of the same account does (issue 15).

Each seed makes 200 random writes through the simulator's REST API (policies created, renamed,
re-targeted, deleted; v2 and v3 schedules renamed and deleted; team members added, removed and
given roles; users created, renamed, re-addressed, promoted, demoted, deleted; teams created,
renamed, deleted), with an incremental sync after every few. PagerDuty's refusals (deleting a
schedule a policy uses...) are writes that did not happen, and are skipped.
"""

from __future__ import annotations

import random
from typing import Any

import httpx
import pytest
from incremental_helpers import docs, entities, full, incremental, schedule_ids

from pdsearch.simulator.account import Account

WRITES = 200
ROLES = ("admin", "user", "limited_user", "observer")
WORDS = ("Harbour", "Tide", "Beacon", "Ferry", "Quay", "Gull", "Anchor", "Reef", "Dune", "Cove")


class Writer:
    """Random writes to one simulated account, through its REST API."""

    def __init__(self, env: Any, rng: random.Random) -> None:
        self.env = env
        self.account: Account = env.sim.account
        self.rng = rng
        self.n = 0
        owner = next(u for u in self.account.users.values() if u.get("role") == "owner")
        self.headers = {"Authorization": f"Token token={env.sim.api_key}",
                        "From": owner["email"]}

    def _name(self) -> str:
        self.n += 1
        return f"{self.rng.choice(WORDS)} {self.rng.choice(WORDS)} {self.n}"

    def _pick(self, ids: Any) -> str:
        return str(self.rng.choice(sorted(ids)))

    def _target(self) -> dict[str, str]:
        account = self.account
        if self.rng.random() < 0.5:
            v3 = self.rng.random() < 0.3
            ids = schedule_ids(account, v3=v3) or schedule_ids(account, v3=not v3)
            sid = self._pick(ids)
            kind = account.schedules[sid].get("type") == "schedule_v3"
            return {"id": sid, "type": "schedule_v3_reference" if kind else "schedule_reference"}
        return {"id": self._pick(account.users), "type": "user_reference"}

    def _rules(self) -> list[dict[str, Any]]:
        return [{"escalation_delay_in_minutes": 10 + 5 * i, "targets": [self._target()]}
                for i in range(self.rng.randint(1, 2))]

    def step(self) -> tuple[str, str, dict[str, Any] | None]:
        a, rng = self.account, self.rng
        kind = rng.randrange(16)
        if kind == 0:
            return "POST", "/escalation_policies", {"escalation_policy": {
                "name": self._name(), "escalation_rules": self._rules()}}
        if kind == 1:
            return ("PUT", f"/escalation_policies/{self._pick(a.escalation_policies)}",
                    {"escalation_policy": {"name": self._name()}})
        if kind == 2:
            return ("PUT", f"/escalation_policies/{self._pick(a.escalation_policies)}",
                    {"escalation_policy": {"escalation_rules": self._rules()}})
        if kind == 3:
            return "DELETE", f"/escalation_policies/{self._pick(a.escalation_policies)}", None
        if kind in (4, 5):
            v3 = kind == 5
            sid = self._pick(schedule_ids(a, v3=v3))
            path = f"/v3/schedules/{sid}" if v3 else f"/schedules/{sid}"
            return "PUT", path, {"schedule": {"name": self._name()}}
        if kind == 6:
            v3 = rng.random() < 0.4
            sid = self._pick(schedule_ids(a, v3=v3))
            return "DELETE", f"/v3/schedules/{sid}" if v3 else f"/schedules/{sid}", None
        if kind in (7, 8):
            team = self._pick(a.teams)
            return ("PUT", f"/teams/{team}/users/{self._pick(a.users)}",
                    {"role": rng.choice(("observer", "responder", "manager"))})
        if kind == 9:
            pairs = sorted((t, m["user_id"]) for t, ms in a.memberships.items() for m in ms)
            team, user = rng.choice(pairs)
            return "DELETE", f"/teams/{team}/users/{user}", None
        if kind == 10:
            return ("PUT", f"/users/{self._pick(a.users)}",
                    {"user": {"role": rng.choice(ROLES)}})
        if kind == 11:
            self.n += 1
            return ("PUT", f"/users/{self._pick(a.users)}",
                    {"user": {"name": self._name(), "email": f"renamed{self.n}@harbour.example"}})
        if kind == 12:
            self.n += 1
            return "POST", "/users", {"user": {"name": self._name(), "email":
                                               f"new{self.n}@harbour.example", "role": "user"}}
        if kind == 13:
            return "DELETE", f"/users/{self._pick(a.users)}", None
        if kind == 14:
            if rng.random() < 0.5:
                return "POST", "/teams", {"team": {"name": self._name()}}
            return "PUT", f"/teams/{self._pick(a.teams)}", {"team": {"name": self._name()}}
        return "DELETE", f"/teams/{self._pick(a.teams)}", None

    async def write(self, pd: httpx.AsyncClient) -> bool:
        method, path, body = self.step()
        response = await pd.request(method, path, json=body, headers=self.headers)
        assert response.status_code < 500, response.text
        return response.status_code < 300


def _index(env: Any) -> dict[str, tuple[str, str, tuple[str, ...], str]]:
    return {i: (d.title, d.content, tuple(d.sys_racl), d.content_hash)
            for i, d in docs(env).items()}


@pytest.mark.parametrize("seed", [1, 2])
async def test_incremental_syncs_agree_with_a_full_sync(
    sync_env_factory: Any, sim: Any, seed: int
) -> None:
    rng = random.Random(seed)
    env = sync_env_factory(sim)
    await full(env)
    writer = Writer(env, rng)
    done = 0
    async with env.pd() as pd:
        for n in range(WRITES):
            done += await writer.write(pd)
            if rng.random() < 0.1 or n == WRITES - 1:
                await incremental(env)
    assert done >= WRITES // 2, "most writes should have been accepted"

    fresh = sync_env_factory(sim)
    await full(fresh)
    got, want = _index(env), _index(fresh)
    assert set(got) == set(want)
    for doc_id in sorted(want):
        assert got[doc_id] == want[doc_id], doc_id
    assert entities(env) == entities(fresh)
