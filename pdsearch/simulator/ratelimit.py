"""Per-token request budgets per minute, with PagerDuty's ``ratelimit-*`` headers (FACTS §3).

Each bucket (a key, a user, an app for an account) gets a fixed one-minute window starting at its
first request. The clock is injected so tests can move time instead of sleeping a minute.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

WINDOW_SECONDS = 60.0


@dataclass
class _Window:
    start: float
    used: int


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    reset: int  # whole seconds until the window ends

    def headers(self) -> dict[str, str]:
        return {
            "ratelimit-limit": str(self.limit),
            "ratelimit-remaining": str(self.remaining),
            "ratelimit-reset": str(self.reset),
        }


class RateLimiter:
    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self._windows: dict[str, _Window] = {}

    def check(self, bucket: str, budget: int) -> Decision:
        """Count a request against ``bucket``; ``budget`` is read per call so it can change live."""
        now = self.clock()
        window = self._windows.get(bucket)
        if window is None or now - window.start >= WINDOW_SECONDS:
            window = _Window(start=now, used=0)
            self._windows[bucket] = window
        reset = max(1, math.ceil(window.start + WINDOW_SECONDS - now))
        if window.used >= budget:
            return Decision(allowed=False, limit=budget, remaining=0, reset=reset)
        window.used += 1
        return Decision(allowed=True, limit=budget, remaining=budget - window.used, reset=reset)

    def reset(self) -> None:
        self._windows.clear()
