"""Debian's PostgreSQL on 127.0.0.1 for development and tests: a cluster of its own (initdb) in
the run's directory, a ``pdsearch`` role with a password and a ``pdsearch`` database it owns."""

from __future__ import annotations

import os
import secrets
import signal
import time
from pathlib import Path

import psycopg
from psycopg import sql

from pdsearch.devservices.process import RunAs, ServerProcess, free_port, say, wait_until

ROLE = "pdsearch"
DATABASE = "pdsearch"
SUPERUSER = "postgres"
# Durability is worth nothing to a throwaway test server and costs time on every commit.
_SETTINGS = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "200",
}


class PostgresServer:
    def __init__(self, root: Path, bin_dir: Path, *, port: int | None, run_as: RunAs) -> None:
        self.root = root
        self.bin_dir = bin_dir
        self.port = port or free_port()
        self.run_as = run_as
        self.data = root / "data"
        self.socket_dir = root / "socket"
        self.log = root / "postgres.log"
        self.process: ServerProcess | None = None
        self._started = 0.0

    def launch(self) -> ServerProcess:
        """Create the cluster on first use (kept data is reused), then start the server."""
        self._started = time.monotonic()
        self.root.mkdir(parents=True, exist_ok=True)
        self.root.chmod(0o755)
        if not (self.data / "PG_VERSION").exists():
            self.data.mkdir(exist_ok=True)
            self.run_as.give(self.data)
            # Local socket: trust (only we can reach it); TCP: a password, as in production.
            self.run_as.run(
                [str(self.bin_dir / "initdb"), "-D", str(self.data), "-U", SUPERUSER,
                 "--auth-local=trust", "--auth-host=scram-sha-256", "--encoding=UTF8",
                 "--locale=C.UTF-8", "--no-sync"],
                log=self.root / "initdb.log", cwd=self.root,
            )  # fmt: skip
        self.socket_dir.mkdir(exist_ok=True)
        self.run_as.give(self.socket_dir)
        argv = [
            str(self.bin_dir / "postgres"), "-D", str(self.data), "-p", str(self.port),
            "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={self.socket_dir}",
        ]  # fmt: skip
        for name, value in _SETTINGS.items():
            argv += ["-c", f"{name}={value}"]
        self.process = ServerProcess(
            "PostgreSQL",
            argv,
            log=self.log,
            run_as=self.run_as,
            cwd=self.root,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C.UTF-8"},
            stop_signal=signal.SIGINT,  # "fast" shutdown: clients are cut off, not waited for
        )
        return self.process

    def _superuser(self) -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(
            host=str(self.socket_dir),
            port=self.port,
            user=SUPERUSER,
            dbname="postgres",
            connect_timeout=2,
            autocommit=True,
        )

    def _accepting(self) -> bool:
        try:
            with self._superuser():
                return True
        except psycopg.OperationalError:
            return False

    def wait_ready(self, timeout: float) -> str:
        """Wait until it answers, give the role a fresh password, and return its URL."""
        if self.process is None:
            raise RuntimeError("launch() first")
        wait_until(
            self._accepting, server=self.process, timeout=timeout, what="accepting connections"
        )
        password = secrets.token_hex(16)
        with self._superuser() as conn:
            exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [ROLE]).fetchone()
            verb = "ALTER" if exists else "CREATE"
            # CREATEDB: backend tests may want a fresh database each; never a superuser.
            conn.execute(
                sql.SQL(verb + " ROLE {} LOGIN CREATEDB PASSWORD {}").format(
                    sql.Identifier(ROLE), sql.Literal(password)
                )
            )
            has_database = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE]
            ).fetchone()
            if not has_database:
                conn.execute(
                    sql.SQL("CREATE DATABASE {} OWNER {}").format(
                        sql.Identifier(DATABASE), sql.Identifier(ROLE)
                    )
                )
            version = conn.execute("SHOW server_version").fetchone()
        say(
            f"PostgreSQL {version[0] if version else '?'} ready on 127.0.0.1:{self.port} "
            f"after {time.monotonic() - self._started:.1f} s"
        )
        return f"postgresql://{ROLE}:{password}@127.0.0.1:{self.port}/{DATABASE}"
