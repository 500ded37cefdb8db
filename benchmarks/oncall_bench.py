"""Scenario ``oncall``: what an on-call refresh costs in PagerDuty requests, and what answering
adds to a search.

1. **Requests per refresh.** ``OnCallRefresher.refresh`` on the account, the simulator
   in-process: first a full read (what the first sync ends with, and a refresh once a day of the
   window has passed): ``/oncalls`` for every policy over the 7-day window plus one render per
   schedule the listing did not show; then the next refresh with nothing changed (the audit
   trail alone), then one after an override. Beside it the alternative, rendering every
   schedule one by one (``GET /schedules/{id}``, which still leaves policies' directly
   targeted users unknown). The budget: PagerDuty's 960 requests a minute per credential, of
   which refreshes every 10 minutes (the default) may take 2 % (192 requests an interval).
2. **Added search p50.** ``pdsearch.oncall.answers`` for pages of 10 results (policies and
   schedules drawn at random) over the refreshed shifts in a SQLite store, timed one page at a
   time after a warm-up: what a search with on-call answers adds to one without (the index is
   not involved: answers read only the store).
"""

from __future__ import annotations

import asyncio
import random
import statistics
import tempfile
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from cryptography.fernet import Fernet

from benchmarks.marks import mark
from pdsearch.index.base import Document, SearchHit
from pdsearch.index.sqlite import SqliteIndex
from pdsearch.oncall import answers
from pdsearch.pagerduty import ApiKeyAuth, PagerDutyClient
from pdsearch.simulator.account import Account
from pdsearch.simulator.app import create_app
from pdsearch.simulator.config import SimulatorConfig
from pdsearch.store import Job, Person, Store
from pdsearch.sync.oncall import OnCallRefresher

API_KEY = "bench-oncall-key-0123456789"
BASE = "http://127.0.0.1:9"  # never dialled: the ASGI transport answers in-process
BUDGET_PER_MINUTE = 960
INTERVAL_MINUTES = 10
TARGET_SHARE = 0.02
WINDOW_DAYS = 7
PAGE = 10


def _client(transport: httpx.AsyncBaseTransport) -> PagerDutyClient:
    return PagerDutyClient(ApiKeyAuth(API_KEY), base_url=BASE, transport=transport,
                           max_concurrency=4)


class _Clock:
    """One "now" for the simulator and the refresher, moved by the scenario."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at

    def seconds(self) -> float:
        return self.at.timestamp()


def _documents(account: Account, cid: str) -> list[Document]:
    """Bare documents of every policy and schedule: the refresh reads the index's ids only."""
    kinds = (("schedule", account.schedules), ("escalation_policy", account.escalation_policies))
    return [
        Document(f"{kind}:{oid}", kind, oid, oid, f"https://acme.pagerduty.com/{oid}", ("acme",),
                 cid)
        for kind, objects in kinds for oid in objects
    ]


async def _override(transport: httpx.AsyncBaseTransport, account: Account, at: datetime) -> str:
    """One override on a schedule a policy uses, made the way a person makes one."""
    used = sorted({t["id"] for p in account.escalation_policies.values()
                   for r in p["escalation_rules"] for t in r["targets"]
                   if t["type"].startswith("schedule")} & set(account.schedules))
    schedule_id: str = next(
        s for s in used if account.schedules[s].get("type") != "schedule_v3"
    )
    user = sorted(account.users)[0]
    body = {"overrides": [{"start": at.isoformat(), "end": (at + timedelta(hours=4)).isoformat(),
                           "user": {"id": user, "type": "user_reference"}}]}
    async with httpx.AsyncClient(transport=transport, base_url=BASE,
                                 headers={"Authorization": f"Token token={API_KEY}"}) as pd:
        made = await pd.post(f"/schedules/{schedule_id}/overrides", json=body)
        made.raise_for_status()
    return schedule_id


def _job_figures(job: Job | None) -> dict[str, Any]:
    if job is None or job.status != "succeeded":
        raise RuntimeError(f"the on-call refresh did not succeed: {job and job.error}")
    return {"requests": job.requests, "read": job.progress.get("read"),
            "shifts": job.progress.get("shifts"), "seconds": job.duration_seconds}


