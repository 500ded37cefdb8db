"""Scenarios 1–3: pdsearch's full sync, the same under a binding rate limit, and the peers.

The simulator serves the account from this process (uvicorn in a thread, on 127.0.0.1); every
measured reader runs in a child process (``benchmarks.worker``), so it has its own interpreter,
its own peak RSS and no share of the simulator's GIL.

The minimum number of requests is what the listings need and nothing else: one page of 100 per
100 teams, users, escalation policies, layer-based schedules and services (their descriptions go
into the documents, issue 13), the shift-based (v3) schedule list at its own largest page
(1,000), one GET per v3 schedule (its list holds references only), and one look at the audit
trail (where the next incremental sync starts, issue 15). Team member listings are not in it:
pdsearch reads memberships from the users listing (``include[]=teams``) and reads members only
when PagerDuty leaves that include out.

The rate-limit bound. The simulator gives each token a budget ``B`` per fixed one-minute window
that starts at the window's first request (``pdsearch/simulator/ratelimit.py``). ``N`` requests
need ``k = ceil(N / B)`` windows, so the last window cannot open before ``(k - 1)`` minutes, and
its ``r = N - (k - 1) B`` requests take at least ``ceil(r / c)`` round trips of latency ``L`` with
``c`` requests in flight (the client's concurrency). Latency alone needs ``ceil(N / c) L``. The
bound is the larger of the two:

    bound = max((k - 1) * 60 s + ceil(r / c) * L,  ceil(N / c) * L)
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pdsearch.simulator.account import Account
from pdsearch.simulator.config import SimulatorConfig
from pdsearch.simulator.ratelimit import WINDOW_SECONDS
from pdsearch.simulator.server import SimulatorServer

API_KEY = "benchmark-simulator-key"
PAGE = 100
V3_LIST_PAGE = 1000  # the v3 list's own largest page (FACTS §1)
#: PagerDuty's real budget per credential (FACTS §3), to tell what a method costs in minutes.
PAGERDUTY_BUDGET = 960
WORKER_TIMEOUT_SECONDS = 900.0


@dataclass(frozen=True)
class Truth:
    """What the account holds, counted from the simulator's own data."""

    teams: int
    users: int
    policies: int
    schedules_v2: int
    schedules_v3: int
    services: int = 0

    @classmethod
    def of(cls, account: Account) -> Truth:
        v3 = sum(1 for s in account.schedules.values() if s.get("type") == "schedule_v3")
        return cls(
            teams=len(account.teams),
            users=len(account.users),
            policies=len(account.escalation_policies),
            schedules_v2=len(account.schedules) - v3,
            schedules_v3=v3,
            services=len(account.services),
        )

    @property
    def documents(self) -> int:
        return self.policies + self.schedules_v2 + self.schedules_v3

    @property
    def objects(self) -> int:
        return self.teams + self.users + self.documents

    def minimum_requests(self) -> dict[str, int]:
        """Requests each listing needs at the least (see the module docstring)."""
        return {
            "teams": math.ceil(self.teams / PAGE),
            "users": math.ceil(self.users / PAGE),
            "escalation_policies": math.ceil(self.policies / PAGE),
            "schedules": math.ceil(self.schedules_v2 / PAGE),
            "v3 list": math.ceil(self.schedules_v3 / V3_LIST_PAGE),
            "v3 details": self.schedules_v3,
            "services": math.ceil(self.services / PAGE),
            "audit trail": 1,
        }

    def as_counts(self) -> dict[str, int]:
        return {
            "teams": self.teams,
            "users": self.users,
            "escalation_policies": self.policies,
            "schedules": self.schedules_v2,
            "schedules_v3": self.schedules_v3,
        }


def rate_limit_bound(
    requests: int, budget: int, window: float, latency: float, concurrency: int
) -> float:
    """The least wall time ``requests`` can take (see the module docstring)."""
    latency_bound = math.ceil(requests / concurrency) * latency
    if budget <= 0:
        return latency_bound
    windows = math.ceil(requests / budget)
    last = requests - (windows - 1) * budget
    rate_bound = (windows - 1) * window + math.ceil(last / concurrency) * latency
    return max(rate_bound, latency_bound)


