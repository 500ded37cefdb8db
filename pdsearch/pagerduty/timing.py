"""Time and patience: the clock the client reads and sleeps on, and the bounds on retrying.

The clock is injected (``PagerDutyClient(clock=...)``) so tests can let hours of backoff and
rate-limit waits pass in no time; production uses ``SystemClock``.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass
from typing import Protocol


class Clock(Protocol):
    def time(self) -> float:
        """Wall-clock seconds since the epoch (token expiry)."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back (waits, deadlines)."""
        ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def time(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


@dataclass(frozen=True)
class RetryPolicy:
    """How hard one request tries before its error reaches the caller.

    Retryable failures (5xx, 408, timeouts, broken connections, a body cut short into invalid
    JSON) back off exponentially with jitter (half the ceiling fixed, half random), up to
    ``max_attempts`` tries and ``max_elapsed`` seconds in all. A 429 waits as PagerDuty says
    (``ratelimit-reset``) or backs off the same way when it says nothing, for at most
    ``max_rate_limit_wait`` seconds in all per request.
    """

    max_attempts: int = 6
    max_elapsed: float = 300.0
    base_delay: float = 0.5
    max_delay: float = 30.0
    max_rate_limit_wait: float = 600.0
    rate_limit_base_delay: float = 2.0
    rate_limit_max_delay: float = 60.0

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """Delay before retry number ``attempt`` (1 = the first retry)."""
        ceiling = min(self.max_delay, self.base_delay * 2.0 ** (attempt - 1))
        return ceiling / 2 + rng.uniform(0, ceiling / 2)

    def rate_limit_backoff(self, attempt: int, rng: random.Random) -> float:
        """Delay after the ``attempt``-th 429 that carried no ``ratelimit-reset`` header."""
        ceiling = min(
            self.rate_limit_max_delay, self.rate_limit_base_delay * 2.0 ** (attempt - 1)
        )
        return ceiling / 2 + rng.uniform(0, ceiling / 2)


# Stateless, so one is enough; sharing it lets clients on one credential share a rate limiter.
SYSTEM_CLOCK = SystemClock()
