"""``pdsearch demo`` as a person runs it: a subprocess that prints the URL, the token and three
sample users, serves a synced account, and leaves nothing behind on Ctrl-C."""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from child_processes import end, pdsearch_command, start

pytestmark = pytest.mark.timeout(120)

READY = "Press Ctrl-C to stop."


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_is_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def start_demo(*args: str) -> tuple[subprocess.Popen[str], list[str]]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("PDSEARCH_HOME", None)
    env.pop("PDSEARCH_API_TOKEN", None)
    # SIGINT at its default in the child, however the test command was started.
    proc = start(
        pdsearch_command("demo", *args),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )
    lines: list[str] = []
    ready = threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))
            if READY in line:
                ready.set()
        ready.set()

    threading.Thread(target=read, daemon=True).start()
    if not ready.wait(60):
        end(proc)
        raise AssertionError("the demo did not get ready in 60 s:\n" + "\n".join(lines))
    return proc, lines


def stop(proc: subprocess.Popen[str], sig: int = signal.SIGINT) -> int:
    proc.send_signal(sig)
    try:
        return proc.wait(30)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"the demo did not stop within 30 s of signal {sig}") from None
    finally:
        end(proc)


def test_demo_serves_a_synced_account_and_stops_cleanly() -> None:
    port = free_port()
    proc, lines = start_demo("--port", str(port))
    output = "\n".join(lines)
    try:
        assert proc.poll() is None, output
        url = re.search(r"Open\s+(http://127\.0\.0\.1:\d+)/", output)
        token = re.search(r"API token\s+(\S+)", output)
        data = re.search(r"Data\s+(\S+) \(temporary", output)
        assert url, output
        assert token, output
        assert data, output
        assert url.group(1) == f"http://127.0.0.1:{port}"
        users = dict(
            (kind.strip(), email)
            for kind, email in re.findall(
                r"^\s+(admin|public team member|private team member)\s+(\S+@\S+)", output, re.M
            )
        )
        assert set(users) == {"admin", "public team member", "private team member"}, output
        assert "private team" in output
        base, bearer = url.group(1), token.group(1)
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {bearer}"}) as api:
            connectors = api.get("/api/v1/connectors").json()["data"]
            assert len(connectors) == 1
            assert connectors[0]["status"] == "connected"
            jobs = api.get(f"/api/v1/connectors/{connectors[0]['id']}/jobs").json()["data"]
            assert jobs[0]["status"] == "succeeded"
            assert jobs[0]["counts"]["added"] > 0
            seen = {}
            for kind, email in users.items():
                found = api.post("/api/v1/search", json={"query": "", "user": email, "limit": 100})
                assert found.status_code == 200
                seen[kind] = {r["id"] for r in found.json()["results"]}
                assert seen[kind], kind
            assert len({frozenset(s) for s in seen.values()}) == 3  # each sees something else
            assert seen["public team member"] < seen["admin"]
            assert seen["private team member"] < seen["admin"]
            # The search page offers the three as a picker.
            page = httpx.get(base + "/search", params={"q": "schedule"}).text
            for email in users.values():
                assert f'value="{email}"' in page
            assert 'class="result"' in page
            wrong = api.get("/api/v1/connectors", headers={"Authorization": "Bearer x"})
            assert wrong.status_code == 401
        # The one line that points the command line at the demo's data works as printed.
        export = re.search(r"^\s+export PDSEARCH_HOME=(\S+)$", output, re.M)
        assert export, output
        assert Path(shlex.split(export.group(1))[0]) == Path(data.group(1))
        cli_env = {k: v for k, v in os.environ.items() if not k.startswith("PDSEARCH_")}
        listed = subprocess.run(
            pdsearch_command("search", "", "--user", users["admin"], "--json"),
            env={**cli_env, "PDSEARCH_HOME": shlex.split(export.group(1))[0]},
            capture_output=True, text=True, timeout=60,
        )
        assert listed.returncode == 0, listed.stderr
        assert json.loads(listed.stdout)["total"] == len(seen["admin"])
    finally:
        code = stop(proc)
    assert code == 0, "\n".join(lines)
    assert "Stopped." in lines[-1]
    assert port_is_free(port), "the demo's port is still taken after it stopped"
    assert not Path(data.group(1)).exists(), "the temporary data directory was left behind"


def test_demo_says_clearly_when_the_port_is_taken() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        started = time.monotonic()
        result = subprocess.run(
            [sys.executable, "-m", "pdsearch", "demo", "--port", str(port)],
            capture_output=True, text=True, timeout=60,
        )
    assert result.returncode == 1
    out = result.stdout + result.stderr
    assert f"Port {port} on 127.0.0.1 is already in use" in out
    assert f"--port {port + 1}" in out
    assert "Traceback" not in out
    assert time.monotonic() - started < 30


def test_demo_keeps_a_given_data_dir_and_reuses_it(tmp_path: Path) -> None:
    data_dir = tmp_path / "demo-data"
    for sig in (signal.SIGINT, signal.SIGTERM):  # Ctrl-C, and what a service manager sends
        proc, lines = start_demo("--port", str(free_port()), "--data-dir", str(data_dir))
        assert stop(proc, sig) == 0, "\n".join(lines)
        assert "temporary" not in "\n".join(lines)
    assert (data_dir / "state.db").exists()
    # The second run pointed the same connector at its new simulator rather than adding one.

    from pdsearch.config import Settings
    from pdsearch.store import Store

    with Store.open(Settings(home=data_dir, secret_key=None)) as store:
        connectors, total = store.connectors.list()
        assert total == 1
        jobs, _ = store.jobs.list(connectors[0].id)
        assert [j.status for j in jobs] == ["succeeded", "succeeded"]


def test_demo_in_process_leaves_no_thread_or_port(tmp_path: Path) -> None:
    from pdsearch.demo import Demo

    before = set(threading.enumerate())
    demo = Demo(port=0, data_dir=tmp_path / "d")
    try:
        info = demo.start(lambda _: None)
        assert [u.kind for u in info.users] == [
            "admin", "public team member", "private team member"
        ]
        assert info.documents > 0
        assert demo.simulator is not None
        sim_port = demo.simulator.port
        threading.Timer(0.3, demo.stop).start()
        demo.serve()  # returns once stopped
    finally:
        demo.close()
    time.sleep(0.1)  # the timer thread ends just after calling stop()
    assert set(threading.enumerate()) <= before
    assert port_is_free(demo.port)
    assert port_is_free(sim_port)


def test_the_hints_name_the_command_that_runs_pdsearch(monkeypatch: pytest.MonkeyPatch) -> None:
    # ./run sets PDSEARCH_COMMAND to its own path: a clone has no `pdsearch` on its PATH, and
    # the hints are for another terminal.
    from pdsearch.demo import DemoInfo, SampleUser

    info = DemoInfo("http://127.0.0.1:8000", "t", Path("/tmp/d"), False, "http://127.0.0.1:9",
                    "acme", 70, 0.8, [SampleUser("ada@acme.example.com", "admin", (), 70)])
    monkeypatch.delenv("PDSEARCH_COMMAND", raising=False)
    assert "then, e.g.: pdsearch search payments --user ada@acme.example.com" in info.describe()
    monkeypatch.setenv("PDSEARCH_COMMAND", "/home/me/pd search/run")
    text = info.describe()
    assert "then, e.g.: '/home/me/pd search/run' search payments --user ada@" in text
    assert "(stdio): '/home/me/pd search/run' mcp --user ada@" in text
