"""Both servers together: install once, start side by side, stop both whatever happens."""

from __future__ import annotations

import contextlib
import json
import os
import stat
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from pdsearch.devservices.install import (
    OPENSEARCH_USER,
    POSTGRES_USER,
    default_cache_dir,
    ensure_packages,
    install_opensearch,
    require_java_home,
    require_postgres_bin,
)
from pdsearch.devservices.opensearch import DEFAULT_HEAP, OpenSearchNode
from pdsearch.devservices.postgres import PostgresServer
from pdsearch.devservices.process import (
    RunAs,
    ServerProcess,
    ServicesError,
    remove_tree,
    running_as_root,
    say,
)

DEFAULT_TIMEOUT_SECONDS = 180.0
_TEMP_PREFIX = "pdsearch-services-"
_OWNER_FILE = "owner.pid"


@dataclass(frozen=True)
class Options:
    cache: Path = field(default_factory=default_cache_dir)
    # Given: data lives there and is kept (and reused next time). None: a fresh temporary
    # directory per run, removed at the end (tests want a clean server).
    data_dir: Path | None = None
    postgres_port: int | None = None  # None: a free port
    opensearch_port: int | None = None
    opensearch_heap: str = DEFAULT_HEAP
    # C1-only JIT: the node starts on a third of the CPU time (about 7 CPU-seconds instead of
    # 20, which on 2 busy cores is most of the wait) and runs slower: for tests, not benchmarks.
    quick: bool = False
    timeout: float = DEFAULT_TIMEOUT_SECONDS


@dataclass(frozen=True)
class Services:
    """What ``running`` yields: the URLs (None for a server not asked for) and the processes."""

    database_url: str | None
    index_url: str | None
    processes: tuple[ServerProcess, ...]

    def as_json(self) -> str:
        return json.dumps({"database_url": self.database_url, "index_url": self.index_url})

    def check(self) -> None:
        """Raise if a server has exited on its own since it was ready."""
        for process in self.processes:
            if not process.alive():
                raise process.failure(f"exited unexpectedly (code {process.returncode})")


def install(options: Options, *, postgres: bool = True, opensearch: bool = True) -> None:
    """Install what is missing; quick when everything is there."""
    ensure_packages(postgres=postgres, opensearch=opensearch)
    if opensearch:
        install_opensearch(options.cache)


def _run_as(user: str) -> RunAs:
    return RunAs(user if running_as_root() else None)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's, and running
    return True


def _remove_orphans() -> None:
    """Temporary folders of earlier runs that were killed outright (their servers died with
    them, but nothing was left to delete the data)."""
    for folder in Path(tempfile.gettempdir()).glob(_TEMP_PREFIX + "*"):
        try:
            owner = int((folder / _OWNER_FILE).read_text())
        except (OSError, ValueError):
            continue
        if not _alive(owner):
            remove_tree(folder)


def _check_reachable(root: Path) -> None:
    """As root, the servers run as users of their own, who must be able to enter every folder
    above their data (a home directory or pytest's tmp_path often forbids it)."""
    if not running_as_root():
        return
    for folder in root.parents:
        if folder.exists() and not folder.stat().st_mode & stat.S_IXOTH:
            raise ServicesError(
                f"the servers run as the users {POSTGRES_USER} and {OPENSEARCH_USER}, who may not "
                f"enter {folder}; choose a data folder they can reach (for example under /tmp)"
            )


@contextlib.contextmanager
def running(
    options: Options, *, postgres: bool = True, opensearch: bool = True
) -> Iterator[Services]:
    """Start the chosen servers on 127.0.0.1 and yield their URLs; on leaving, stop them (and
    remove their data unless ``options.data_dir`` keeps it), also when starting failed."""
    if not (postgres or opensearch):
        raise ValueError("nothing to run")
    install(options, postgres=postgres, opensearch=opensearch)
    if options.data_dir is None:
        _remove_orphans()
        root = Path(tempfile.mkdtemp(prefix=_TEMP_PREFIX))
        (root / _OWNER_FILE).write_text(str(os.getpid()))
    else:
        root = options.data_dir.resolve()
        _check_reachable(root)
        root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o755)  # the servers' own users must reach their folders below it
    say(f"data and logs in {root}")
    started: list[ServerProcess] = []
    try:
        node = None
        if opensearch:
            # Launched first: it takes seconds, PostgreSQL fractions of one.
            node = OpenSearchNode(
                root / "opensearch",
                install_opensearch(options.cache),
                require_java_home(),
                port=options.opensearch_port,
                heap=options.opensearch_heap,
                quick=options.quick,
                run_as=_run_as(OPENSEARCH_USER),
            )
            started.append(node.launch())
        database_url = None
        if postgres:
            server = PostgresServer(
                root / "postgres",
                require_postgres_bin(),
                port=options.postgres_port,
                run_as=_run_as(POSTGRES_USER),
            )
            started.append(server.launch())
            database_url = server.wait_ready(options.timeout)
        index_url = node.wait_ready(options.timeout) if node is not None else None
        yield Services(database_url, index_url, tuple(started))
    finally:
        # Signal all first, then wait: both shut down at once.
        for process in started:
            process.signal_stop()
        for process in started:
            process.wait_stopped()
        if options.data_dir is None:
            remove_tree(root)


__all__ = ["Options", "Services", "ServicesError", "install", "running"]
