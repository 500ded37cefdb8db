"""Stopping on signals, the same way in every long-running command (``sync``, ``simulate``,
``serve``, ``demo``).

- SIGTERM (what a service manager, ``kill`` or a test sends) always stops the command cleanly.
- SIGINT (Ctrl-C) does too, unless this process was started with SIGINT ignored: a POSIX shell
  starts the background jobs of a script that way, and such a process keeps ignoring it (that
  is what lets a script's Ctrl-C reach only its foreground job). Once a handler of ours is
  installed the ignored state would be lost, so it is read before installing anything.

"Cleanly" is each command's business: a handler here only records which signal came and asks
the command to stop (cancel the main task, tell uvicorn to exit); nothing is raised from inside
a signal handler, where it could land in any bytecode (a ``finally``, a weakref callback) and
leave work half done.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
from collections.abc import Callable, Coroutine, Generator, Iterator
from types import FrameType
from typing import Any, TypeVar

import uvicorn

T = TypeVar("T")


def stop_signals() -> tuple[signal.Signals, ...]:
    """The signals that stop this process: SIGTERM, and SIGINT unless it is ignored."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        return (signal.SIGTERM,)
    return (signal.SIGTERM, signal.SIGINT)


@contextlib.contextmanager
def on_stop_signals(handler: Callable[[int], None]) -> Iterator[None]:
    """Call ``handler(signum)`` on every stop signal while inside; the previous handlers are put
    back on leaving. Only the main thread can install handlers: elsewhere this does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def call(signum: int, frame: FrameType | None) -> None:
        handler(signum)

    previous = {sig: signal.signal(sig, call) for sig in stop_signals()}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


class Stopped(Exception):
    """A stop signal ended the work before it could finish on its own terms."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"stopped by {signal.Signals(signum).name}")
        self.signum = signum


class StopSignals:
    """Runs a coroutine where a stop signal cancels it, and remembers which signal came.

    The coroutine decides what a cancel means: a sync records its job as canceled and returns
    it. ``received`` is the first stop signal (None when none came); ``exit_code`` is what a
    shell reports for a process ended by it (130 for SIGINT, 143 for SIGTERM).
    """

    def __init__(self) -> None:
        self.received: int | None = None
        self._task: asyncio.Task[Any] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def exit_code(self) -> int | None:
        return None if self.received is None else 128 + self.received

    def _on_signal(self, signum: int) -> None:
        if self.received is None:
            self.received = signum
        if self._loop is not None and self._task is not None:
            # Thread-safe, and it wakes the loop out of its select().
            self._loop.call_soon_threadsafe(self._task.cancel)

    def run(self, main: Coroutine[Any, Any, T]) -> T:
        """``asyncio.run(main)`` under the stop signals. Raises ``Stopped`` when a signal came
        before ``main`` started, or when ``main`` ended by the cancel it caused."""

        async def guarded() -> T:
            self._loop = asyncio.get_running_loop()
            self._task = asyncio.current_task()
            if self.received is not None:
                main.close()
                raise Stopped(self.received)
            return await main

        with on_stop_signals(self._on_signal):
            try:
                return asyncio.run(guarded())
            except asyncio.CancelledError:
                if self.received is not None:
                    raise Stopped(self.received) from None
                raise
            finally:
                self._task = self._loop = None


class StoppableServer(uvicorn.Server):
    """uvicorn's server, stopped by ``stop_signals()`` only.

    uvicorn's own handling installs handlers for SIGINT even when the process was started with
    it ignored, and after a graceful shutdown raises the signal again, which kills the process
    by SIGTERM instead of letting it exit 0. Here the first stop signal shuts down gracefully
    (running syncs recorded as canceled by the app's lifespan), a second one forces it, and the
    caller returns normally.

    ``handle_signals=False`` leaves signals to the caller (``pdsearch demo`` has its own
    handlers and calls ``should_exit`` itself).
    """

    def __init__(self, config: uvicorn.Config, *, handle_signals: bool = True) -> None:
        super().__init__(config)
        self._handle_signals = handle_signals

    def request_stop(self, signum: int | None = None) -> None:
        if self.should_exit:
            self.force_exit = True
        self.should_exit = True

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        if not self._handle_signals:
            yield
            return
        with on_stop_signals(self.request_stop):
            yield