async def _per_schedule(schedule_ids: list[str], transport: httpx.AsyncBaseTransport,
                        since: datetime) -> tuple[int, float]:
    started = time.perf_counter()
    async with _client(transport) as client:
        until = since + timedelta(days=WINDOW_DAYS)
        await asyncio.gather(*(client.schedule_shifts(s, since, until) for s in schedule_ids))
        return client.requests_made, time.perf_counter() - started


def _answer_latency(store: Store, cid: str, account: Account, at: datetime,
                    rounds: int) -> dict[str, float]:
    ids = ([f"schedule:{s}" for s in account.schedules]
           + [f"escalation_policy:{p}" for p in account.escalation_policies])
    rng = random.Random(7)
    pages = [[SearchHit(d, cid, d.split(":")[0], "t", "s", "u", 1.0) for d in rng.sample(ids, PAGE)]
             for _ in range(rounds)]
    for page in pages[: min(50, rounds)]:
        answers(store.oncall, page, at)
    samples = []
    for page in pages:
        t0 = time.perf_counter()
        answers(store.oncall, page, at)
        samples.append(time.perf_counter() - t0)
    ordered = sorted(samples)
    return {"p50_ms": statistics.median(ordered) * 1e3,
            "p99_ms": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1e3,
            "pages": len(ordered)}


def run(account: Account, rounds: int = 500, *, per_schedule: bool = True,
        log: Callable[[str], None] = print) -> dict[str, Any]:
    config = SimulatorConfig.for_scale("tiny", api_key=API_KEY, rate_limit=0)
    app = create_app(account, config)
    sim = app.state.simulator
    clock = _Clock(datetime.now(UTC).replace(microsecond=0))
    sim.clock = clock.seconds
    transport = httpx.ASGITransport(app=app)
    targeted = {t["id"] for p in account.escalation_policies.values()
                for r in p["escalation_rules"] for t in r["targets"]}
    budget = BUDGET_PER_MINUTE * INTERVAL_MINUTES
    out: dict[str, Any] = {
        "policies": len(account.escalation_policies),
        "schedules": len(account.schedules),
        "schedules_no_policy_uses": len([s for s in account.schedules if s not in targeted]),
        "window_days": WINDOW_DAYS,
        "budget_per_interval": budget,
        "target_share": TARGET_SHARE,
    }
    with tempfile.TemporaryDirectory(prefix="pdsearch-bench-oncall-") as tmp:
        store = Store(Path(tmp) / "state.db", Fernet.generate_key())
        index = SqliteIndex(Path(tmp) / "index.db")
        try:
            cid = store.connectors.create("acme", "api_key", "us", {"api_key": API_KEY},
                                          base_url=BASE).id
            index.upsert(_documents(account, cid))
            store.oncall.replace_people(cid, [
                Person(uid, u["email"], u["name"], u.get("time_zone"))
                for uid, u in account.users.items()
            ])
            refresher = OnCallRefresher(store, index, transport=transport,
                                        window_days=WINDOW_DAYS, clock=clock.now)
            log(f"oncall: a full refresh of {out['policies']} policies and {out['schedules']} "
                f"schedules over {WINDOW_DAYS} days")
            sim.reset_counters()
            out["full"] = _job_figures(asyncio.run(refresher.refresh(cid)))
            out["full"]["by_path"] = _by_path(sim.requests_by_path)
            clock.at += timedelta(minutes=INTERVAL_MINUTES)
            log("oncall: the next refresh, nothing changed")
            out["unchanged"] = _job_figures(asyncio.run(refresher.refresh(cid)))
            asyncio.run(_override(transport, account, clock.at))
            clock.at += timedelta(minutes=INTERVAL_MINUTES)
            log("oncall: the next refresh, after one override")
            out["one_override"] = _job_figures(asyncio.run(refresher.refresh(cid)))
            window = store.oncall.window(cid)
            out["shifts"] = len(store.oncall.shifts(cid))
            # Per interval over a day: the refreshes that read changes, and one full read
            # (a day of the window gone); each sync reads the window too, counted in its job.
            per_day = 24 * 60 // INTERVAL_MINUTES
            average = ((per_day - 1) * out["unchanged"]["requests"] + out["full"]["requests"]
                       ) / per_day
            out["average_per_interval"] = average
            out["share_of_budget"] = average / budget
            out["full_share_of_one_interval"] = out["full"]["requests"] / budget
            log(f"oncall: answer latency over {out['shifts']} stored shifts")
            at = (window.since if window else clock.at) + timedelta(hours=30)
            out["answers"] = _answer_latency(store, cid, account, at, rounds)
        finally:
            index.close()
            store.close()
    if per_schedule:
        log("oncall: the alternative, every schedule rendered one by one")
        sim.clear_cache()
        alt_requests, alt_seconds = asyncio.run(
            _per_schedule(sorted(account.schedules), transport, clock.at)
        )
        out["per_schedule"] = {"requests": alt_requests, "seconds": alt_seconds,
                               "share_of_budget": alt_requests / budget}
    return out


