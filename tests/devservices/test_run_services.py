"""``./run services`` as a person or CI meets it: one JSON line once both servers answer, both
stopped on SIGTERM with nothing left running, and a clear failure that also stops the other
server when one cannot start. Each test starts a pair of its own (seconds each), hence slow."""

from __future__ import annotations

import json
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import psycopg
import pytest

from pdsearch.devservices import Options, running

pytestmark = pytest.mark.slow

READY_WITHIN_SECONDS = 240.0
STOP_WITHIN_SECONDS = 60.0


def _processes_mentioning(text: str) -> list[str]:
    """Command lines of every process on the machine that names ``text`` (our data folder)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue  # it ended while we looked
        if text in command:
            found.append(command)
    return found


def _refuses(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


class ServicesRun:
    """``python -m pdsearch.devservices`` in the background, its stdout read line by line."""

    def __init__(self, tmp_path: Path, *args: str) -> None:
        self.stderr_path = tmp_path / "services.stderr"
        self._stderr = self.stderr_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "pdsearch.devservices", "--quick", *args],
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)
        self.lines.put(None)

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def data_dir(self) -> Path:
        """The run's temporary folder, as its progress on stderr names it."""
        found = re.search(r"data and logs in (\S+)", self.stderr)
        assert found is not None, self.stderr
        return Path(found[1])

    def first_line(self) -> str | None:
        try:
            return self.lines.get(timeout=READY_WITHIN_SECONDS)
        except queue.Empty:
            pytest.fail(f"no line within {READY_WITHIN_SECONDS} s; stderr:\n{self.stderr}")

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(STOP_WITHIN_SECONDS)
        finally:
            self.close()

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()  # PDEATHSIG then takes its servers down
            self.process.wait()
        self._stderr.close()


@pytest.fixture
def services_run(tmp_path: Path) -> Iterator[list[ServicesRun]]:
    runs: list[ServicesRun] = []
    yield runs
    for run in runs:
        run.close()


def test_prints_one_json_line_then_stops_both_on_sigterm(
    tmp_path: Path, services_run: list[ServicesRun]
) -> None:
    run = ServicesRun(tmp_path)
    services_run.append(run)
    line = run.first_line()
    assert line is not None, run.stderr
    urls = json.loads(line)
    assert set(urls) == {"database_url", "index_url"}
    data_dir = run.data_dir()
    assert (data_dir / "postgres").is_dir()
    assert (data_dir / "opensearch").is_dir()

    with psycopg.connect(urls["database_url"]) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
    health = httpx.get(f"{urls['index_url']}/_cluster/health", timeout=30).json()
    assert health["status"] in ("green", "yellow")

    assert run.stop() == 0, run.stderr
    assert _processes_mentioning(str(data_dir)) == []
    assert not data_dir.exists()  # a fresh folder per run, removed at the end
    for url in urls.values():
        port = urlsplit(url).port
        assert port is not None, url
        assert _refuses(port), url
    assert run.lines.get(timeout=5) is None  # nothing but the one line on stdout


def test_a_server_that_cannot_start_fails_clearly_and_stops_the_other(
    tmp_path: Path, services_run: list[ServicesRun]
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        run = ServicesRun(tmp_path, "--postgres-port", str(port))
        services_run.append(run)
        assert run.first_line() is None  # stdout closed without a JSON line
        assert run.process.wait(STOP_WITHIN_SECONDS) == 1

    assert "PostgreSQL exited" in run.stderr
    assert "Address already in use" in run.stderr  # the tail of its own log says why
    data_dir = run.data_dir()
    assert _processes_mentioning(str(data_dir)) == []
    assert not data_dir.exists()


def test_servers_die_with_a_killed_runner_and_the_next_run_removes_its_data(
    tmp_path: Path, services_run: list[ServicesRun]
) -> None:
    run = ServicesRun(tmp_path)
    services_run.append(run)
    assert run.first_line() is not None, run.stderr
    data_dir = run.data_dir()
    assert _processes_mentioning(str(data_dir)) != []

    run.process.kill()  # no chance to clean up: Linux's parent-death signal must do it
    run.process.wait()
    deadline = time.monotonic() + STOP_WITHIN_SECONDS
    while _processes_mentioning(str(data_dir)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _processes_mentioning(str(data_dir)) == []
    assert data_dir.exists()  # nobody was left to delete it...

    with running(Options(quick=True), postgres=True, opensearch=False):
        assert not data_dir.exists()  # ...until the next run found its owner gone
