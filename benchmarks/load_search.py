"""Load: concurrent search clients against ``pdsearch serve`` while full syncs write (issue 6).

    python -m benchmarks.load_search                      # the full form: 50 clients, 30 s
    python -m benchmarks.load_search --clients 15 --seconds 5 --scale small   # CI's short form
    python -m benchmarks.load_search --json results.json
    python -m benchmarks.load_search --writer cli   # syncs by 'pdsearch sync' processes

What runs, all on 127.0.0.1:

- the simulator (``SimulatorServer``, this process, a background thread) with a seeded account;
- ``pdsearch serve`` in its own process (uvicorn, the real service), on a data directory whose
  connector was synced once beforehand, so searches find documents from the first second;
- ``--clients`` search clients (asyncio tasks on keep-alive connections) sending
  ``POST /api/v1/search`` back to back for ``--seconds``, as users who each see a different part
  of the account (an admin, members of one team, of several, of none), with queries drawn from
  the account's own words (plain words, two words, prefixes, phrases, blank listings);
- meanwhile a driver that renames every policy and schedule in the simulated account and asks
  the service for a full sync, again and again, so the index is written to the whole time.

Everything is bounded: the clients stop at the deadline (and after ``max_requests`` each), the
driver's last sync is awaited for at most two minutes, the service is stopped at the end.
Reported: requests, errors (any non-200 answer or transport error), answers or service log
lines saying "database is locked", p50/p99/max latency, throughput, and the syncs (how many, their
statuses, documents written). The exit status is 1 when there was any error.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

from benchmarks.keepalive import KeepAliveClient
from pdsearch.config import Settings
from pdsearch.index.sqlite import SqliteIndex
from pdsearch.simulator.account import Account
from pdsearch.simulator.config import SimulatorConfig
from pdsearch.simulator.server import SimulatorServer
from pdsearch.store import Store
from pdsearch.sync.service import SyncService

TOKEN = "load-test-service-token-5e7c0a9b"
API_KEY = "load-test-pd-api-key-77d1"
SERVICE_START_SECONDS = 60.0
LAST_SYNC_SECONDS = 120.0
REQUEST_TIMEOUT = 30.0
LOCKED = "database is locked"


@dataclass
class LoadResult:
    """The figures of one run."""

    clients: int
    seconds: float
    scale: str
    with_sync: bool = True
    writer: str = "service"
    requests: int = 0
    errors: int = 0
    locked: int = 0
    error_samples: list[str] = field(default_factory=list)
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    max_ms: float = 0.0
    mean_ms: float = 0.0
    per_second: float = 0.0
    syncs: int = 0
    sync_statuses: dict[str, int] = field(default_factory=dict)
    documents_written: int = 0
    documents: int = 0
    service_log_problems: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return (
            self.errors == 0
            and self.locked == 0
            and not self.service_log_problems
            and set(self.sync_statuses) <= {"succeeded"}
            and (self.syncs > 0 or not self.with_sync)
        )

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "clean": self.clean}


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _percentile(ordered: list[float], q: float) -> float:
    if not ordered:
        return 0.0
    rank = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[rank]


class ServiceProcess:
    """``pdsearch serve`` on a loopback port in a child process; its log goes to a file."""

    def __init__(self, home: Path, log_path: Path) -> None:
        self.home = home
        self.log_path = log_path
        self.port = _free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._process: subprocess.Popen[bytes] | None = None
        self._log: Any = None

    def __enter__(self) -> ServiceProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PDSEARCH_")}
        env["PDSEARCH_API_TOKEN"] = TOKEN
        self._log = self.log_path.open("wb")
        self._process = subprocess.Popen(
            [sys.executable, "-m", "pdsearch", "serve", "--data-dir", str(self.home),
             "--port", str(self.port), "--log-level", "info"],
            env=env, stdout=self._log, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + SERVICE_START_SECONDS
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"pdsearch serve exited: {self.log()[-2000:]}")
            try:
                httpx.get(self.base_url + "/api/v1/connectors", timeout=1.0,
                          headers={"Authorization": f"Bearer {TOKEN}"}).raise_for_status()
                return self
            except httpx.HTTPError:
                time.sleep(0.1)
        self.__exit__()
        raise RuntimeError("pdsearch serve did not answer within 60 seconds")

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def __exit__(self, *exc: object) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
        if self._log is not None:
            self._log.close()
            self._log = None


# --- the account: who searches, for what, and the changes that keep the syncs writing ---------


def search_users(account: Account) -> list[str]:
    """E-mails that see different parts of the account: admins, members of one team or of
    several, users of no team, and one who is not in PagerDuty at all."""
    by_teams: dict[int, list[str]] = {}
    members: Counter[str] = Counter()
    for team_members in account.memberships.values():
        for member in team_members:
            members[member["user_id"]] += 1
    admins: list[str] = []
    for uid, user in sorted(account.users.items()):
        if user.get("role") in ("owner", "admin"):
            admins.append(user["email"])
        else:
            by_teams.setdefault(min(members[uid], 2), []).append(user["email"])
    chosen = admins[:2]
    for count in (0, 1, 2):
        chosen += by_teams.get(count, [])[:6]
    return [*chosen, "nobody@example.invalid"]


def query_words(account: Account) -> list[str]:
    words: Counter[str] = Counter()
    for obj in [*account.escalation_policies.values(), *account.schedules.values()]:
        for word in re.findall(r"[A-Za-z]{4,}", obj.get("name", "")):
            words[word.lower()] += 1
    return [w for w, _ in words.most_common(60)] or ["primary"]


def make_query(rng: random.Random, words: list[str]) -> str:
    kind = rng.random()
    if kind < 0.45:
        return rng.choice(words)
    if kind < 0.7:
        return f"{rng.choice(words)} {rng.choice(words)}"
    if kind < 0.82:
        return rng.choice(words)[:3] + "*"
    if kind < 0.92:
        return f'"{rng.choice(words)} {rng.choice(words)}"'
    return ""  # a blank query lists what the user may see


def rename_everything(account: Account, round_no: int) -> int:
    """Give every policy and schedule a new name, so the next sync rewrites every document."""
    changed = 0
    for pid in sorted(account.escalation_policies):
        name = re.sub(r" \(r\d+\)$", "", account.escalation_policies[pid]["name"])
        account.update("escalation_policies", pid, {"name": f"{name} (r{round_no})"})
        changed += 1
    for sid in sorted(account.schedules):
        name = re.sub(r" \(r\d+\)$", "", account.schedules[sid]["name"])
        account.update(account.schedule_kind(sid), sid, {"name": f"{name} (r{round_no})"})
        changed += 1
    return changed


# --- the run ------------------------------------------------------------------------------------


async def _client_loop(
    base_url: str, seed: int, users: list[str], words: list[str], deadline: float,
    max_requests: int, latencies: list[float], result: LoadResult,
) -> None:
    rng = random.Random(seed)
    loop = asyncio.get_running_loop()
    where = httpx.URL(base_url)
    client = KeepAliveClient(where.host, where.port or 80, TOKEN)
    try:
        for _ in range(max_requests):
            if loop.time() >= deadline:
                return
            body = json.dumps({"query": make_query(rng, words), "user": rng.choice(users),
                               "limit": rng.choice([5, 10, 20])}).encode()
            started = time.perf_counter()
            try:
                status, payload = await asyncio.wait_for(
                    client.post("/api/v1/search", body), REQUEST_TIMEOUT
                )
            except (OSError, asyncio.IncompleteReadError, ValueError, IndexError,
                    TimeoutError) as exc:
                await client.close()
                result.errors += 1
                if len(result.error_samples) < 10:
                    result.error_samples.append(f"{type(exc).__name__}: {exc}")
                continue
            latencies.append(time.perf_counter() - started)
            result.requests += 1
            if LOCKED.encode() in payload:
                result.locked += 1
            if status != 200 or not payload.startswith(b'{"total":'):
                result.errors += 1
                if len(result.error_samples) < 10:
                    result.error_samples.append(f"{status}: {payload[:300]!r}")
    finally:
        await client.close()


async def _cli_sync(home: Path, result: LoadResult) -> dict[str, Any]:
    """``pdsearch sync`` in its own process, next to the serving one (as cron would run it)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PDSEARCH_")}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "pdsearch", "sync", "load", "--data-dir", str(home), "--json",
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), LAST_SYNC_SECONDS)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        return {"status": "still running after 120 s", "counts": {}}
    problems = err.decode(errors="replace")
    if LOCKED in problems or "Traceback" in problems:
        result.locked += problems.count(LOCKED)
        result.service_log_problems.append("pdsearch sync: " + problems[-300:])
    try:
        job: dict[str, Any] = json.loads(out)
    except ValueError:
        return {"status": f"exit {proc.returncode}", "counts": {}}
    return job


