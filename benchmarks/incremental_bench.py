"""Scenario ``incremental``: incremental syncs from audit records on the sync scenarios' account.

In a child process (``benchmarks.worker incremental``), with pdsearch's own service, store and
index: a full sync (which leaves the audit cursor and the objects it read), then incremental
syncs with nothing changed (requests, seconds), then ``k`` writes through the simulator's REST
API (users renamed, schedules renamed, policies renamed, users added to teams, in turn) and
one incremental sync (requests against the target of 2 + 2k, seconds, documents written).

The budget: an incremental sync every 5 minutes spends ``requests / 5`` a minute of PagerDuty's
960 requests a minute per credential (FACTS §3); the target is at most 1 %.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from benchmarks.marks import mark
from benchmarks.sync_bench import API_KEY, PAGERDUTY_BUDGET, run_worker
from pdsearch.simulator.account import Account
from pdsearch.simulator.config import SimulatorConfig
from pdsearch.simulator.server import SimulatorServer

#: Minutes between incremental syncs at the default schedule.
INTERVAL_MINUTES = 5
NOTHING_ROUNDS = 5


def run(account: Account, *, latency_ms: int, changes: int,
        log: Callable[[str], None] = print) -> dict[str, Any]:
    """The scenario on ``account`` (the harness side); the figures ``section`` renders."""
    config = SimulatorConfig(api_key=API_KEY, rate_limit=0, latency_ms=latency_ms,
                             subdomain=account.subdomain)
    with SimulatorServer(config, account) as server, \
            tempfile.TemporaryDirectory(prefix="pdsearch-bench-incremental-") as tmp:
        log(f"incremental: full sync, then incremental ones (nothing changed, {changes} "
            "changes) ...")
        res = run_worker("incremental", server, "--data-dir", tmp, "--changes", str(changes))
    res["latency_ms"] = latency_ms
    per_minute = res["nothing"]["requests"] / INTERVAL_MINUTES
    res["budget_share"] = per_minute / PAGERDUTY_BUDGET
    log(f"incremental: nothing changed {res['nothing']['requests']} requests, "
        f"{res['nothing']['wall_seconds'] * 1000:.0f} ms; {changes} changes "
        f"{res['changed']['requests']} requests, {res['changed']['wall_seconds']:.2f} s")
    return res


async def measure(base_url: str, api_key: str, data_dir: Path, changes: int) -> dict[str, Any]:
    """The worker side: pdsearch's service syncing the simulator at ``base_url``."""
    from cryptography.fernet import Fernet

    from pdsearch.index.sqlite import SqliteIndex
    from pdsearch.store import Store
    from pdsearch.sync.service import SyncService

    store = Store(data_dir / "state.db", Fernet.generate_key())
    index = SqliteIndex(data_dir / "index.db")
    try:
        cid = store.connectors.create("bench", "api_key", "us", {"api_key": api_key},
                                      base_url=base_url).id
        service = SyncService(store, index)

        async def timed(mode: str) -> dict[str, Any]:
            started = time.perf_counter()
            job = await service.run(cid, mode=mode)
            wall = time.perf_counter() - started
            if job.status != "succeeded" or job.mode != mode:
                raise RuntimeError(f"the {mode} sync ended {job.status} as {job.mode}: "
                                   f"{job.error or job.progress.get('fallback')}")
            return {"requests": job.requests, "wall_seconds": wall, "counts": job.counts}

        full = await timed("full")
        rounds = [await timed("incremental") for _ in range(NOTHING_ROUNDS)]
        nothing = {"requests": max(r["requests"] for r in rounds),
                   "wall_seconds": statistics.median(r["wall_seconds"] for r in rounds),
                   "wall_max_seconds": max(r["wall_seconds"] for r in rounds)}
        written = await _write(base_url, api_key, changes)
        changed = await timed("incremental")
        changed["writes"] = written
        changed["target_requests"] = 2 + 2 * changes
        return {"full": full, "nothing": nothing, "changed": changed, "changes": changes,
                "documents": index.count(cid)}
    finally:
        index.close()
        store.close()