def run_worker(command: str, server: SimulatorServer, *extra: str) -> dict[str, Any]:
    """One measured run in a child process; its JSON result plus the simulator's side."""
    sim = server.simulator
    sim.reset_counters()
    sim.limiter.reset()
    cpu_before = time.process_time()
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(Path(__file__).resolve().parent.parent), env.get("PYTHONPATH")) if p
    )
    completed = subprocess.run(
        [sys.executable, "-m", "benchmarks.worker", command, "--base-url", server.base_url,
         "--api-key", API_KEY, *extra],
        capture_output=True, text=True, timeout=WORKER_TIMEOUT_SECONDS, env=env, check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(
            f"benchmark worker {command!r} failed ({completed.returncode}):\n"
            f"{completed.stderr[-3000:]}"
        )
    result: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    result["simulator_requests"] = sim.request_count
    result["simulator_cpu_seconds"] = time.process_time() - cpu_before
    return result


def _sync(server: SimulatorServer, time_scale: float = 1.0, *, semantic: bool = False,
          again: bool = False) -> dict[str, Any]:
    """A full sync in a worker (``again``: then one with nothing changed)."""
    with tempfile.TemporaryDirectory(prefix="pdsearch-bench-sync-") as tmp:
        return run_worker("sync", server, "--data-dir", tmp, "--time-scale", str(time_scale),
                          *(["--semantic"] if semantic else []),
                          *(["--again"] if again else []))


class ScaledSimulatorClock:
    """The simulator's clock running ``scale`` times faster (short form; see worker.ScaledClock)."""

    def __init__(self, scale: float) -> None:
        self.scale = scale
        self.origin = time.time()

    def __call__(self) -> float:
        return self.origin + (time.time() - self.origin) * self.scale


def run(
    account: Account,
    *,
    latency_ms: int,
    scenarios: set[str],
    budget_fraction: float = 1.6,
    time_scale: float = 1.0,
    byid_threads: int = 4,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Scenarios ``sync``, ``ratelimit`` and ``peers`` (those in ``scenarios``) on ``account``.

    The rate-limit budget is the minimum request count divided by ``budget_fraction``, so the
    sync needs that many minutes' worth of budget; ``time_scale`` speeds up the window (short
    form only).
    """
    truth = Truth.of(account)
    minimum = truth.minimum_requests()
    min_total = sum(minimum.values())
    config = SimulatorConfig(
        api_key=API_KEY, rate_limit=0, latency_ms=latency_ms, subdomain=account.subdomain
    )
    results: dict[str, Any] = {
        "truth": truth.as_counts(),
        "documents_expected": truth.documents,
        "objects": truth.objects,
        "minimum_requests": minimum,
        "minimum_total": min_total,
        "latency_ms": latency_ms,
    }
    latency = latency_ms / 1000
    with SimulatorServer(config, account) as server:
        if "sync" in scenarios:
            log("sync: full sync, no binding rate limit ...")
            first = _sync(server, again=True)
            first["requests_ratio"] = first["requests"] / min_total
            first["docs_per_second"] = first["documents"] / first["wall_seconds"]
            concurrency = int(first.get("max_concurrency") or 4)
            first["latency_bound_seconds"] = rate_limit_bound(min_total, 0, 60, latency,
                                                              concurrency)
            results["sync"] = first
            log(f"sync: {first['status']}, {first['requests']} requests (minimum {min_total}), "
                f"{first['wall_seconds']:.1f} s, peak RSS {first['peak_rss_bytes'] / 2**20:.0f} MB")
            log("sync: the same with semantic search on (the model; vectors after the job) ...")
            semantic = _sync(server, semantic=True, again=True)
            semantic["wall_ratio"] = semantic["wall_seconds"] / first["wall_seconds"]
            semantic["second_wall_ratio"] = (semantic["second_wall_seconds"]
                                             / first["second_wall_seconds"])
            results["sync_semantic"] = semantic
            log(f"sync: semantic on, job {semantic['wall_seconds']:.1f} s "
                f"({semantic['wall_ratio']:.2f} × keyword only), vectors done after "
                f"{semantic['vectors_wall_seconds']:.1f} s")
        if "ratelimit" in scenarios:
            budget = max(20, math.ceil(min_total / budget_fraction))
            window = WINDOW_SECONDS / time_scale
            server.simulator.config.rate_limit = budget
            if time_scale != 1.0:
                server.simulator.clock = ScaledSimulatorClock(time_scale)
            log(f"ratelimit: full sync with a budget of {budget} requests per "
                f"{window:.0f} s window ...")
            try:
                limited = _sync(server, time_scale)
            finally:
                server.simulator.config.rate_limit = 0
            concurrency = int(limited.get("max_concurrency") or 4)
            limited["budget_per_window"] = budget
            limited["window_seconds"] = window
            limited["time_scale"] = time_scale
            limited["bound_seconds"] = rate_limit_bound(min_total, budget, window, latency,
                                                        concurrency)
            limited["bound_own_requests_seconds"] = rate_limit_bound(
                limited["requests"], budget, window, latency, concurrency)
            limited["wall_to_bound"] = limited["wall_seconds"] / limited["bound_seconds"]
            results["ratelimit"] = limited
            log(f"ratelimit: {limited['status']}, {limited['wall_seconds']:.1f} s against a "
                f"bound of {limited['bound_seconds']:.1f} s, "
                f"{limited['failed_requests']} failed requests")
        if "peers" in scenarios:
            log("peers: PagerDuty's Python client, iter_all on each collection ...")
            listed = run_worker("peer-list", server)
            listed["completeness"] = _completeness(listed["counts"], truth)
            results["peer_list"] = listed
            log(f"peers: listed in {listed['wall_seconds']:.1f} s, {listed['requests']} requests")
            log(f"peers: by-id fetch of {truth.objects:,} objects, {byid_threads} threads ...")
            byid = run_worker("peer-byid", server, "--threads", str(byid_threads))
            byid["completeness"] = byid["fetched"] / truth.objects
            results["peer_byid"] = byid
            log(f"peers: by id in {byid['wall_seconds']:.1f} s, {byid['requests']} requests")
    return results


def _completeness(counts: dict[str, int], truth: Truth) -> dict[str, Any]:
    """What a peer listing got, per collection and in all, against the truth."""
    want = truth.as_counts()
    got = {name: min(counts.get(name, 0), want[name]) for name in want}
    return {
        "got": got,
        "missing": {name: want[name] - got[name] for name in want if got[name] < want[name]},
        "share": sum(got.values()) / sum(want.values()),
    }
