"""Rendered answers kept until the account changes, so repeated reads cost a lookup.

A sync reads every page once per run; a second run over an unchanged account asks for exactly the
same pages again. Rendering a 100-item page of escalation policies with their targets is a few
hundred kilobytes of JSON, so caching the bytes is what keeps the simulator from being the
bottleneck. The key holds the account's version (bumped by every write method), so a write
through the API or through ``Account`` makes every cached page stale at once. Code that changes
the account's dicts directly must call ``Simulator.clear_cache()``.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable

DEFAULT_MAX_BYTES = 128 * 1024 * 1024

# Answers that depend only on the account and the query string. Left out: /users/me (depends on
# the caller), /schedules/{id} (rendered for a window that defaults to "now"), /audit/records
# (its default window moves with the clock) and the abilities (cheap).
CACHEABLE = frozenset(
    {
        "/users",
        "/users/{id}",
        "/teams",
        "/teams/{id}",
        "/teams/{id}/members",
        "/schedules",
        "/escalation_policies",
        "/escalation_policies/{id}",
        "/v3/schedules",
        "/v3/schedules/{id}",
    }
)


class PageCache:
    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[Hashable, bytes] = OrderedDict()
        self._bytes = 0
        self.hits = 0

    def get(self, key: Hashable) -> bytes | None:
        body = self._entries.get(key)
        if body is None:
            return None
        self._entries.move_to_end(key)
        self.hits += 1
        return body

    def put(self, key: Hashable, body: bytes) -> None:
        if len(body) > self.max_bytes:
            return
        old = self._entries.pop(key, None)
        if old is not None:
            self._bytes -= len(old)
        self._entries[key] = body
        self._bytes += len(body)
        while self._bytes > self.max_bytes:
            _, evicted = self._entries.popitem(last=False)
            self._bytes -= len(evicted)

    def clear(self) -> None:
        self._entries.clear()
        self._bytes = 0