async def _sync_driver(
    http: httpx.AsyncClient, account: Account, connector_id: str, deadline: float,
    result: LoadResult, cli_home: Path | None = None,
) -> None:
    loop = asyncio.get_running_loop()
    round_no = 0
    while loop.time() < deadline:
        round_no += 1
        # Renaming in a worker thread keeps the clients' event loop (and so the timing) honest.
        await asyncio.to_thread(rename_everything, account, round_no)
        if cli_home is not None:
            job = await _cli_sync(cli_home, result)
            _count_sync(result, job)
            continue
        answer = await http.post(f"/api/v1/connectors/{connector_id}/sync")
        if answer.status_code != 202:
            result.sync_statuses[f"http {answer.status_code}"] = (
                result.sync_statuses.get(f"http {answer.status_code}", 0) + 1
            )
            await asyncio.sleep(0.2)
            continue
        job_id = answer.json()["job_id"]
        give_up = loop.time() + LAST_SYNC_SECONDS
        while True:
            job = (await http.get(f"/api/v1/jobs/{job_id}")).json()
            if job["status"] not in ("queued", "running"):
                break
            if loop.time() > give_up:
                job = {"status": "still running after 120 s", "counts": {}}
                break
            await asyncio.sleep(0.1)
        _count_sync(result, job)


