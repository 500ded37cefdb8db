"""A server as a child process: as its own user when we are root, logged to a file, stopped with
its own shutdown signal, and never outliving the process that started it."""

from __future__ import annotations

import contextlib
import ctypes
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

STOP_TIMEOUT_SECONDS = 30.0
LOG_TAIL_LINES = 25
_PR_SET_PDEATHSIG = 1


class ServicesError(RuntimeError):
    """A development server could not be installed, started or stopped; the message says why."""


def running_as_root() -> bool:
    return os.geteuid() == 0


def say(message: str) -> None:
    """Progress goes to stderr: stdout carries only the one JSON line."""
    print(f"services: {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    """A port free on 127.0.0.1 now (the kernel's pick, so two runs side by side differ)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class RunAs:
    """The OS user a server runs as: ``None`` is whoever runs us (a developer), a name is a
    system user of its own (we are root, and neither server agrees to run as root)."""

    def __init__(self, user: str | None) -> None:
        self.user = user

    def give(self, path: Path, mode: int = 0o700) -> None:
        """Make ``path`` the server's own (PostgreSQL insists on 0700 for its data)."""
        path.chmod(mode)
        if self.user is not None:
            entry = pwd.getpwnam(self.user)
            os.chown(path, entry.pw_uid, entry.pw_gid)

    def ids(self) -> tuple[int | None, int | None, list[int] | None]:
        """``user``, ``group`` and ``extra_groups`` for subprocess (all None: stay who we are)."""
        if self.user is None:
            return None, None, None
        entry = pwd.getpwnam(self.user)
        return entry.pw_uid, entry.pw_gid, []

    def run(self, argv: Sequence[str], *, log: Path, cwd: Path) -> None:
        """Run a set-up command to its end; on failure raise with the tail of its output."""
        uid, gid, groups = self.ids()
        with log.open("ab") as out:
            done = subprocess.run(  # noqa: S603 - argv is built here, never from input
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=cwd,
                check=False,
                user=uid,
                group=gid,
                extra_groups=groups,
            )
        if done.returncode != 0:
            raise ServicesError(
                f"{Path(argv[0]).name} failed (exit {done.returncode}):\n{tail(log)}"
            )


def tail(log: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = log.read_text(errors="replace")
    except OSError:
        return f"(no log at {log})"
    return "\n".join(text.splitlines()[-lines:])


def _die_with_parent(sig: signal.Signals) -> Callable[[], None]:
    """Ask Linux to send ``sig`` to the child when we die, even by SIGKILL, so a killed test
    run leaves no server behind. Runs in the child after its user switch (which would clear it)."""
    libc = ctypes.CDLL(None, use_errno=True)

    def arm() -> None:
        libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)

    return arm


class ServerProcess:
    """One long-running server. ``stop_signal`` is its clean, quick shutdown (SIGINT is
    PostgreSQL's "fast" mode; SIGTERM is the JVM's shutdown hook)."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        log: Path,
        run_as: RunAs,
        cwd: Path,
        env: Mapping[str, str],
        stop_signal: signal.Signals,
    ) -> None:
        self.name = name
        self.log = log
        self.stop_signal = stop_signal
        self._popen: subprocess.Popen[bytes]
        uid, gid, groups = run_as.ids()
        with log.open("ab") as out:
            self._popen = subprocess.Popen(  # noqa: S603 - argv is built here
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=cwd,
                env=dict(env),
                # Its own session: a Ctrl-C in the terminal reaches us, and we stop it in order.
                start_new_session=True,
                preexec_fn=_die_with_parent(stop_signal) if sys.platform == "linux" else None,
                user=uid,
                group=gid,
                extra_groups=groups,
            )

    @property
    def pid(self) -> int:
        return self._popen.pid

    def alive(self) -> bool:
        return self._popen.poll() is None

    @property
    def returncode(self) -> int | None:
        return self._popen.poll()

    def failure(self, what: str) -> ServicesError:
        return ServicesError(f"{self.name} {what}; its log ends with:\n{tail(self.log)}")

    def signal_stop(self) -> None:
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                self._popen.send_signal(self.stop_signal)

    def wait_stopped(self, timeout: float = STOP_TIMEOUT_SECONDS) -> None:
        """Wait for the clean stop; past ``timeout`` kill the server's whole process group
        (PostgreSQL's backends are its children there)."""
        try:
            self._popen.wait(timeout)
            return
        except subprocess.TimeoutExpired:
            say(f"{self.name} did not stop within {timeout:.0f} s; killing it")
        # Still unreaped, so its group id cannot have passed to another process yet.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._popen.pid, signal.SIGKILL)
        self._popen.wait()

    def stop(self, timeout: float = STOP_TIMEOUT_SECONDS) -> None:
        self.signal_stop()
        self.wait_stopped(timeout)


def wait_until(
    ready: Callable[[], bool], *, server: ServerProcess, timeout: float, what: str
) -> None:
    """Poll ``ready`` until true; fail at once if the server died, or after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        if not server.alive():
            raise server.failure(f"exited (code {server.returncode}) before {what}")
        if ready():
            return
        if time.monotonic() > deadline:
            raise server.failure(f"was not {what} after {timeout:.0f} s")
        time.sleep(0.1)


def remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
