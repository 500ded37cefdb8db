"""What users run today, against the same simulated account: PagerDuty's own Python client.

Two ways scripts and tools read an account with the ``pagerduty`` package (python-pagerduty):

- ``list_serially``: ``iter_all`` on each collection, one after another, with the same
  ``include[]`` as pdsearch asks for, then a GET of each shift-based (v3) schedule, whose list
  holds references only. ``iter_all`` stops before offset + limit would pass 10,000 and only
  warns (FACTS §7): the warnings are recorded, and the harness compares what arrived with the
  truth.
- ``fetch_by_id``: what per-object hydrating tools do: list the ids of each collection, then GET
  every object by id, with ``threads`` worker threads (the same concurrency as pdsearch's
  client, so the comparison is of the method, not of the parallelism).

The client accepts only ``https://`` base URLs; a transport rewrites each request to the
simulator's plain-http loopback port, so the client's paging and retries run unchanged.
"""

from __future__ import annotations

import threading
import time
import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx2
import pagerduty

#: (collection, path, include[]) as pdsearch reads them (pdsearch/pagerduty/client.py).
COLLECTIONS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("teams", "teams", ()),
    ("users", "users", ("teams",)),
    ("escalation_policies", "escalation_policies", ("teams", "services", "targets")),
    ("schedules", "schedules", ("schedule_layers",)),
    ("schedules_v3", "v3/schedules", ()),
)


class CountingLoopback(httpx2.BaseTransport):
    """Routes an https client to the loopback simulator and counts what it sends."""

    def __init__(self, base_url: str) -> None:
        self.target = httpx2.URL(base_url)
        self.inner = httpx2.HTTPTransport()
        self.requests = 0
        self.statuses: dict[int, int] = {}
        self._lock = threading.Lock()

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        request.url = request.url.copy_with(
            scheme="http", host=self.target.host, port=self.target.port
        )
        response = self.inner.handle_request(request)
        with self._lock:
            self.requests += 1
            self.statuses[response.status_code] = self.statuses.get(response.status_code, 0) + 1
        return response

    def close(self) -> None:
        self.inner.close()


def _client(api_key: str, transport: CountingLoopback) -> Any:
    return pagerduty.RestApiV2Client(
        api_key, base_url="https://api.pagerduty.com", transport=transport
    )


def _iter_listing(client: Any, path: str, includes: tuple[str, ...]) -> Iterator[dict[str, Any]]:
    params = {"include[]": list(includes)} if includes else None
    yield from client.iter_all(path, params=params)


def list_serially(base_url: str, api_key: str) -> dict[str, Any]:
    """``iter_all`` on every collection in turn, then each v3 schedule's detail."""
    transport = CountingLoopback(base_url)
    client = _client(api_key, transport)
    counts: dict[str, int] = {}
    caught: list[str] = []
    started = time.perf_counter()
    try:
        with warnings.catch_warnings(record=True) as recorded:
            warnings.simplefilter("always")
            v3_ids: list[str] = []
            for name, path, includes in COLLECTIONS:
                ids = {item["id"] for item in _iter_listing(client, path, includes)}
                counts[name] = len(ids)
                if name == "schedules_v3":
                    v3_ids = sorted(ids)
            details = 0
            for schedule_id in v3_ids:
                client.rget(f"v3/schedules/{schedule_id}")
                details += 1
            counts["schedules_v3_details"] = details
            caught = [str(w.message) for w in recorded]
    finally:
        client.close()
    return {
        "wall_seconds": time.perf_counter() - started,
        "requests": transport.requests,
        "statuses": {str(k): v for k, v in transport.statuses.items()},
        "counts": counts,
        "warnings": caught,
    }


# What to GET for one object of each collection (hydrating tools ask for the same includes).
_DETAIL: dict[str, tuple[str, dict[str, Any] | None]] = {
    "teams": ("teams/{id}", None),
    "users": ("users/{id}", {"include[]": ["teams"]}),
    "escalation_policies": (
        "escalation_policies/{id}",
        {"include[]": ["teams", "services", "targets"]},
    ),
    "schedules": ("schedules/{id}", None),
    "schedules_v3": ("v3/schedules/{id}", None),
}


def fetch_by_id(base_url: str, api_key: str, *, threads: int = 4) -> dict[str, Any]:
    """List every collection's ids, then GET each object by id with ``threads`` threads."""
    transport = CountingLoopback(base_url)
    local = threading.local()
    clients: list[Any] = []
    clients_lock = threading.Lock()

    def client() -> Any:
        # One client per thread: the pagerduty client is not documented as thread-safe.
        found = getattr(local, "client", None)
        if found is None:
            found = _client(api_key, transport)
            local.client = found
            with clients_lock:
                clients.append(found)
        return found

    def get_one(job: tuple[str, str]) -> bool:
        name, object_id = job
        template, params = _DETAIL[name]
        body = client().rget(template.format(id=object_id), params=params)
        return isinstance(body, dict) and body.get("id") == object_id

    started = time.perf_counter()
    counts: dict[str, int] = {}
    fetched = 0
    caught: list[str] = []
    try:
        with warnings.catch_warnings(record=True) as recorded:
            warnings.simplefilter("always")
            jobs: list[tuple[str, str]] = []
            for name, path, _ in COLLECTIONS:
                ids = sorted({item["id"] for item in _iter_listing(client(), path, ())})
                counts[name] = len(ids)
                jobs.extend((name, i) for i in ids)
            with ThreadPoolExecutor(max_workers=threads) as pool:
                fetched = sum(pool.map(get_one, jobs))
            caught = [str(w.message) for w in recorded]
    finally:
        for each in clients:
            each.close()
    return {
        "wall_seconds": time.perf_counter() - started,
        "requests": transport.requests,
        "statuses": {str(k): v for k, v in transport.statuses.items()},
        "counts": counts,
        "fetched": fetched,
        "threads": threads,
        "warnings": caught,
    }
