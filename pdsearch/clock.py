"""Time as the scheduler sees it: a ``Clock`` gives the current UTC time and sleeps.

``SystemClock`` is the real one. Tests pass a fake (``tests/clock.py``) that moves only when told
to, so the scheduler's behaviour is tested without real sleeps and without assertions on the
wall clock.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    """What the scheduler needs of time."""

    def now(self) -> datetime:
        """The current time, aware, in UTC."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Return after ``seconds`` (of this clock's time)."""
        ...


class SystemClock:
    """The machine's clock and asyncio's sleep."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


SYSTEM_CLOCK = SystemClock()
