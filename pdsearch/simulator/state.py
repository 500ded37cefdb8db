"""The live simulator: the account, the configuration and everything the HTTP side keeps.

Tests reach it as ``app.state.simulator``. They may change ``config.fault_rate``,
``config.rate_limit`` and ``config.latency_ms`` while it runs, move ``clock`` to expire tokens,
rate-limit windows and audit records without sleeping, drop an ability from ``abilities`` to get
402s, and read the request counters. ``clock`` is the one time source: the account's records are
stamped with it and the audit endpoints' "now" is it.
"""

from __future__ import annotations

import random
import secrets
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pdsearch.simulator.account import Account
from pdsearch.simulator.auth import TokenStore
from pdsearch.simulator.cache import PageCache
from pdsearch.simulator.config import SimulatorConfig
from pdsearch.simulator.constants import DEFAULT_ABILITIES
from pdsearch.simulator.faults import DEFAULT_SLOW_SECONDS
from pdsearch.simulator.ratelimit import RateLimiter
from pdsearch.simulator.schedule_render import RunCache

# Abilities PagerDuty knows of; /abilities/{id} answers 402 for these when the account lacks one,
# 404 for any other name. ``teams`` gates /teams and the ``team_ids[]`` filters, ``audit_trail``
# gates /audit/records.
KNOWN_ABILITIES = frozenset(DEFAULT_ABILITIES)


class Simulator:
    def __init__(
        self,
        account: Account,
        config: SimulatorConfig,
        *,
        abilities: set[str] | None = None,
        slow_seconds: float = DEFAULT_SLOW_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.account = account
        self.config = config
        self.clock = clock
        # Late-bound, so a test that replaces ``clock`` moves the audit records' times too.
        account.clock = self.now
        if abilities is not None:
            account.abilities = sorted(abilities)
        if not config.audit_trail and "audit_trail" in account.abilities:
            account.abilities.remove("audit_trail")
        self.slow_seconds = slow_seconds
        # Faults are drawn from their own seeded stream so a run can be repeated.
        self.fault_random = random.Random(config.seed)
        # Late-bound through a lambda so a test that replaces ``clock`` moves every deadline.
        self.tokens = TokenStore(clock=lambda: self.clock())
        self.limiter = RateLimiter(lambda: self.clock())
        self.api_key = config.api_key or "pdsim_" + secrets.token_hex(10)
        self.tokens.add_api_key(self.api_key)
        self.cache = PageCache()
        self.runs = RunCache()  # rendered final schedules for /oncalls, keyed by account version
        self.cache_version: object = None
        self.request_count = 0
        self.requests_by_path: Counter[str] = Counter()
        # The ASGI app serving this simulator, set by ``create_app``; in-process clients use
        # ``httpx.ASGITransport(app=sim.app)``.
        self.app: Any = None

    def now(self) -> datetime:
        """The simulator's clock as an aware UTC datetime."""
        return datetime.fromtimestamp(self.clock(), UTC)

    def add_api_key(self, key: str, user_id: str | None = None) -> None:
        """Accept another API key: account-level, or a user key when ``user_id`` is given."""
        self.tokens.add_api_key(key, user_id)

    def revoke_api_key(self, key: str | None = None) -> None:
        """Make an API key (the configured one by default) stop working: 401 from then on."""
        self.tokens.revoke_api_key(key or self.api_key)

    def clear_cache(self) -> None:
        """Forget rendered pages; needed only after changing the account's dicts directly."""
        self.cache.clear()
        self.runs.clear()

    def reset_counters(self) -> None:
        self.request_count = 0
        self.requests_by_path.clear()

    @property
    def abilities(self) -> list[str]:
        """The account's abilities; remove one (``sim.abilities.remove("teams")``) to get 402s."""
        return self.account.abilities
