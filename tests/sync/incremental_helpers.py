"""Helpers of the incremental sync's tests: run syncs, read what they left, write to PagerDuty."""

from __future__ import annotations

from typing import Any

import httpx

from pdsearch.index.base import Document
from pdsearch.simulator.account import Account
from pdsearch.store import Job


async def full(env: Any) -> Job:
    job: Job = await env.service.run(env.connector_id, mode="full")
    assert job.status == "succeeded", job.error
    return job


async def incremental(env: Any) -> Job:
    """One incremental sync that must run as one (no fallback) and succeed."""
    job: Job = await env.service.run(env.connector_id, mode="incremental")
    assert job.status == "succeeded", job.error
    assert job.mode == "incremental", job.progress.get("fallback")
    assert "fallback" not in job.progress
    return job


def docs(env: Any) -> dict[str, Document]:
    found, total = env.index.list(env.connector_id, 0, 100_000)
    assert total == len(found)
    return {d.id: d for d in found}


def entities(env: Any) -> dict[str, tuple[str, str, tuple[str, ...]]]:
    records, _ = env.store.entities.list(env.connector_id, limit=100_000)
    return {r.entity_id: (r.name, r.type, tuple(r.user_ids)) for r in records}


async def send(env: Any, method: str, path: str, body: dict[str, Any] | None = None
               ) -> httpx.Response:
    async with env.pd() as pd:
        resp: httpx.Response = await pd.request(method, path, json=body)
        return resp


async def write(env: Any, method: str, path: str, body: dict[str, Any] | None = None
                ) -> dict[str, Any]:
    response = await send(env, method, path, body)
    assert response.status_code in (200, 201, 204), response.text
    return response.json() if response.content else {}


def targeted(account: Account) -> set[str]:
    return {t["id"] for p in account.escalation_policies.values()
            for r in p["escalation_rules"] for t in r["targets"]}


def untargeted_schedule(account: Account, v3: bool) -> str:
    """A schedule (v2 or v3) no policy targets: it can be deleted."""
    used = targeted(account)
    for sid, sched in sorted(account.schedules.items()):
        if (sched.get("type") == "schedule_v3") == v3 and sid not in used:
            return sid
    raise AssertionError("the generated account has no untargeted schedule of that kind")


def schedule_ids(account: Account, v3: bool) -> list[str]:
    return sorted(sid for sid, s in account.schedules.items()
                  if (s.get("type") == "schedule_v3") == v3)