def _count_sync(result: LoadResult, job: dict[str, Any]) -> None:
    result.syncs += 1
    result.sync_statuses[job["status"]] = result.sync_statuses.get(job["status"], 0) + 1
    counts = job.get("counts") or {}
    result.documents_written += int(counts.get("added", 0)) + int(counts.get("updated", 0))


async def _drive(
    base_url: str, account: Account, connector_id: str, clients: int, seconds: float,
    max_requests: int, seed: int, result: LoadResult, with_sync: bool = True,
    cli_home: Path | None = None,
) -> None:
    users, words = search_users(account), query_words(account)
    latencies: list[float] = []
    limits = httpx.Limits(max_connections=clients + 4, max_keepalive_connections=clients + 4)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(base_url=base_url, headers=headers, limits=limits,
                                 timeout=REQUEST_TIMEOUT) as http:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        started = time.perf_counter()
        driver = asyncio.create_task(
            _sync_driver(http, account, connector_id, deadline, result, cli_home) if with_sync
            else asyncio.sleep(0)
        )
        await asyncio.gather(*(
            _client_loop(base_url, seed * 1000 + n, users, words, deadline, max_requests,
                         latencies, result)
            for n in range(clients)
        ))
        elapsed = time.perf_counter() - started
        await asyncio.wait_for(driver, LAST_SYNC_SECONDS + 10)
        docs = (await http.get(f"/api/v1/connectors/{connector_id}/documents",
                               params={"limit": 1})).json()
        result.documents = int(docs.get("total", 0))
    ordered = sorted(latencies)
    result.p50_ms = round(_percentile(ordered, 0.50) * 1000, 2)
    result.p99_ms = round(_percentile(ordered, 0.99) * 1000, 2)
    result.max_ms = round((ordered[-1] if ordered else 0.0) * 1000, 2)
    result.mean_ms = round(statistics.fmean(ordered) * 1000, 2) if ordered else 0.0
    result.per_second = round(result.requests / elapsed, 1) if elapsed else 0.0


