"""How many 100-item pages per second the simulator serves on loopback.

    python -m benchmarks.simulator_throughput [--seconds 10] [--connections 8] [--scale large]

The simulator runs as ``pdsearch simulate`` in its own process (uvicorn, one worker), so the load
generator never shares its interpreter. The load generator is a few asyncio keep-alive HTTP/1.1
connections written by hand: it costs far less per request than a full HTTP client, so what is
measured is the simulator. Requests cycle through 100-item pages of users (with teams), layered
schedules and escalation policies (with targets, teams and services), as a sync asks for them.
The target (issue 2) is at least 500 responses per second on a 2-core machine.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

TARGET_PER_SECOND = 500


def _paths(users: int, schedules: int, policies: int) -> list[str]:
    paths = []
    for offset in range(0, min(users, 9_900), 100):
        paths.append(f"/users?limit=100&offset={offset}&include[]=teams")
    for offset in range(0, schedules, 100):
        paths.append(f"/schedules?limit=100&offset={offset}&include[]=schedule_layers")
    for offset in range(0, policies, 100):
        paths.append(
            f"/escalation_policies?limit=100&offset={offset}"
            "&include[]=targets&include[]=teams&include[]=services"
        )
    return paths


async def _connection(
    host: str,
    port: int,
    key: str,
    paths: Iterator[str],
    deadline: float,
    counts: dict[str, int],
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while time.perf_counter() < deadline:
            path = next(paths, None)
            if path is None:
                return
            writer.write(
                f"GET {path} HTTP/1.1\r\nHost: {host}\r\n"
                f"Authorization: Token token={key}\r\n"
                "Accept: application/vnd.pagerduty+json;version=2\r\n\r\n".encode()
            )
            status_line = await reader.readline()
            length = 0
            while True:
                line = await reader.readline()
                if line in (b"\r\n", b""):
                    break
                name, _, value = line.decode().partition(":")
                if name.lower() == "content-length":
                    length = int(value)
            body = await reader.readexactly(length)
            if b" 200 " not in status_line:
                counts["errors"] += 1
                continue
            counts["responses"] += 1
            counts["bytes"] += len(body)
    finally:
        writer.close()


async def _load(
    base_url: str, key: str, paths: list[str], seconds: float, conns: int
) -> tuple[dict[str, int], float, dict[str, int]]:
    url = urlsplit(base_url)
    host, port = url.hostname or "127.0.0.1", url.port or 80
    # The cold pass: every distinct page once, as a first sync reads them (rendered on demand).
    cold = {"responses": 0, "errors": 0, "bytes": 0}
    started = time.perf_counter()
    once = iter(paths)
    await asyncio.gather(
        *(_connection(host, port, key, once, float("inf"), cold) for _ in range(conns))
    )
    cold_seconds = time.perf_counter() - started
    # The warm run: the same pages again and again, as later syncs of an unchanged account.
    counts = {"responses": 0, "errors": 0, "bytes": 0}
    cycle = itertools.cycle(paths)
    deadline = time.perf_counter() + seconds
    await asyncio.gather(
        *(_connection(host, port, key, cycle, deadline, counts) for _ in range(conns))
    )
    return counts, cold_seconds, cold


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--scale", default="large")
    args = parser.parse_args(argv)
    command = [
        sys.executable, "-m", "pdsearch", "simulate",
        "--scale", args.scale, "--rate-limit", "0", "--port", "0",
    ]  # fmt: skip
    server = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        if server.stdout is None:
            raise RuntimeError("the simulator was started without a pipe for its stdout")
        ready = json.loads(server.stdout.readline())
        from pdsearch.simulator.config import SCALES

        size = SCALES[args.scale]
        paths = _paths(size.users, size.schedules, size.policies)
        counts, cold_seconds, cold = asyncio.run(
            _load(ready["base_url"], ready["api_key"], paths, args.seconds, args.connections)
        )
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=30)
    rate = counts["responses"] / args.seconds
    result = {
        "benchmark": "simulator_throughput",
        "scale": args.scale,
        "connections": args.connections,
        "seconds": args.seconds,
        "responses": counts["responses"],
        "errors": counts["errors"],
        "responses_per_second": round(rate, 1),
        "cold_pages": cold["responses"],
        "cold_responses_per_second": round(cold["responses"] / cold_seconds, 1),
        "mean_page_kib": round(counts["bytes"] / max(1, counts["responses"]) / 1024, 1),
        "target_per_second": TARGET_PER_SECOND,
        "ok": rate >= TARGET_PER_SECOND and counts["errors"] + cold["errors"] == 0,
    }
    print(json.dumps(result))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
