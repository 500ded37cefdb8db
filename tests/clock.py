"""One test clock for everything that reads the time: the PagerDuty client
(``pdsearch.pagerduty.timing.Clock``: ``time``, ``monotonic``, ``sleep``), the simulator (a
callable giving seconds since the epoch: pass the clock itself) and the simulated account (a
callable giving an aware datetime: pass ``clock.now``) and the scheduler
(``pdsearch.clock.Clock``: ``now``, ``sleep``).

Time moves only when a test says: ``advance(seconds)``, a ``sleep`` (which returns at once, noted
in ``slept``), or ``tick`` seconds at every reading (so that things done one after another get
distinct times, as on a real machine).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

#: 2027-01-15 08:00 UTC: a fixed moment, so tests never depend on the day they run.
START = 1_800_000_000.0


class FakeClock:
    def __init__(
        self, start: float | datetime = START, *, tick: float = 0.0, waits: bool = False
    ) -> None:
        self.start = start.timestamp() if isinstance(start, datetime) else float(start)
        self.tick = tick
        self.elapsed = 0.0  # seconds since ``start``
        self.slept: list[float] = []
        # ``waits``: a ``sleep`` returns only once the test has advanced the clock far enough
        # (for a loop the test drives, as the scheduler's); else it lets the time pass itself.
        self.waits = waits
        self._sleepers: list[tuple[float, asyncio.Future[None]]] = []

    def _read(self) -> float:
        self.elapsed += self.tick
        return self.elapsed

    def now(self) -> datetime:
        """The current moment, aware, in UTC."""
        return datetime.fromtimestamp(self.start + self._read(), UTC)

    def time(self) -> float:
        """Seconds since the epoch."""
        return self.start + self._read()

    def monotonic(self) -> float:
        """Seconds since the clock was made (plus any advance)."""
        return self._read()

    def __call__(self) -> float:
        return self.time()

    def advance(self, seconds: float) -> None:
        """Move time on, and wake every waiting sleeper whose time has come."""
        if seconds < 0:
            raise ValueError(f"a clock does not go back ({seconds} s)")
        self.elapsed += seconds
        due = [f for wake, f in self._sleepers if wake <= self.elapsed]
        self._sleepers = [(wake, f) for wake, f in self._sleepers if wake > self.elapsed]
        for future in due:
            if not future.done():
                future.set_result(None)

    async def sleep(self, seconds: float) -> None:
        """Let ``seconds`` pass at once (noting them), and let other tasks run; with ``waits``,
        wait until the test has advanced the clock by ``seconds``."""
        self.slept.append(seconds)
        if self.waits:
            future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._sleepers.append((self.elapsed + max(0.0, seconds), future))
            await future
            return
        self.advance(max(0.0, seconds))
        await asyncio.sleep(0)

    def set(self, when: datetime) -> None:
        """Jump to ``when`` (never backwards)."""
        self.advance(max(0.0, when.timestamp() - (self.start + self.elapsed)))
