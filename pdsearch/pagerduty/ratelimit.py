"""One request budget per credential, shared by every concurrent request that spends it.

PagerDuty counts requests per key (or per user, or per app and user) in a window and reports what
is left on every answer: ``ratelimit-remaining`` requests until the window resets in
``ratelimit-reset`` seconds (FACTS §3). The limiter remembers the latest report, counts the requests
still in flight against it, and holds new requests back once only ``reserve`` would remain, until
the window resets. That keeps a few requests spare for anything else using the same credential
(a connection check while a sync runs) and, in practice, avoids 429s altogether.

A 429 pauses *every* request on the credential: for ``ratelimit-reset`` seconds when PagerDuty says,
otherwise with exponential backoff and jitter, growing while 429s keep coming.

Clients made for the same credential and API host share one limiter (``limiter_for``) for as long
as any of them is alive, so two clients cannot spend one budget twice over.
"""

from __future__ import annotations

import logging
import random
import weakref
from collections.abc import Mapping

from pdsearch.pagerduty.timing import Clock, RetryPolicy

log = logging.getLogger("pdsearch.pagerduty")

DEFAULT_RESERVE = 5


def _header_number(headers: Mapping[str, str], name: str) -> float | None:
    raw = headers.get(name)
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        return None
    return value if value >= 0 else None


class RateLimiter:
    """The shared budget of one credential; see the module docstring."""

    def __init__(self, clock: Clock, *, reserve: int = DEFAULT_RESERVE) -> None:
        self.clock = clock
        self.reserve = reserve
        self._remaining: float | None = None
        self._reset_at: float | None = None  # monotonic time the current window ends
        self._paused_until = 0.0
        self._in_flight = 0
        self._consecutive_429 = 0
        # What happened, for logs, job records and tests.
        self.throttled = 0  # times a request was held back to keep the reserve
        self.rate_limited = 0  # 429 answers seen
        self.waited = 0.0  # seconds spent waiting, by all requests together

    def _wait_needed(self) -> float:
        now = self.clock.monotonic()
        if self._paused_until > now:
            return self._paused_until - now
        if self._remaining is None or self._reset_at is None:
            return 0.0
        if now >= self._reset_at:
            # The window PagerDuty told us about is over; the next answer says how the new one goes.
            self._remaining = None
            self._reset_at = None
            return 0.0
        if self._remaining - self._in_flight <= self.reserve:
            return self._reset_at - now
        return 0.0

    async def acquire(self) -> None:
        """Wait until a request may be sent, then count it as in flight."""
        while True:
            wait = self._wait_needed()
            if wait <= 0:
                self._in_flight += 1
                return
            self.throttled += 1
            self.waited += wait
            log.info("rate limit: waiting %.1f s before the next PagerDuty request", wait)
            await self.clock.sleep(wait)

    def release(self, headers: Mapping[str, str] | None, *, rate_limited: bool = False) -> None:
        """The request is answered (or failed); learn from its ``ratelimit-*`` headers."""
        self._in_flight = max(0, self._in_flight - 1)
        if headers is None:
            return
        remaining = _header_number(headers, "ratelimit-remaining")
        reset = _header_number(headers, "ratelimit-reset")
        if remaining is None or reset is None:
            return
        reset_at = self.clock.monotonic() + reset
        if self._reset_at is None or self._remaining is None or reset_at > self._reset_at + 1:
            # A new window, or the first report.
            self._remaining, self._reset_at = remaining, reset_at
        else:
            # Answers overtake each other; the lowest count in one window is the truest.
            self._remaining = min(self._remaining, remaining)
            self._reset_at = max(self._reset_at, reset_at)
        if not rate_limited:
            self._consecutive_429 = 0

    def on_429(
        self, headers: Mapping[str, str], policy: RetryPolicy, rng: random.Random
    ) -> float:
        """Pause every request on this credential after a 429; returns the pause in seconds."""
        self.rate_limited += 1
        self._consecutive_429 += 1
        reset = _header_number(headers, "ratelimit-reset")
        if reset is not None:
            # A little jitter so that many waiting requests don't all return at the same instant.
            pause = reset + rng.uniform(0, min(1.0, 0.1 * reset + 0.1))
            self._remaining = 0
            self._reset_at = self.clock.monotonic() + reset
        else:
            pause = policy.rate_limit_backoff(self._consecutive_429, rng)
        self._paused_until = max(self._paused_until, self.clock.monotonic() + pause)
        return pause

    def on_success(self) -> None:
        self._consecutive_429 = 0


_shared: weakref.WeakValueDictionary[tuple[str, str], RateLimiter] = (
    weakref.WeakValueDictionary()
)


def limiter_for(
    key: str, api_base: str, clock: Clock, *, reserve: int = DEFAULT_RESERVE
) -> RateLimiter:
    """The limiter of credential ``key`` (a fingerprint, never the secret) on ``api_base``."""
    limiter = _shared.get((key, api_base))
    if limiter is None or limiter.clock is not clock:
        limiter = RateLimiter(clock, reserve=reserve)
        _shared[(key, api_base)] = limiter
    return limiter
