"""Running a sync's parts side by side, and its CPU and disk work off the event loop."""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from pdsearch.sync.progress import JobControl, SyncCanceled
from pdsearch.sync.source import FullSyncNeeded, SourceError

R = TypeVar("R")


async def in_thread(job: JobControl, func: Callable[..., R], *args: Any) -> R:
    """``func(*args)`` in a worker thread, never outliving the task that awaits it.

    A thread cannot be interrupted: when the task is canceled, the job's cancel event makes the
    thread stop at its next check (between batches, before the sweep), and the task waits for
    it, so no write of this sync lands after its job was recorded as ended.
    """
    future = asyncio.get_running_loop().run_in_executor(None, functools.partial(func, *args))
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        job.cancel.set()
        with contextlib.suppress(BaseException):
            await future
        raise


async def all_or_first_error(*jobs: Coroutine[Any, Any, None]) -> None:
    """Run ``jobs`` concurrently; the first failure stops the rest and is raised as itself (a
    cancel before a source failure, so a cancel never reads as a failure; a full sync needed
    before a failure, as that full sync may well succeed)."""
    try:
        async with asyncio.TaskGroup() as group:
            for coro in jobs:
                group.create_task(coro)
    except BaseExceptionGroup as group_error:
        for kind in (SyncCanceled, FullSyncNeeded, SourceError):
            for exc in _leaves(group_error):
                if isinstance(exc, kind):
                    raise exc from exc.__cause__  # the source's error behind it
        raise


def _leaves(group: BaseExceptionGroup[BaseException]) -> list[BaseException]:
    out: list[BaseException] = []
    for exc in group.exceptions:
        out.extend(_leaves(exc) if isinstance(exc, BaseExceptionGroup) else [exc])
    return out