async def _write(base_url: str, api_key: str, k: int) -> dict[str, int]:
    """``k`` writes through the REST API, kinds in turn; how many of each."""
    headers = {"Authorization": f"Token token={api_key}", "Accept":
               "application/vnd.pagerduty+json;version=2"}
    done = {"user renamed": 0, "schedule renamed": 0, "policy renamed": 0, "member added": 0}
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=60) as pd:
        users = (await pd.get("/users", params={"limit": 100})).json()["users"]
        schedules = (await pd.get("/schedules", params={"limit": 100})).json()["schedules"]
        policies = (await pd.get("/escalation_policies", params={"limit": 100})
                    ).json()["escalation_policies"]
        teams = (await pd.get("/teams", params={"limit": 100})).json()["teams"]
        for n in range(k):
            kind = list(done)[n % len(done)]
            i = n // len(done)
            if kind == "user renamed":
                resp = await pd.put(f"/users/{users[i]['id']}",
                                    json={"user": {"name": f"Renamed User {n}"}})
            elif kind == "schedule renamed":
                resp = await pd.put(f"/schedules/{schedules[i]['id']}",
                                    json={"schedule": {"name": f"Renamed Schedule {n}"}})
            elif kind == "policy renamed":
                resp = await pd.put(f"/escalation_policies/{policies[i]['id']}",
                                    json={"escalation_policy": {"name": f"Renamed Policy {n}"}})
            else:
                team, user = teams[i % len(teams)], users[-1 - i]
                resp = await pd.put(f"/teams/{team['id']}/users/{user['id']}",
                                    json={"role": "responder"})
            resp.raise_for_status()
            done[kind] += 1
    return done


def section(res: dict[str, Any]) -> list[str]:
    """The page's section for this scenario."""
    nothing, changed, k = res["nothing"], res["changed"], res["changes"]
    writes = ", ".join(f"{n} {kind}" for kind, n in changed["writes"].items() if n)
    c = changed["counts"]
    within = changed["requests"] <= changed["target_requests"]
    return [
        "## 8. Incremental sync from audit records",
        "",
        f"The sync scenarios' account ({res['documents']:,} documents), simulator on 127.0.0.1 "
        f"with {res['latency_ms']} ms latency per request; pdsearch's own service in a child "
        "process. After a full sync: incremental syncs with nothing changed (the median of "
        f"{NOTHING_ROUNDS}), then {k} writes ({writes}) and one incremental sync.",
        "",
        "| measure | value | target | |",
        "|---|---|---|---|",
        f"| full sync before (requests, wall) | {res['full']['requests']}, "
        f"{res['full']['wall_seconds']:.1f} s | | |",
        f"| nothing changed: requests | {nothing['requests']} | ≤ 2 | "
        f"{mark(nothing['requests'] <= 2)} |",
        f"| nothing changed: wall (median / max) | {nothing['wall_seconds'] * 1000:.0f} / "
        f"{nothing['wall_max_seconds'] * 1000:.0f} ms | ≤ 500 ms | "
        f"{mark(nothing['wall_seconds'] <= 0.5)} |",
        f"| {k} changes: requests | {changed['requests']} | ≤ 2 + 2k = "
        f"{changed['target_requests']} | {mark(within)} |",
        f"| {k} changes: wall | {changed['wall_seconds']:.2f} s | | |",
        f"| {k} changes: documents written | {c['added'] + c['updated'] + c['deleted']} "
        f"({c['updated']} updated) of {res['documents']:,} | | |",
        f"| budget at one incremental sync every {INTERVAL_MINUTES} min | "
        f"{res['budget_share'] * 100:.3f} % of 960 requests/min | ≤ 1 % | "
        f"{mark(res['budget_share'] <= 0.01)} |",
        "",
    ]

