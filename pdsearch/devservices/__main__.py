"""``./run services``: start PostgreSQL and OpenSearch on loopback, print one JSON line
``{"database_url": ..., "index_url": ...}`` when both are ready, and stay until Ctrl-C or
SIGTERM, then stop both. Progress and errors go to stderr; exit 1 when a server fails."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from pdsearch.devservices.install import default_cache_dir
from pdsearch.devservices.opensearch import DEFAULT_HEAP
from pdsearch.devservices.process import ServicesError, say
from pdsearch.devservices.runner import DEFAULT_TIMEOUT_SECONDS, Options, install, running

_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class _Stopped(Exception):
    """A stop signal arrived while the servers were still starting."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="./run services",
        description="PostgreSQL and OpenSearch on 127.0.0.1 for development and tests.",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        help="keep the servers' data here (reused next time) instead of a fresh temporary folder",
    )
    parser.add_argument("--postgres-port", type=int, help="default: a free port")
    parser.add_argument("--opensearch-port", type=int, help="default: a free port")
    parser.add_argument(
        "--opensearch-heap", default=DEFAULT_HEAP, help=f"JVM heap (default {DEFAULT_HEAP})"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="start OpenSearch on a third of the CPU time, with a lighter JIT that then runs "
        "slower (tests; not for benchmarks)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT_SECONDS,
        help="seconds each server may take to become ready",
    )
    parser.add_argument(
        "--install-only", action="store_true", help="install what is missing, start nothing"
    )
    parser.add_argument(
        "--cache", type=Path, default=None, help=f"install folder (default {default_cache_dir()})"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    options = Options(
        cache=args.cache or default_cache_dir(),
        data_dir=args.data_dir,
        postgres_port=args.postgres_port,
        opensearch_port=args.opensearch_port,
        opensearch_heap=args.opensearch_heap,
        quick=args.quick,
        timeout=args.timeout,
    )
    stop = threading.Event()
    ready = False

    def on_signal(signum: int, frame: FrameType | None) -> None:
        first = not stop.is_set()
        stop.set()
        if first and not ready:
            raise _Stopped  # unwinds through running(), which stops what already started

    for sig in _STOP_SIGNALS:
        signal.signal(sig, on_signal)
    try:
        if args.install_only:
            install(options)
            return 0
        with running(options) as services:
            ready = True
            print(services.as_json(), flush=True)
            while not stop.wait(0.5):
                services.check()
            say("stopping")
    except _Stopped:
        say("stopped before the servers were ready")
    except ServicesError as exc:
        say(f"error: {exc}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
