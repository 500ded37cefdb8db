"""Two replicas under load with the scheduler's leader killed mid-run (issue 16).

    python -m benchmarks.replicas_bench              # 50 clients, 60 s, the leader killed at 20 s
    python -m benchmarks.replicas_bench --clients 10 --seconds 20 --kill-at 6   # the quick form
    python -m benchmarks --scenarios replicas [--quick]  # as a scenario of the harness

What runs, all on 127.0.0.1:

- one PostgreSQL and one OpenSearch (``--database-url`` / ``--index-url``, else
  ``PDSEARCH_TEST_DATABASE_URL`` / ``PDSEARCH_TEST_INDEX_URL``, else started through
  ``pdsearch.devservices``); the run uses a schema and an index prefix of its own, removed after;
- the simulator (a thread of this process) with a small seeded account;
- two ``pdsearch serve`` processes sharing the database, the index, the secret key and the token;
- ``--clients`` search clients sending ``POST /api/v1/search`` back to back, spread over the
  replicas a load balancer would send them to: after the kill only the survivor (as a balancer
  whose health check removed the dead one at once);
- a driver asking for a full sync of the main connector through either replica, again and again;
- ``--schedules`` connectors, each with a one-time schedule (``run_at``) spread over the run, the
  leaderless window included: each must run exactly once;
- at ``--kill-at`` seconds the replica holding the scheduler lease gets SIGKILL.

Reported: requests, errors other than the killed replica's in-flight requests (which are counted
apart), search latency, time from the kill to the survivor holding the lease, scheduled syncs run
twice or not at all, and jobs left queued or running.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import os
import random
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import sqlalchemy as sa
from cryptography.fernet import Fernet
from psycopg import sql

from benchmarks.load_search import _free_port, _percentile, make_query, query_words, search_users
from pdsearch.scheduler import LEASE_NAME
from pdsearch.simulator.config import SimulatorConfig
from pdsearch.simulator.server import SimulatorServer
from pdsearch.store import Store

TOKEN = "replicas-bench-token-0123456789abcdef"
API_KEY = "replicas-bench-api-key"
START_SECONDS = 90.0


@dataclass
class ReplicaResult:
    clients: int
    seconds: float
    kill_at: float
    requests: int = 0
    errors: int = 0
    killed_in_flight: int = 0
    error_samples: list[str] = field(default_factory=list)
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    max_ms: float = 0.0
    per_second: float = 0.0
    manual_syncs: int = 0
    manual_statuses: dict[str, int] = field(default_factory=dict)
    new_leader_seconds: float | None = None
    schedules: int = 0
    scheduled_once: int = 0
    scheduled_twice: int = 0
    scheduled_never: int = 0
    jobs_left_active: int = 0

    @property
    def clean(self) -> bool:
        return (self.errors == 0 and self.scheduled_twice == 0 and self.scheduled_never == 0
                and self.new_leader_seconds is not None and self.new_leader_seconds <= 30)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "clean": self.clean}


@dataclass
class Replica:
    proc: subprocess.Popen[bytes]
    url: str
    alive: bool = True


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


@contextlib.contextmanager
def _schema(database_url: str) -> Iterator[str]:
    """A fresh schema of the database; the URL whose connections use it. Dropped after."""
    name = f"bench_{secrets.token_hex(5)}"
    with psycopg.connect(_libpq(database_url), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(name)))
    url = sa.make_url(database_url).update_query_dict({"options": f"-csearch_path={name}"})
    try:
        yield _libpq(url.render_as_string(hide_password=False))
    finally:
        with psycopg.connect(_libpq(database_url), autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(name)))


@contextlib.contextmanager
def _servers(database_url: str | None, index_url: str | None) -> Iterator[tuple[str, str]]:
    if database_url and index_url:
        yield database_url, index_url
        return
    from pdsearch.devservices import Options, running

    with running(Options(quick=True), postgres=not database_url,
                 opensearch=not index_url) as services:
        db = database_url or services.database_url
        index = index_url or services.index_url
        if db is None or index is None:
            raise RuntimeError("the development services gave no URLs")
        yield db, index


@contextlib.contextmanager
def _replicas(env: dict[str, str], workdir: Path) -> Iterator[list[Replica]]:
    replicas: list[Replica] = []
    try:
        for n in range(2):
            port = _free_port()
            home = workdir / f"replica-{n}"
            home.mkdir()
            with (workdir / f"replica-{n}.log").open("wb") as log:
                proc = subprocess.Popen(
                    [sys.executable, "-m", "pdsearch", "serve", "--data-dir", str(home),
                     "--port", str(port), "--log-level", "warning"],
                    env=env, stdout=log, stderr=subprocess.STDOUT,
                )
            replicas.append(Replica(proc, f"http://127.0.0.1:{port}"))
        for replica in replicas:
            _wait(functools.partial(_healthy, replica), START_SECONDS, "a replica to start")
        yield replicas
    finally:
        for replica in replicas:
            if replica.proc.poll() is None:
                replica.proc.terminate()
                try:
                    replica.proc.wait(15)
                except subprocess.TimeoutExpired:
                    replica.proc.kill()
                    replica.proc.wait()


def _healthy(replica: Replica) -> bool:
    if replica.proc.poll() is not None:
        raise RuntimeError("pdsearch serve exited at start")
    try:
        return httpx.get(f"{replica.url}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _wait(condition: Callable[[], Any], within: float, what: str) -> Any:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise RuntimeError(f"timed out waiting for {what}")


class Bench:
    """One run: replicas, clients, the sync driver, the killer."""

    def __init__(self, replicas: list[Replica], store: Store, result: ReplicaResult,
                 users: list[str], words: list[str]) -> None:
        self.replicas = replicas
        self.store = store
        self.result = result
        self.users = users
        self.words = words
        self.latencies: list[float] = []
        self.killed_at: float | None = None
        self.stop_at = 0.0
        self.headers = {"Authorization": f"Bearer {TOKEN}"}

    def alive(self) -> list[Replica]:
        return [r for r in self.replicas if r.alive]

    async def client(self, n: int) -> None:
        rng = random.Random(n)
        async with httpx.AsyncClient(headers=self.headers, timeout=30) as http:
            turn = n
            while time.monotonic() < self.stop_at:
                targets = self.alive()
                target = targets[turn % len(targets)]
                turn += 1
                body = {"query": make_query(rng, self.words), "user": rng.choice(self.users)}
                started = time.monotonic()
                try:
                    resp = await http.post(f"{target.url}/api/v1/search", json=body)
                    ok, why = resp.status_code == 200, f"HTTP {resp.status_code}"
                except httpx.HTTPError as exc:
                    ok, why = False, type(exc).__name__
                self.result.requests += 1
                if ok:
                    self.latencies.append((time.monotonic() - started) * 1000)
                elif not target.alive:
                    self.result.killed_in_flight += 1
                else:
                    self.result.errors += 1
                    if len(self.result.error_samples) < 5:
                        self.result.error_samples.append(why)

    async def sync_driver(self, connector_id: str) -> None:
        turn = 0
        async with httpx.AsyncClient(headers=self.headers, timeout=30) as http:
            while time.monotonic() < self.stop_at:
                targets = self.alive()
                target = targets[turn % len(targets)]
                turn += 1
                with contextlib.suppress(httpx.HTTPError):
                    resp = await http.post(f"{target.url}/api/v1/connectors/{connector_id}/sync",
                                           json={"mode": "full"})  # syncs that write
                    if resp.status_code == 202:
                        self.result.manual_syncs += 1
                await asyncio.sleep(2.0)

    async def killer(self, kill_at: float) -> None:
        await asyncio.sleep(kill_at)
        holder = self.store.leases.holder(LEASE_NAME)
        if holder is None:
            return
        pid = int(holder.split(":")[1])
        leader = next(r for r in self.replicas if r.proc.pid == pid)
        leader.alive = False  # the balancer's health check drops it
        leader.proc.send_signal(signal.SIGKILL)
        self.killed_at = time.monotonic()
        while time.monotonic() - self.killed_at < 60:
            now = self.store.leases.holder(LEASE_NAME)
            if now is not None and now != holder:
                self.result.new_leader_seconds = time.monotonic() - self.killed_at
                return
            await asyncio.sleep(0.1)


def _create(url: str, base_url: str, name: str) -> str:
    resp = httpx.post(f"{url}/api/v1/connectors", headers={"Authorization": f"Bearer {TOKEN}"},
                      json={"name": name, "auth": {"type": "api_key", "api_key": API_KEY},
                            "base_url": base_url, "default_schedules": False}, timeout=30)
    resp.raise_for_status()
    return str(resp.json()["id"])


def _first_sync(url: str, connector_id: str, store: Store) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    job_id = httpx.post(f"{url}/api/v1/connectors/{connector_id}/sync", headers=headers,
                        timeout=30).json()["job_id"]
    _wait(lambda: store.jobs.get(job_id).finished, 120, "the first sync")


def _schedule(url: str, connector_id: str, at: datetime) -> None:
    httpx.put(f"{url}/api/v1/connectors/{connector_id}/schedule",
              headers={"Authorization": f"Bearer {TOKEN}"},
              json={"run_at": at.isoformat()}, timeout=30).raise_for_status()


def _judge(store: Store, result: ReplicaResult, main: str, scheduled: list[str]) -> None:
    for cid in scheduled:
        jobs = [j for j in store.jobs.list(cid)[0] if j.trigger == "scheduled"]
        if len(jobs) == 1:
            result.scheduled_once += 1
        elif jobs:
            result.scheduled_twice += 1
        else:
            result.scheduled_never += 1
    manual = [j for j in store.jobs.list(main, limit=1000)[0] if j.trigger == "manual"]
    for job in manual:
        result.manual_statuses[job.status] = result.manual_statuses.get(job.status, 0) + 1
    result.jobs_left_active = sum(1 for cid in [main, *scheduled] if store.jobs.running(cid))


def run_replicas(clients: int, seconds: float, kill_at: float, schedules: int,
                 database_url: str | None = None, index_url: str | None = None,
                 log: Callable[[str], None] = print) -> ReplicaResult:
    result = ReplicaResult(clients=clients, seconds=seconds, kill_at=kill_at, schedules=schedules)
    config = SimulatorConfig.for_scale("small", api_key=API_KEY, rate_limit=0, seed=16)
    key = Fernet.generate_key()
    prefix = f"pdsearch-bench-{secrets.token_hex(4)}"
    with (_servers(database_url or os.environ.get("PDSEARCH_TEST_DATABASE_URL"),
                   index_url or os.environ.get("PDSEARCH_TEST_INDEX_URL")) as (db, index),
          _schema(db) as schema_url, SimulatorServer(config) as sim,
          Store(schema_url, key) as store):
        env = {k: v for k, v in os.environ.items() if not k.startswith("PDSEARCH_")}
        env.update(PDSEARCH_API_TOKEN=TOKEN, PDSEARCH_SECRET_KEY=key.decode(),
                   PDSEARCH_DATABASE_URL=schema_url, PDSEARCH_INDEX_URL=index,
                   PDSEARCH_INDEX_PREFIX=prefix)
        try:
            with tempfile.TemporaryDirectory() as tmp, _replicas(env, Path(tmp)) as replicas:
                log("replicas: two services up; first sync")
                main = _create(replicas[0].url, sim.base_url, "main")
                _first_sync(replicas[1].url, main, store)
                start = datetime.now(UTC)
                scheduled = []
                for n in range(schedules):
                    cid = _create(replicas[n % 2].url, sim.base_url, f"scheduled-{n}")
                    at = start + timedelta(seconds=3 + (seconds - 6) * n / max(1, schedules - 1))
                    _schedule(replicas[n % 2].url, cid, at)
                    scheduled.append(cid)
                bench = Bench(replicas, store, result, search_users(sim.account),
                              query_words(sim.account))
                log(f"replicas: {clients} clients for {seconds:.0f} s, the leader killed at "
                    f"{kill_at:.0f} s")
                asyncio.run(_drive(bench, clients, seconds, kill_at, main))
                # Schedules due late in the run fire at the survivor's next turns.
                _wait(lambda: all(store.schedules.get(c) is None for c in scheduled), 60,
                      "the last schedules to fire")
                # A sync the killed replica ran stays "running" until its heartbeat is stale
                # (2 minutes): counted as left active rather than waited for.
                with contextlib.suppress(RuntimeError):
                    _wait(lambda: not any(store.jobs.running(c) for c in scheduled), 30,
                          "the scheduled syncs to end")
                _judge(store, result, main, scheduled)
                ordered = sorted(bench.latencies)
                result.p50_ms = _percentile(ordered, 0.5)
                result.p99_ms = _percentile(ordered, 0.99)
                result.max_ms = ordered[-1] if ordered else 0.0
                result.per_second = len(ordered) / seconds
        finally:
            with contextlib.suppress(httpx.HTTPError):
                httpx.delete(f"{index}/{prefix}-*", timeout=30)
    return result


async def _drive(bench: Bench, clients: int, seconds: float, kill_at: float, main: str) -> None:
    bench.stop_at = time.monotonic() + seconds
    await asyncio.gather(
        *(bench.client(n) for n in range(clients)),
        bench.sync_driver(main),
        bench.killer(kill_at),
    )


def render(res: dict[str, Any]) -> list[str]:
    leader = res["new_leader_seconds"]
    return [
        "## 9. Two replicas, the leader killed (PostgreSQL and OpenSearch)",
        "",
        f"Two `pdsearch serve` on one PostgreSQL and one OpenSearch; {res['clients']} clients "
        f"searching for {res['seconds']:.0f} s over both replicas (only the survivor after the "
        "kill, as a load balancer would), a full sync asked for every 2 s through either, "
        f"{res['schedules']} one-time schedules spread over the run; the scheduler's leader "
        f"SIGKILLed at {res['kill_at']:.0f} s (benchmarks/replicas_bench.py).",
        "",
        "| figure | value | target |",
        "|---|---|---|",
        f"| searches | {res['requests']:,} ({res['per_second']:.0f}/s), p50 "
        f"{res['p50_ms']:.1f} ms, p99 {res['p99_ms']:.1f} ms | |",
        f"| errors (besides the killed replica's in-flight requests) | {res['errors']} | 0 |",
        f"| the killed replica's in-flight requests | {res['killed_in_flight']} | |",
        f"| new leader after the kill | "
        f"{'none' if leader is None else f'{leader:.1f} s'} | ≤ 30 s |",
        f"| scheduled syncs run once / twice / never | {res['scheduled_once']} / "
        f"{res['scheduled_twice']} / {res['scheduled_never']} | all once |",
        f"| manual syncs started by the driver / statuses of all manual syncs (the first "
        f"included) | {res['manual_syncs']} / {res['manual_statuses']} | |",
        f"| jobs left running at the end (the killed replica's sync: failed once its heartbeat "
        f"is 2 min old) | {res['jobs_left_active']} | |",
        "",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.replicas_bench")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--kill-at", type=float, default=20.0)
    parser.add_argument("--schedules", type=int, default=8)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--index-url", default=None)
    parser.add_argument("--json", type=Path, default=None, dest="json_path")
    args = parser.parse_args(argv)
    result = run_replicas(args.clients, args.seconds, args.kill_at, args.schedules,
                          args.database_url, args.index_url)
    print("\n".join(render(result.as_dict())))
    if args.json_path:
        args.json_path.write_text(json.dumps(result.as_dict(), indent=1) + "\n")
    return 0 if result.clean else 1


if __name__ == "__main__":
    raise SystemExit(main())
