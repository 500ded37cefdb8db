"""Child processes for tests: started with the signal handling a person's terminal gives them,
whatever the test command itself inherited, and always ended.

A script's background job (``./run test &`` in a script, a CI runner) starts with SIGINT
ignored, and every process it starts inherits that; a ``pdsearch`` child then rightly keeps
ignoring Ctrl-C. Tests that send SIGINT to what they start reset it in the child first.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
from collections.abc import Iterator, Sequence
from typing import Any


def default_sigint() -> None:
    """``preexec_fn``: SIGINT back to its default in the child, as in a terminal."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def ignore_sigint() -> None:
    """``preexec_fn``: SIGINT ignored in the child, as a script's background job starts."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def pdsearch_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "pdsearch", *args]


def start(
    command: Sequence[str], *, sigint: str = "default", **options: Any
) -> subprocess.Popen[Any]:
    """``subprocess.Popen`` with SIGINT at its default in the child (``sigint="ignored"``: as
    a background job of a script starts)."""
    reset = default_sigint if sigint == "default" else ignore_sigint
    return subprocess.Popen(list(command), preexec_fn=reset, **options)


def end(proc: subprocess.Popen[Any], timeout: float = 10.0) -> None:
    """Make sure ``proc`` is gone: SIGTERM, then SIGKILL if it lingers; reaped either way."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    for stream in (proc.stdin, proc.stdout, proc.stderr):
        if stream is not None:
            with contextlib.suppress(OSError):
                stream.close()


@contextlib.contextmanager
def running(
    command: Sequence[str], *, sigint: str = "default", **options: Any
) -> Iterator[subprocess.Popen[Any]]:
    """``start(command)``, ended on leaving even when the test fails."""
    proc = start(command, sigint=sigint, **options)
    try:
        yield proc
    finally:
        end(proc)