def _by_path(counts: Mapping[str, int]) -> dict[str, int]:
    """Requests by endpoint, object ids folded (``/schedules/{id}``)."""
    out: dict[str, int] = {}
    for path, n in counts.items():
        parts = path.strip("/").split("/")
        if len(parts) >= 2 and parts[-1][:1] == "P":
            path = "/" + "/".join([*parts[:-1], "{id}"])
        out[path] = out.get(path, 0) + n
    return dict(sorted(out.items()))


def section(res: dict[str, Any]) -> list[str]:
    """Scenario ``oncall`` as Markdown: requests per refresh against the budget, answer cost."""
    full, unchanged, one = res["full"], res["unchanged"], res["one_override"]
    budget = res["budget_per_interval"]
    share = res["share_of_budget"]
    answers_p50 = res["answers"]["p50_ms"]
    paths = ", ".join(f"`{p}` {n}" for p, n in full["by_path"].items())
    rows = [
        "## 10. On-call refresh and answers (issue 14)",
        "",
        f"{res['policies']:,} policies and {res['schedules']:,} schedules "
        f"({res['schedules_no_policy_uses']:,} used by no policy), a {res['window_days']}-day "
        f"window, {res['shifts']:,} stored shifts; the simulator in-process. The budget: "
        f"{BUDGET_PER_MINUTE} requests a minute, so {budget:,} per {INTERVAL_MINUTES}-minute "
        "interval, of which on-call refreshes may take 2 %.",
        "",
        "| refresh | requests | share of one interval's budget | time |",
        "|---|---|---|---|",
        f"| full read (first sync; once a day) | {full['requests']} ({paths}) | "
        f"{full['requests'] / budget:.2%} | {full['seconds']:.1f} s |",
        f"| nothing changed (audit trail only) | {unchanged['requests']} | "
        f"{unchanged['requests'] / budget:.3%} | {unchanged['seconds']:.2f} s |",
        f"| after one override | {one['requests']} | {one['requests'] / budget:.3%} | "
        f"{one['seconds']:.2f} s |",
    ]
    alt = res.get("per_schedule")
    if alt:
        rows.append(f"| alternative: every schedule rendered one by one | {alt['requests']:,} | "
                    f"{alt['share_of_budget']:.2%} | {alt['seconds']:.1f} s |")
    rows += [
        "",
        f"- Refreshes every {INTERVAL_MINUTES} minutes, with one full read a day: "
        f"{res['average_per_interval']:.1f} requests an interval on average, {share:.3%} of "
        f"the budget (target ≤ 2 %): {mark(share <= TARGET_SHARE)}.",
        f"- Answering a page of {PAGE} results (policies and schedules at random): "
        f"p50 {answers_p50:.2f} ms, p99 {res['answers']['p99_ms']:.2f} ms, over "
        f"{res['answers']['pages']} pages (target: adds ≤ 1 ms to a search's p50): "
        f"{mark(answers_p50 <= 1.0)}.",
        "",
    ]
    return rows

