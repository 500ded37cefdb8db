"""Stopping the long-running commands (``sync``, ``serve``, ``simulate``, ``demo``) with
signals, as a service manager (SIGTERM) or a terminal (Ctrl-C) does.

SIGTERM always stops them cleanly; SIGINT does unless the process was started with it ignored
(a background job of a script), which it then keeps ignoring. Each child's SIGINT handling is
set here, so the tests pass however the test command itself was started.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from child_processes import pdsearch_command, running
from typer.testing import CliRunner

from pdsearch.cli import app
from pdsearch.config import Settings
from pdsearch.simulator.server import SimulatorServer
from pdsearch.store import Job, Store

pytestmark = pytest.mark.timeout(120)

TOKEN = "signal-test-token-0123456789abcdef"


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PDSEARCH_")}
    env["PDSEARCH_HOME"] = str(home)
    return env


def _wait_for(what: str, check: Callable[[], Any], proc: subprocess.Popen[Any],
              within: float = 30.0) -> Any:
    """Poll ``check`` until it returns something true; fail at once if ``proc`` ended."""
    deadline = time.monotonic() + within
    while True:
        value = check()
        if value:
            return value
        if proc.poll() is not None:
            out = proc.stderr.read() if proc.stderr else ""
            raise AssertionError(f"the process ended ({proc.returncode}) before {what}: {out}")
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} within {within} s")
        time.sleep(0.05)


@pytest.fixture
def slow_account(tmp_path: Path, sim_server: SimulatorServer) -> Path:
    """A data directory with the connector "acme" to a simulator slowed to 300 ms a request,
    so a sync lasts several seconds."""
    home = tmp_path / "home"
    added = CliRunner().invoke(
        app, ["connector", "add", "acme", "--api-key", "-", "--base-url", sim_server.base_url],
        input=sim_server.api_key + "\n", env={"PDSEARCH_HOME": str(home)},
    )
    assert added.exit_code == 0, added.output
    sim_server.simulator.config.latency_ms = 300
    return home


def _running_job(store: Store) -> Callable[[], Job | None]:
    connector = store.connectors.get_by_name("acme")

    def check() -> Job | None:
        job = store.jobs.running(connector.id)
        return job if job is not None and job.status == "running" else None

    return check


@pytest.mark.parametrize("sigint", ["default", "ignored"])
def test_sigterm_cancels_a_cli_sync_and_records_it(slow_account: Path, sigint: str) -> None:
    """What a service manager does to ``pdsearch sync``: it exits within 10 s, the job recorded
    as canceled, nothing deleted; whether or not SIGINT was ignored."""
    with Store.open(Settings(home=slow_account)) as store, running(
        pdsearch_command("sync", "acme"), sigint=sigint, env=_env(slow_account),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    ) as proc:
        job = _wait_for("a running sync", _running_job(store), proc)
        proc.send_signal(signal.SIGTERM)
        try:
            out, err = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            raise AssertionError("pdsearch sync did not exit within 10 s of SIGTERM") from None
        final = store.jobs.get(job.id)
    assert proc.returncode == 128 + signal.SIGTERM, (out, err)
    assert "canceled" in err
    assert "Traceback" not in err
    assert final.status == "canceled"
    assert final.finished_at is not None
    assert final.counts["deleted"] == 0


def test_a_sync_started_with_sigint_ignored_keeps_ignoring_it(slow_account: Path) -> None:
    """A background job of a script ignores Ctrl-C, as POSIX programs do; SIGTERM still stops
    it."""
    with Store.open(Settings(home=slow_account)) as store, running(
        pdsearch_command("sync", "acme"), sigint="ignored", env=_env(slow_account),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    ) as proc:
        job = _wait_for("a running sync", _running_job(store), proc)
        proc.send_signal(signal.SIGINT)
        before = store.jobs.get(job.id).progress
        # The sync goes on reading: its progress is written again after the SIGINT.
        _wait_for("progress after SIGINT", lambda: store.jobs.get(job.id).progress != before,
                  proc)
        assert store.jobs.get(job.id).status == "running"
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=10)
        assert store.jobs.get(job.id).status == "canceled"
    assert proc.returncode == 128 + signal.SIGTERM


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_serve_stops_gracefully_and_records_its_running_sync_canceled(
    slow_account: Path, sig: signal.Signals
) -> None:
    port = _free_port()
    env = {**_env(slow_account), "PDSEARCH_API_TOKEN": TOKEN}
    base = f"http://127.0.0.1:{port}/api/v1"
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with Store.open(Settings(home=slow_account)) as store, running(
        pdsearch_command("serve", "--port", str(port), "--log-level", "warning"), env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    ) as proc:

        def up() -> bool:
            try:
                return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).is_success
            except httpx.TransportError:
                return False

        _wait_for("the service to answer", up, proc)
        cid = store.connectors.get_by_name("acme").id
        started = httpx.post(f"{base}/connectors/{cid}/sync", headers=headers)
        assert started.status_code == 202, started.text
        job = _wait_for("a running sync", _running_job(store), proc)
        proc.send_signal(sig)
        try:
            _out, err = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"pdsearch serve did not exit within 10 s of {sig!r}") from None
        final = store.jobs.get(job.id)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    assert final.status == "canceled"
    assert final.finished_at is not None


def test_simulate_keeps_ignoring_sigint_when_started_so_and_stops_on_sigterm() -> None:
    with running(pdsearch_command("simulate", "--scale", "tiny", "--port", "0"),
                 sigint="ignored", stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                 text=True) as proc:
        assert proc.stdout is not None
        ready = json.loads(proc.stdout.readline())
        proc.send_signal(signal.SIGINT)
        headers = {"Authorization": f"Token token={ready['api_key']}"}
        # Still serving after the ignored SIGINT (the request is answered after it arrived).
        answer = httpx.get(f"{ready['base_url']}/users", headers=headers, timeout=10)
        assert answer.status_code == 200
        assert proc.poll() is None
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0


def test_demo_stops_on_sigterm_when_started_with_sigint_ignored(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PDSEARCH_")}
    env["PYTHONUNBUFFERED"] = "1"
    data = tmp_path / "demo"
    with running(pdsearch_command("demo", "--port", "0", "--data-dir", str(data)),
                 sigint="ignored", env=env, stdout=subprocess.PIPE,
                 stderr=subprocess.STDOUT, text=True) as proc:
        assert proc.stdout is not None
        lines: list[str] = []
        for line in proc.stdout:
            lines.append(line)
            if "Press Ctrl-C to stop." in line:
                break
        else:
            raise AssertionError("the demo did not get ready: " + "".join(lines))
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0, "".join(lines)
        assert "Stopped." in proc.stdout.read()
    with Store.open(Settings(home=data)) as store:
        [connector], _ = store.connectors.list()
        jobs, _ = store.jobs.list(connector.id)
        assert [j.status for j in jobs] == ["succeeded"]
