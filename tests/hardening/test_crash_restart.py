"""The sync process killed with SIGKILL at random points, then restarted (issue 6).

Each run: a data directory synced in-process against a loopback simulator, the account changed,
then ``pdsearch sync`` in a child process (the simulator slowed a little so the sync lasts), killed
with SIGKILL once its job reaches a chosen phase (plus a seeded random delay). Afterwards: the
SQLite files pass ``PRAGMA integrity_check``; the index lost nothing and deleted nothing that
PagerDuty still has, and no ``sys_racl`` is wrong; a restarted service (``create_app``) marks the
job left running as failed with a truthful error; a clean sync makes the index equal PagerDuty.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import apsw
import httpx
import pytest
from fault_oracle import (
    expected_entities,
    expected_state,
    index_state,
    judge,
    mutate,
    stored_entities,
)
from pydantic import SecretStr

from pdsearch.config import Settings
from pdsearch.index.sqlite import SqliteIndex
from pdsearch.simulator.config import SimulatorConfig
from pdsearch.simulator.server import SimulatorServer
from pdsearch.store import Store, StoreError
from pdsearch.sync.service import SyncService

API_KEY = "crash-test-api-key-4b8e21"
TOKEN = "crash-test-service-token-9c0d"
NAME = "acme"
#: (which sync is killed, the phase the kill is aimed at): "first" kills the first sync of an
#: empty index (thousands of writes in flight), "resync" a sync after the account changed;
#: "any" kills after a random delay whatever the phase (startup included).
TARGETS = [
    ("first", "indexing"),
    ("first", "indexing"),
    ("first", "any"),
    ("resync", "identity"),
    ("resync", "policies"),
    ("resync", "schedules"),
    ("resync", "indexing"),
    ("resync", "any"),
]


@pytest.fixture(scope="module")
def server() -> Iterator[SimulatorServer]:
    # Medium: a sync lasts a second or two, long enough to be hit in each phase.
    config = SimulatorConfig.for_scale("medium", api_key=API_KEY, rate_limit=0, seed=5)
    with SimulatorServer(config) as srv:
        yield srv


def _settings(home: Path) -> Settings:
    return Settings(home=home, api_token=SecretStr(TOKEN), secret_key=None, public_url=None)


def _child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PDSEARCH_")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _integrity(path: Path, settings: Settings) -> str:
    """SQLite's integrity check of the state or the index file, each read with the library
    its owner uses: the index's APSW (its own SQLite), the state's Python ``sqlite3``."""
    if path == settings.index_path:
        with contextlib.closing(apsw.Connection(str(path))) as index:
            row = index.execute("PRAGMA integrity_check").fetchone()
            assert row is not None
            return str(row[0])
    with contextlib.closing(sqlite3.connect(path)) as state:
        return str(state.execute("PRAGMA integrity_check").fetchone()[0])


def _entities(settings: Settings, connector_id: str) -> Any:
    with Store.open(settings) as store:
        return stored_entities(store, connector_id)


def _latest_job(settings: Settings, connector_id: str) -> Any:
    with Store.open(settings) as store:
        jobs = store.jobs.list(connector_id, limit=1)
        return jobs[0][0] if isinstance(jobs, tuple) else jobs[0]


async def _first_sync(settings: Settings, base_url: str, run_it: bool) -> str:
    with Store.open(settings) as store:
        connector = store.connectors.create(NAME, "api_key", "us", {"api_key": API_KEY},
                                           base_url=base_url)
        if not run_it:
            return connector.id
        index = SqliteIndex(settings.index_path)
        try:
            job = await SyncService(store, index).run(connector.id)
            assert job.status == "succeeded", job.error
        finally:
            index.close()
    return connector.id


def _active_phase(settings: Settings) -> str | None:
    """The phase of the newest job while it is queued or running, read straight from the state
    file (a millisecond, where opening the store takes tens: a short phase is not missed)."""
    try:
        conn = sqlite3.connect(f"file:{settings.state_path}?mode=ro", uri=True, timeout=0.05)
    except sqlite3.Error:
        return None  # the child is still creating the file
    try:
        row = conn.execute(
            "SELECT status, progress FROM jobs ORDER BY seq DESC LIMIT 1"
        ).fetchone()
    except sqlite3.Error:
        return None  # not migrated yet, or busy for a moment
    finally:
        conn.close()
    if row is None or row[0] not in ("queued", "running"):
        return None
    return str(json.loads(row[1]).get("phase", "starting"))


def _kill_at(proc: subprocess.Popen[bytes], settings: Settings, connector_id: str,
             target: str, delay: float, limit: float = 30.0) -> str:
    """SIGKILL ``proc`` once its job reached ``target`` (then ``delay`` more seconds); returns
    the phase seen, or "finished" when the sync ended first."""
    started = time.monotonic()
    seen = "starting"
    while time.monotonic() - started < limit:
        if proc.poll() is not None:
            return "finished"
        if target == "any":
            if time.monotonic() - started >= delay:
                seen = "any"
                break
        else:
            phase = _active_phase(settings)
            if phase is not None:
                seen = phase
                if seen == target or seen in PHASE_AFTER.get(target, ()):
                    time.sleep(delay)
                    break
        time.sleep(0.005)
    else:
        proc.kill()
        raise AssertionError(f"the sync never reached {target} within {limit}s")
    if proc.poll() is not None:
        return "finished"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    return seen


PHASE_AFTER = {
    "identity": ("policies", "schedules", "indexing", "deleting"),
    "policies": ("schedules", "indexing", "deleting"),
    "schedules": ("indexing", "deleting"),
    "indexing": ("deleting",),
}


async def _restart_and_sync(settings: Settings, connector_id: str) -> tuple[Any, Any]:
    """A new service on the data directory: the interrupted job, then a clean sync."""
    from pdsearch.web.app import create_app

    app = create_app(settings)
    async with app.router.lifespan_context(app), httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://pdsearch.test",
        headers={"Authorization": f"Bearer {TOKEN}"},
    ) as client:
        jobs = (await client.get(f"/api/v1/connectors/{connector_id}/jobs")).json()["data"]
        interrupted = jobs[0] if jobs else None
        answer = await client.post(f"/api/v1/connectors/{connector_id}/sync")
        assert answer.status_code == 202, answer.text
        job_id = answer.json()["job_id"]
        deadline = time.monotonic() + 60
        while True:
            job = (await client.get(f"/api/v1/jobs/{job_id}")).json()
            if job["status"] not in ("queued", "running"):
                break
            assert time.monotonic() < deadline, job
            await asyncio.sleep(0.05)
    return interrupted, job


#: Simulator latency per attempt: a machine fast enough to finish a sync before the kill lands
#: gets the same target again with PagerDuty answering more slowly, so every phase aimed at is hit
#: on any machine (CI's once finished four of eight runs before their kill at 5 ms).
LATENCIES_MS = (5, 25, 80)


def _one_run(server: SimulatorServer, home: Path, mode: str, target: str, delay: float,
             latency_ms: int) -> str:
    """One kill at ``target`` and everything checked after it; returns the phase hit."""
    settings = _settings(home)
    server.simulator.config.latency_ms = 0
    connector_id = asyncio.run(_first_sync(settings, server.base_url, run_it=mode == "resync"))
    first_job_id = _latest_job(settings, connector_id).id if mode == "resync" else None
    mutate(server.account, tag=f"k{home.name}")
    with SqliteIndex(settings.index_path) as index:
        before = index_state(index, connector_id)
    truth = expected_state(server.account)
    entities_before = _entities(settings, connector_id)
    entities_truth = expected_entities(server.account)

    server.simulator.config.latency_ms = latency_ms  # the sync lasts long enough to be hit
    proc = subprocess.Popen(
        [sys.executable, "-m", "pdsearch", "sync", NAME, "--data-dir", str(settings.home),
         "--json"],
        env=_child_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    try:
        phase = _kill_at(proc, settings, connector_id, target, delay)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        server.simulator.config.latency_ms = 0
    output = proc.stdout.read().decode(errors="replace") if proc.stdout else ""

    for db in (settings.state_path, settings.index_path):
        assert _integrity(db, settings) == "ok", (home, db)
    try:
        left = _latest_job(settings, connector_id)
    except IndexError:
        left = None
    if left is None or left.id == first_job_id:
        phase = "startup"  # killed before it created its job
    elif left.status not in ("queued", "running"):
        # Killed after its job was recorded (while closing): a finished sync, judged as one.
        assert left.status == "succeeded", left
        phase = "finished"
    succeeded = left is not None and left.status == "succeeded" and left.id != first_job_id
    with SqliteIndex(settings.index_path) as index:
        after = index_state(index, connector_id)
    verdict = judge(before, truth, after, succeeded)
    assert verdict.clean, (home, phase, verdict, left, output)
    # Permission entities: replaced whole or not at all.
    assert _entities(settings, connector_id) in (entities_before, entities_truth), home

    interrupted, clean = asyncio.run(_restart_and_sync(settings, connector_id))
    if phase not in ("finished", "startup"):
        assert left is not None
        assert interrupted["id"] == left.id
        assert interrupted["status"] == "failed"
        assert "did not finish" in interrupted["error"], interrupted
        assert interrupted["finished_at"] is not None
    assert clean["status"] == "succeeded", clean
    with SqliteIndex(settings.index_path) as index:
        assert index_state(index, connector_id) == expected_state(server.account)
    assert _entities(settings, connector_id) == expected_entities(server.account)
    for db in (settings.state_path, settings.index_path):
        assert _integrity(db, settings) == "ok", (home, db)
    return phase


@pytest.mark.slow
def test_sigkill_at_random_points_then_restart(
    server: SimulatorServer, tmp_path: Path
) -> None:
    rng = random.Random(2026)
    seen_phases: list[list[str]] = []
    for run, (mode, target) in enumerate(TARGETS):
        tries: list[str] = []
        for attempt, latency_ms in enumerate(LATENCIES_MS):
            # A retry also kills sooner after the phase is seen: local phases (indexing) do not
            # last longer when PagerDuty answers more slowly.
            delay = (rng.uniform(0.0, 0.1) / (1 + 4 * attempt) if target != "any"
                     else rng.uniform(1.0, 3.0))
            phase = _one_run(server, tmp_path / f"run{run}-{attempt}", mode, target, delay,
                             latency_ms)
            tries.append(phase)
            if phase not in ("finished", "startup"):
                break
        seen_phases.append(tries)
    print("phases hit by SIGKILL (a list per target, one entry per attempt):", seen_phases)
    # Every target was hit in the phase aimed at, on one attempt or another ("any" may land in
    # startup once more: a kill before the job exists is a fair outcome of a random delay).
    missed = [t for t, tries in zip(TARGETS, seen_phases, strict=True)
              if tries[-1] in ("finished", "startup") and t[1] != "any"]
    assert not missed, seen_phases


@pytest.mark.slow
def test_cli_sync_right_after_a_killed_one_runs(
    server: SimulatorServer, tmp_path: Path
) -> None:
    """``pdsearch sync`` again at once after the previous one was killed: the dead job is marked
    failed (its process is gone) and the new sync runs, rather than waiting for a stale
    heartbeat."""
    settings = _settings(tmp_path / "cli")
    connector_id = asyncio.run(_first_sync(settings, server.base_url, run_it=False))
    command = [sys.executable, "-m", "pdsearch", "sync", NAME, "--data-dir", str(settings.home),
               "--json"]
    server.simulator.config.latency_ms = 5
    try:
        proc = subprocess.Popen(command, env=_child_env(), stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        phase = _kill_at(proc, settings, connector_id, "policies", 0.0)
        assert phase in ("policies", "schedules", "indexing", "deleting"), phase
    finally:
        server.simulator.config.latency_ms = 0
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    killed = _latest_job(settings, connector_id)
    assert killed.status == "running"
    again = subprocess.run(command, env=_child_env(), capture_output=True, timeout=120)
    assert again.returncode == 0, again.stderr.decode()
    with Store.open(settings) as store:
        old = store.jobs.get(killed.id)
    assert old.status == "failed", old
    assert old.error, old
    with SqliteIndex(settings.index_path) as index:
        assert index_state(index, connector_id) == expected_state(server.account)


@pytest.mark.slow
def test_service_started_during_a_cli_sync_leaves_it_alone(
    server: SimulatorServer, tmp_path: Path
) -> None:
    """A service starting while ``pdsearch sync`` runs must not mark that live job failed (it is
    not interrupted) nor start a second sync of the connector next to it."""
    settings = _settings(tmp_path / "both")
    connector_id = asyncio.run(_first_sync(settings, server.base_url, run_it=False))
    command = [sys.executable, "-m", "pdsearch", "sync", NAME, "--data-dir", str(settings.home),
               "--json"]
    server.simulator.config.latency_ms = 20
    proc = subprocess.Popen(command, env=_child_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    try:
        started = time.monotonic()
        while True:
            try:
                job = _latest_job(settings, connector_id)
            except (sqlite3.Error, IndexError, StoreError):
                job = None
            live = ("policies", "schedules", "indexing")
            if job is not None and job.progress.get("phase") in live:
                break
            assert proc.poll() is None, "no running sync"
            assert time.monotonic() - started < 30, "no running sync"
            time.sleep(0.01)

        async def start_service() -> tuple[dict[str, Any], int]:
            from pdsearch.web.app import create_app

            app = create_app(settings)
            async with app.router.lifespan_context(app), httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://pdsearch.test",
                headers={"Authorization": f"Bearer {TOKEN}"},
            ) as client:
                seen = (await client.get(f"/api/v1/jobs/{job.id}")).json()
                second = await client.post(f"/api/v1/connectors/{connector_id}/sync")
                return seen, second.status_code

        seen, second = asyncio.run(start_service())
        assert seen["status"] == "running", seen
        assert second == 409
        _, err = proc.communicate(timeout=120)
    finally:
        server.simulator.config.latency_ms = 0
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    assert proc.returncode == 0, err.decode()[-2000:]
    assert _latest_job(settings, connector_id).status == "succeeded"
    with SqliteIndex(settings.index_path) as index:
        assert index_state(index, connector_id) == expected_state(server.account)


def _serve(home: Path, port: int) -> subprocess.Popen[bytes]:
    env = _child_env()
    env["PDSEARCH_API_TOKEN"] = TOKEN
    return subprocess.Popen(
        [sys.executable, "-m", "pdsearch", "serve", "--data-dir", str(home), "--port",
         str(port), "--log-level", "warning"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )


def _wait_up(proc: subprocess.Popen[bytes], base: str) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=10,
                          headers={"Authorization": f"Bearer {TOKEN}"})
    for _ in range(600):
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        try:
            if client.get("/api/v1/connectors").status_code == 200:
                return client
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError("pdsearch serve did not start")


@pytest.mark.slow
def test_sigkill_of_the_service_during_a_sync_then_restart(
    server: SimulatorServer, tmp_path: Path
) -> None:
    """``pdsearch serve`` killed with SIGKILL while its first sync writes the index, started
    again: the job is failed with a truthful error, the files are sound, a new sync is exact."""
    settings = _settings(tmp_path / "svc")
    connector_id = asyncio.run(_first_sync(settings, server.base_url, run_it=False))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    proc = _serve(settings.home, port)
    server.simulator.config.latency_ms = 5
    try:
        client = _wait_up(proc, base)
        job_id = client.post(f"/api/v1/connectors/{connector_id}/sync").json()["job_id"]
        client.close()
        phase = _kill_at(proc, settings, connector_id, "indexing", 0.02)
    finally:
        server.simulator.config.latency_ms = 0
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
        if proc.stderr:
            proc.stderr.close()
    assert phase in ("indexing", "deleting"), phase
    for db in (settings.state_path, settings.index_path):
        assert _integrity(db, settings) == "ok", db
    with SqliteIndex(settings.index_path) as index:
        partial = index_state(index, connector_id)
    assert judge({}, expected_state(server.account), partial, succeeded=False).clean

    proc = _serve(settings.home, port)
    try:
        client = _wait_up(proc, base)
        old = client.get(f"/api/v1/jobs/{job_id}").json()
        assert old["status"] == "failed", old
        assert "did not finish" in old["error"], old
        new_id = client.post(f"/api/v1/connectors/{connector_id}/sync").json()["job_id"]
        for _ in range(600):
            job = client.get(f"/api/v1/jobs/{new_id}").json()
            if job["status"] not in ("queued", "running"):
                break
            time.sleep(0.1)
        client.close()
        assert job["status"] == "succeeded", job
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        if proc.stderr:
            proc.stderr.close()
    with SqliteIndex(settings.index_path) as index:
        assert index_state(index, connector_id) == expected_state(server.account)
    assert _entities(settings, connector_id) == expected_entities(server.account)
