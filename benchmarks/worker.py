"""The measured side of the sync and peer scenarios, run in a child process of the harness.

    python -m benchmarks.worker sync --base-url URL --api-key KEY --data-dir DIR [--time-scale S]
    python -m benchmarks.worker peer-list --base-url URL --api-key KEY
    python -m benchmarks.worker peer-byid --base-url URL --api-key KEY [--threads 4]

Each command prints one JSON object on stdout. A child process of its own gives every run a
clean interpreter, its own peak RSS (``ru_maxrss``) and no share of the GIL with the simulator,
which the harness serves on loopback from its own process.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import resource
import statistics
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from benchmarks import incremental_bench, peers

#: Syncs with nothing changed after the first (``--again``); the median is reported.
AGAIN_RUNS = 3


def peak_rss_bytes() -> int:
    """This process's peak resident set size (Linux reports ``ru_maxrss`` in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class ScaledClock:
    """Time running ``scale`` times faster than the wall clock, so a minute's rate-limit window
    passes in 60/scale seconds (the short form only; the simulator's clock is scaled alike)."""

    def __init__(self, scale: float) -> None:
        self.scale = scale
        self._origin = time.monotonic()

    def time(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return self._origin + (time.monotonic() - self._origin) * self.scale

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds) / self.scale)


class CountingTransport(httpx.AsyncHTTPTransport):
    """The client's ordinary transport, counting answers by status (429s and 5xx are failures)."""

    def __init__(self) -> None:
        super().__init__()
        self.statuses: Counter[int] = Counter()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await super().handle_async_request(request)
        self.statuses[response.status_code] += 1
        return response


async def run_sync(
    base_url: str, api_key: str, data_dir: Path, *, time_scale: float = 1.0,
    semantic: bool = False, again: bool = False,
) -> dict[str, Any]:
    """One full sync by pdsearch's own service, store and index, as ``pdsearch sync`` runs it
    (``again``: then ``AGAIN_RUNS`` more with nothing changed, the median reported).
    ``semantic``: with the embedding model, as the service runs by default: the job's wall
    time (documents searchable) and when the vectors that follow it are done are timed
    apart."""
    from cryptography.fernet import Fernet

    from pdsearch.index.sqlite import SqliteIndex
    from pdsearch.pagerduty.client import PagerDutyClient
    from pdsearch.store import Store
    from pdsearch.sync.connection import client_for
    from pdsearch.sync.service import SyncService

    clients: list[PagerDutyClient] = []
    transport = CountingTransport()

    def factory(connector: Any, connectors: Any, **options: Any) -> PagerDutyClient:
        # The service's own factory; kept to read the client's rate-limit record afterwards.
        if time_scale != 1.0:
            options["clock"] = ScaledClock(time_scale)
        options["transport"] = transport
        client = client_for(connector, connectors, **options)
        clients.append(client)
        return client

    store = Store(data_dir / "state.db", Fernet.generate_key())
    index = SqliteIndex(data_dir / "index.db")
    try:
        connector = store.connectors.create(
            "bench", "api_key", "us", {"api_key": api_key}, base_url=base_url
        )
        embedder = None
        if semantic:
            from pdsearch.semantic import Embedder

            embedder = Embedder.load()
        service = SyncService(store, index, client_factory=factory, embedder=embedder)
        started = time.perf_counter()
        job = await service.run(connector.id, mode="full", wait_for_vectors=False)
        wall = time.perf_counter() - started
        settled = await service.vectors.settle(connector.id)
        vectors_wall = time.perf_counter() - started
        vectors = (settled.progress.get("vectors") if settled is not None else None) or {}
        second: dict[str, Any] = {}
        if again:
            # Nothing-changed syncs last a few seconds, mostly waiting on the simulated
            # latency: the median of a few keeps one slow moment from deciding a ratio.
            walls, embedded, requests = [], 0, 0
            for _ in range(AGAIN_RUNS):
                started = time.perf_counter()
                repeat = await service.run(connector.id, mode="full", wait_for_vectors=False)
                walls.append(time.perf_counter() - started)
                requests += repeat.requests
                settled_again = await service.vectors.settle(connector.id)
                if settled_again is not None:
                    embedded += (settled_again.progress.get("vectors") or {}).get("done", 0)
            second["second_wall_seconds"] = statistics.median(walls)
            second["second_walls"] = walls
            second.update(
                second_status=repeat.status,
                second_requests=repeat.requests,
                second_requests_total=requests,
                second_unchanged=repeat.counts.get("unchanged", 0),
                second_embedded=embedded,
            )
        limiter = clients[-1].rate_limiter if clients else None
        return {
            "status": job.status,
            "error": job.error,
            "counts": job.counts,
            "requests": job.requests,
            "wall_seconds": wall,
            "semantic": semantic,
            "vectors": vectors,
            "vectors_wall_seconds": vectors_wall,
            "vector_count": getattr(index, "vector_count", lambda _: 0)(connector.id),
            **second,
            "documents": index.count(connector.id),
            "max_concurrency": clients[-1].max_concurrency if clients else None,
            "statuses": {str(k): v for k, v in sorted(transport.statuses.items())},
            # 429, 408 and 5xx; a 400 is the /users/me probe telling an account-level key.
            "failed_requests": sum(
                v for k, v in transport.statuses.items() if k in (408, 429) or k >= 500
            ),
            "rate_limited": limiter.rate_limited if limiter else 0,
            "throttled": limiter.throttled if limiter else 0,
            "peak_rss_bytes": peak_rss_bytes(),
        }
    finally:
        index.close()
        store.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.worker")
    parser.add_argument("command", choices=("sync", "incremental", "peer-list", "peer-byid"))
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--data-dir", type=Path)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--time-scale", type=float, default=1.0)
    parser.add_argument("--changes", type=int, default=10)
    parser.add_argument("--semantic", action="store_true")
    parser.add_argument("--again", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    result: dict[str, Any]
    if args.command == "sync":
        if args.data_dir is None:
            parser.error("sync needs --data-dir")
        result = asyncio.run(
            run_sync(args.base_url, args.api_key, args.data_dir, time_scale=args.time_scale,
                     semantic=args.semantic, again=args.again)
        )
    elif args.command == "incremental":
        if args.data_dir is None:
            parser.error("incremental needs --data-dir")
        result = asyncio.run(
            incremental_bench.measure(args.base_url, args.api_key, args.data_dir, args.changes)
        )
    elif args.command == "peer-list":
        result = peers.list_serially(args.base_url, args.api_key)
    else:
        result = peers.fetch_by_id(args.base_url, args.api_key, threads=args.threads)
    result["peak_rss_bytes"] = peak_rss_bytes()
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
