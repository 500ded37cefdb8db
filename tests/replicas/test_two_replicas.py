"""Two ``pdsearch serve`` processes on one PostgreSQL and one OpenSearch (issue 16's acceptance):
a sync started through one is seen and searched through the other, a sync running on one is
canceled through the other, and when the scheduler's leader is killed the other replica takes the
lease within 30 s and the scheduled sync still runs exactly once.

The servers are the session's (``./run services``, else started for the session): each test has
a fresh PostgreSQL schema and its own OpenSearch index prefix, both removed afterwards. Each
replica has a data directory of its own (as on two machines) and the same secret key and token.
Every process started here is ended, whatever happens.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from child_processes import end, pdsearch_command, start
from cryptography.fernet import Fernet

from pdsearch.scheduler import LEASE_NAME
from pdsearch.simulator.config import SimulatorConfig
from pdsearch.simulator.server import SimulatorServer
from pdsearch.store import Store

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

TOKEN = "replicas-test-token-0123456789abcdef"
API_KEY = "replicas-test-api-key"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Replica:
    name: str
    proc: subprocess.Popen[bytes]
    url: str
    log: Path

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30.0,
                            headers={"Authorization": f"Bearer {TOKEN}"})

    def tail(self) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return f"--- {self.name} (pid {self.proc.pid}) ---\n{text[-3000:]}"


@dataclass
class Cluster:
    replicas: list[Replica]
    database_url: str
    secret_key: bytes

    def store(self) -> Store:
        return Store(self.database_url, self.secret_key)

    def leader_pid(self) -> int | None:
        with self.store() as store:
            holder = store.leases.holder(LEASE_NAME)
        # Holders are "host:pid:random".
        return int(holder.split(":")[1]) if holder else None

    def by_pid(self, pid: int) -> Replica:
        return next(r for r in self.replicas if r.proc.pid == pid)


@pytest.fixture
def account() -> Iterator[SimulatorServer]:
    config = SimulatorConfig.for_scale("small", api_key=API_KEY, rate_limit=0, seed=16)
    with SimulatorServer(config) as server:
        yield server


def _wait_healthy(replica: Replica, within: float = 60.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if replica.proc.poll() is not None:
            raise AssertionError(f"{replica.name} exited at start\n{replica.tail()}")
        try:
            if httpx.get(f"{replica.url}/healthz", timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{replica.name} did not answer within {within} s\n{replica.tail()}")


@pytest.fixture
def cluster(
    postgres_schema_url: str, opensearch_url: str, tmp_path: Path
) -> Iterator[Cluster]:
    key = Fernet.generate_key()
    prefix = f"pdsearch-replicas-{secrets.token_hex(4)}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PDSEARCH_")}
    env.update(
        PYTHONUNBUFFERED="1",
        PDSEARCH_API_TOKEN=TOKEN,
        PDSEARCH_SECRET_KEY=key.decode(),
        PDSEARCH_DATABASE_URL=postgres_schema_url,
        PDSEARCH_INDEX_URL=opensearch_url,
        PDSEARCH_INDEX_PREFIX=prefix,
    )
    replicas: list[Replica] = []
    try:
        for name in ("replica-a", "replica-b"):
            port = free_port()
            home = tmp_path / name
            home.mkdir()
            log = tmp_path / f"{name}.log"
            with log.open("wb") as out:
                proc = start(
                    pdsearch_command("serve", "--data-dir", str(home), "--port", str(port),
                                     "--log-level", "info"),
                    env=env, stdout=out, stderr=subprocess.STDOUT,
                )
            replicas.append(Replica(name, proc, f"http://127.0.0.1:{port}", log))
        for replica in replicas:
            _wait_healthy(replica)
        yield Cluster(replicas, postgres_schema_url, key)
    finally:
        for replica in replicas:
            end(replica.proc)
        with httpx.Client(base_url=opensearch_url, timeout=30.0) as os_client:
            os_client.delete(f"/{prefix}-*")


def wait_for(what: str, condition: Callable[[], Any], cluster: Cluster,
             within: float = 60.0) -> Any:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    logs = "\n".join(r.tail() for r in cluster.replicas)
    raise AssertionError(f"{what}: not within {within} s\n{logs}")


def make_connector(client: httpx.Client, account: SimulatorServer) -> str:
    resp = client.post("/api/v1/connectors", json={
        "name": "Acme", "auth": {"type": "api_key", "api_key": API_KEY},
        "base_url": account.base_url,
    })
    assert resp.status_code == 201, resp.text
    return str(resp.json()["id"])


def job_status(client: httpx.Client, job_id: str) -> str:
    resp = client.get(f"/api/v1/jobs/{job_id}")
    assert resp.status_code == 200, resp.text
    return str(resp.json()["status"])


def admin_email(account: SimulatorServer) -> str:
    users = account.account.users.values()
    return str(next(u["email"] for u in users if u.get("role") in ("owner", "admin")))


def test_sync_through_one_search_and_cancel_through_the_other(
    cluster: Cluster, account: SimulatorServer
) -> None:
    a, b = cluster.replicas
    with a.client() as via_a, b.client() as via_b:
        cid = make_connector(via_a, account)
        assert via_b.get(f"/api/v1/connectors/{cid}").status_code == 200

        resp = via_a.post(f"/api/v1/connectors/{cid}/sync")
        assert resp.status_code == 202, resp.text
        job_id = resp.json()["job_id"]
        wait_for("the sync (run by a) succeeds, as b sees it",
                 lambda: job_status(via_b, job_id) == "succeeded", cluster)

        found = via_b.post("/api/v1/search", json={"query": "", "user": admin_email(account)})
        assert found.status_code == 200, found.text
        assert found.json()["total"] > 0
        assert {r["connector_id"] for r in found.json()["results"]} == {cid}

        # A slow account and a full sync (an incremental one with nothing changed ends in a
        # request or two): it runs long enough to be canceled from the other replica.
        account.simulator.config.latency_ms = 500
        running = via_a.post(f"/api/v1/connectors/{cid}/sync",
                             json={"mode": "full"}).json()["job_id"]
        wait_for("the second sync runs", lambda: job_status(via_b, running) == "running",
                 cluster)
        # Never two syncs of one connector: b refuses to start one while a runs it.
        refused = via_b.post(f"/api/v1/connectors/{cid}/sync")
        assert refused.status_code == 409, refused.text
        canceled = via_b.post(f"/api/v1/jobs/{running}/cancel")
        assert canceled.status_code == 202, canceled.text
        wait_for("the sync a runs stops when b cancels it",
                 lambda: job_status(via_a, running) == "canceled", cluster, within=30.0)


def test_the_leader_killed_a_scheduled_sync_still_runs_once(
    cluster: Cluster, account: SimulatorServer
) -> None:
    pid = wait_for("a replica leads", cluster.leader_pid, cluster, within=30.0)
    leader = cluster.by_pid(pid)
    survivor = next(r for r in cluster.replicas if r is not leader)
    with leader.client() as via_leader:
        cid = make_connector(via_leader, account)
        when = datetime.now(UTC) + timedelta(seconds=3)
        resp = via_leader.put(f"/api/v1/connectors/{cid}/schedule",
                              json={"run_at": when.isoformat()})
        assert resp.status_code == 200, resp.text

    leader.proc.send_signal(signal.SIGKILL)  # no clean stop: the lease is left to expire
    leader.proc.wait(10)
    killed_at = time.monotonic()

    def survivor_leads() -> bool:
        return cluster.leader_pid() == survivor.proc.pid

    wait_for("the survivor takes the lease", survivor_leads, cluster, within=30.0)
    took_over = time.monotonic() - killed_at
    assert took_over < 30.0

    with survivor.client() as via_survivor:

        def scheduled_jobs() -> list[dict[str, Any]]:
            jobs = via_survivor.get(f"/api/v1/connectors/{cid}/jobs").json()["data"]
            return [j for j in jobs if j["trigger"] == "scheduled"]

        [job] = wait_for("the scheduled sync runs", scheduled_jobs, cluster, within=30.0)
        wait_for("it succeeds", lambda: job_status(via_survivor, job["id"]) == "succeeded",
                 cluster)
        time.sleep(3)  # a few more of the scheduler's turns: nothing fires a second time
        assert len(scheduled_jobs()) == 1
        assert via_survivor.get(f"/api/v1/connectors/{cid}/schedule").status_code == 404
    print(f"new leader {took_over:.1f} s after the old one was killed")
