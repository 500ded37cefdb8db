"""Scenario ``store``: latency of the state store's hot paths, on SQLite and on PostgreSQL.

The hot paths: ``entities.memberships(email)`` and ``entities.for_user(email, connector)`` run on
every search (the user's grants); ``jobs.update(job, progress=...)`` runs at every progress
report of a sync (every half second, and from several syncs at once on a busy service);
``jobs.get`` and ``connectors.get`` on every job or connector page. Each is timed one call at a
time on a warm store (p50, p99), and ``memberships`` also from four threads at once
(throughput). The account: 10,000 users in 400 teams of 125 members.

PostgreSQL is measured when a server is given (``--database-url``, else the environment's
PDSEARCH_TEST_DATABASE_URL, as ``./run services`` prints it): in a schema of its own, dropped
afterwards. Both engines run on this machine, so the PostgreSQL figures include a loopback round
trip per statement but no network beyond.
"""

from __future__ import annotations

import random
import secrets
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import sqlalchemy as sa
from cryptography.fernet import Fernet
from psycopg import sql

from pdsearch.store import Store

USERS = 10_000
TEAMS = 400
TEAM_SIZE = 125


@dataclass(frozen=True)
class _Entity:
    entity_id: str
    name: str
    type: str
    members: frozenset[str]


def _percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50_us": statistics.median(ordered) * 1e6,
        "p99_us": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1e6,
        "calls": len(ordered),
    }


def _time(call: Callable[[], object], rounds: int) -> dict[str, float]:
    for _ in range(min(100, rounds)):
        call()
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        call()
        samples.append(time.perf_counter() - started)
    return _percentiles(samples)


def _throughput(call: Callable[[], object], threads: int, seconds: float) -> float:
    """Calls per second from ``threads`` threads for about ``seconds``."""
    done = [0] * threads
    stop = time.monotonic() + seconds

    def work(i: int) -> None:
        while time.monotonic() < stop:
            call()
            done[i] += 1

    pool = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    started = time.perf_counter()
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return sum(done) / (time.perf_counter() - started)


def measure(store: Store, rounds: int) -> dict[str, Any]:
    rng = random.Random(7)
    users = [f"user{i}@acme.example" for i in range(USERS)]
    entities = [_Entity("acme", "acme", "account", frozenset(users[:50]))]
    entities += [
        _Entity(f"PT{t:04d}", f"Team {t}", "team", frozenset(rng.sample(users, TEAM_SIZE)))
        for t in range(TEAMS)
    ]
    connector = store.connectors.create("bench", "api_key", "us", {"api_key": "unused"})
    started = time.perf_counter()
    store.entities.replace_derived(connector.id, entities)
    replace_seconds = time.perf_counter() - started
    member = next(u for u in users if store.entities.for_user(u, connector.id))
    job = store.jobs.create(connector.id, "manual", status="running")
    progress = {"phase": "indexing", "done": 1200, "total": 4000,
                "updated_at": "2026-01-01T00:00:00Z", "pid": 1, "host": "bench"}
    counts = {"added": 1200, "updated": 0, "deleted": 0, "unchanged": 0, "failed": 0}
    return {
        "replace_derived_seconds": replace_seconds,
        "memberships": _time(lambda: store.entities.memberships(member), rounds),
        "for_user": _time(lambda: store.entities.for_user(member, connector.id), rounds),
        "job_progress_update": _time(
            lambda: store.jobs.update(job.id, progress=progress, counts=counts, requests=99),
            rounds,
        ),
        "job_get": _time(lambda: store.jobs.get(job.id), rounds),
        "connector_get": _time(lambda: store.connectors.get(connector.id), rounds),
        "memberships_4_threads_per_s": _throughput(
            lambda: store.entities.memberships(member), 4, 2.0
        ),
    }


@contextmanager
def _postgres_schema(database_url: str) -> Iterator[str]:
    """``database_url`` with a fresh schema as its search_path; dropped afterwards."""
    schema = f"bench_{secrets.token_hex(4)}"
    plain = database_url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    try:
        url = sa.make_url(plain).update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
    finally:
        with psycopg.connect(plain, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


def run(database_url: str | None, rounds: int, log: Callable[[str], None]) -> dict[str, Any]:
    key = Fernet.generate_key()
    results: dict[str, Any] = {"rounds": rounds}
    with tempfile.TemporaryDirectory(prefix="pdsearch-store-bench-") as tmp:
        log("store: SQLite")
        with Store(Path(tmp) / "state.db", key) as store:
            results["sqlite"] = measure(store, rounds)
    if database_url:
        log("store: PostgreSQL")
        with _postgres_schema(database_url) as url, Store(url, key) as store:
            results["postgresql"] = measure(store, rounds)
    else:
        results["postgresql"] = None
    return results


def section(res: dict[str, Any]) -> list[str]:
    """Scenario 5 in the report (docs/BENCHMARKS.md): the hot paths on each engine."""
    engines = [(name, res.get(name)) for name in ("sqlite", "postgresql")]
    rows = [
        "## 5. State store (SQLite and PostgreSQL)",
        "",
        "One call at a time on a warm store; 10,000 users in 400 teams. `memberships` and "
        "`for_user` run on every search, a job's progress update at every progress report of "
        "a sync.",
        "",
        "| operation | " + " | ".join(f"{name} p50 / p99" for name, _ in engines) + " |",
        "|---|" + "---|" * len(engines),
    ]
    for op in ("memberships", "for_user", "job_progress_update", "job_get", "connector_get"):
        cells = [
            f"{fig[op]['p50_us'] / 1000:.3f} / {fig[op]['p99_us'] / 1000:.3f} ms"
            if fig else "not measured" for _, fig in engines
        ]
        rows.append(f"| `{op}` | " + " | ".join(cells) + " |")
    cells = [f"{fig['memberships_4_threads_per_s']:,.0f} /s" if fig else "not measured"
             for _, fig in engines]
    rows.append("| `memberships`, 4 threads | " + " | ".join(cells) + " |")
    cells = [f"{fig['replace_derived_seconds']:.2f} s" if fig else "not measured"
             for _, fig in engines]
    rows.append("| `replace_derived` (one sync's 401 entities) | " + " | ".join(cells) + " |")
    if res.get("postgresql") is None:
        rows += ["", "PostgreSQL was not measured: give `--database-url` (or "
                 "PDSEARCH_TEST_DATABASE_URL, as `./run services` prints it)."]
    return [*rows, ""]