def run_load(
    clients: int = 50,
    seconds: float = 30.0,
    *,
    scale: str = "medium",
    seed: int = 6,
    max_requests: int = 1_000_000,
    home: Path | None = None,
    with_sync: bool = True,
    writer: str = "service",
) -> LoadResult:
    """One load run; see the module docstring. ``home`` keeps the data directory (else a
    temporary one, removed afterwards). ``writer`` "cli" runs each sync as ``pdsearch sync`` in
    its own process instead of asking the service, so two processes share the SQLite files."""
    result = LoadResult(clients=clients, seconds=seconds, scale=scale, with_sync=with_sync,
                        writer=writer)
    config = SimulatorConfig.for_scale(scale, api_key=API_KEY, rate_limit=0, seed=seed)
    with tempfile.TemporaryDirectory(prefix="pdsearch-load-") as tmp, \
            SimulatorServer(config) as sim:
        data = home or Path(tmp) / "data"
        settings = Settings(home=data)
        with Store.open(settings) as store:
            connector = store.connectors.create(
                "load", "api_key", "us", {"api_key": API_KEY}, base_url=sim.base_url
            )
            with SqliteIndex(settings.index_path) as index:
                first = asyncio.run(SyncService(store, index).run(connector.id))
            if first.status != "succeeded":
                raise RuntimeError(f"the first sync failed: {first.error}")
        with ServiceProcess(data, Path(tmp) / "service.log") as service:
            asyncio.run(_drive(service.base_url, sim.account, connector.id, clients, seconds,
                               max_requests, seed, result, with_sync,
                               data if writer == "cli" else None))
            log = service.log()
        for line in log.splitlines():
            if LOCKED in line or "Traceback" in line or " 500 " in line:
                result.service_log_problems.append(line[:300])
        result.locked += log.count(LOCKED)
    return result


def render(result: LoadResult) -> str:
    statuses = ", ".join(f"{n} {s}" for s, n in sorted(result.sync_statuses.items())) or "none"
    lines = [
        f"load: {result.clients} clients for {result.seconds:g} s, {result.scale} account, "
        + (f"full syncs writing ({result.writer})" if result.with_sync else "no sync"),
        f"  searches       {result.requests} ({result.per_second}/s)",
        f"  errors         {result.errors}",
        f'  "{LOCKED}"  {result.locked}',
        f"  latency        p50 {result.p50_ms} ms, p99 {result.p99_ms} ms, "
        f"max {result.max_ms} ms, mean {result.mean_ms} ms",
        f"  syncs          {result.syncs} during the run ({statuses}), "
        f"{result.documents_written} documents written; {result.documents} indexed at the end",
    ]
    lines += [f"  error: {s}" for s in result.error_samples]
    lines += [f"  service log: {s}" for s in result.service_log_problems[:10]]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.load_search",
        description="Concurrent searches against pdsearch serve while full syncs write.",
    )
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--scale", default="medium", choices=["tiny", "small", "medium", "large"])
    parser.add_argument("--seed", type=int, default=6)
    parser.add_argument("--json", type=Path, default=None, help="Also write the figures here.")
    parser.add_argument("--writer", choices=["service", "cli"], default="service",
                        help="Who syncs: the service (POST .../sync) or 'pdsearch sync' in its "
                        "own process next to it.")
    parser.add_argument("--without-sync", action="store_true",
                        help="Searches alone, for comparison (no sync writes during the run).")
    args = parser.parse_args(argv)
    if not 1 <= args.clients <= 500 or not 0 < args.seconds <= 600:
        parser.error("--clients must be 1..500 and --seconds 0..600")
    result = run_load(args.clients, args.seconds, scale=args.scale, seed=args.seed,
                      with_sync=not args.without_sync, writer=args.writer)
    print(render(result))
    if args.json is not None:
        args.json.write_text(json.dumps(result.as_dict(), indent=2) + "\n")
    return 0 if result.clean else 1


if __name__ == "__main__":
    sys.exit(main())
