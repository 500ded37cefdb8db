"""A single OpenSearch node on 127.0.0.1 for development and tests: its configuration, data and
logs in the run's directory, the shared install read-only, no security plugin (loopback only).

The node is started with ``java`` directly rather than ``bin/opensearch``: the script spends a
second on a keystore check (a JVM of its own) that a node without a keystore does not need. Its
JVM options still come from OpenSearch's own parser, so they stay right for the Java version.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import httpx

from pdsearch.devservices.install import OPENSEARCH_VERSION
from pdsearch.devservices.process import (
    RunAs,
    ServerProcess,
    ServicesError,
    free_port,
    say,
    wait_until,
)

CLUSTER_NAME = "pdsearch-dev"
DEFAULT_HEAP = "512m"


def _jvm_options(heap: str, logs: Path) -> str:
    return "\n".join(
        [
            f"-Xms{heap}",
            f"-Xmx{heap}",
            "-XX:+UseG1GC",
            "-Djava.io.tmpdir=${OPENSEARCH_TMPDIR}",
            "-XX:-HeapDumpOnOutOfMemoryError",
            f"-XX:ErrorFile={logs}/hs_err_pid%p.log",
            # OpenSearch 2.x still runs under the security manager; Java 18+ asks for it.
            "18-:-Djava.security.manager=allow",
            "20-:--add-modules=jdk.incubator.vector",
            "-Djava.util.concurrent.ForkJoinPool.common.threadFactory="
            "org.opensearch.secure_sm.SecuredForkJoinWorkerThreadFactory",
            "",
        ]
    )


def _settings(data: Path, logs: Path, http_port: int, transport_port: int) -> str:
    return "\n".join(
        [
            f"cluster.name: {CLUSTER_NAME}",
            "node.name: node-1",
            f"path.data: {data}",
            f"path.logs: {logs}",
            "network.host: 127.0.0.1",
            f"http.port: {http_port}",
            f"transport.port: {transport_port}",
            "discovery.type: single-node",
            # A nearly full disk on a build machine must not turn indices read-only mid-test.
            "cluster.routing.allocation.disk.threshold_enabled: false",
            "",
        ]
    )


class OpenSearchNode:
    def __init__(
        self,
        root: Path,
        home: Path,
        java_home: Path,
        *,
        port: int | None,
        heap: str,
        quick: bool,
        run_as: RunAs,
    ) -> None:
        self.root = root
        self.home = home
        self.java = java_home / "bin" / "java"
        self.port = port or free_port()
        self.heap = heap
        self.quick = quick
        self.run_as = run_as
        self.log = root / "opensearch.log"
        self.process: ServerProcess | None = None
        self.url = f"http://127.0.0.1:{self.port}"
        self._started = 0.0

    def _prepare(self) -> tuple[Path, Path]:
        self.root.mkdir(parents=True, exist_ok=True)
        self.root.chmod(0o755)
        config, data, logs, tmp = (self.root / name for name in ("config", "data", "logs", "tmp"))
        config.mkdir(exist_ok=True)
        (config / "opensearch.yml").write_text(_settings(data, logs, self.port, free_port()))
        (config / "jvm.options").write_text(_jvm_options(self.heap, logs))
        (config / "log4j2.properties").write_bytes(
            (self.home / "config" / "log4j2.properties").read_bytes()
        )
        for path in (config, data, logs, tmp):
            path.mkdir(exist_ok=True)
            self.run_as.give(path, 0o755 if path is config else 0o700)
        for path in config.iterdir():
            self.run_as.give(path, 0o644)
        return config, tmp

    def _java_options(self, config: Path, tmp: Path) -> list[str]:
        extra = "-XX:TieredStopAtLevel=1" if self.quick else ""
        done = subprocess.run(  # noqa: S603 - argv is built here
            [str(self.java), "-Xshare:auto", "-cp", f"{self.home}/lib/*",
             "org.opensearch.tools.launchers.JvmOptionsParser", str(config)],
            env={**os.environ, "OPENSEARCH_TMPDIR": str(tmp), "OPENSEARCH_JAVA_OPTS": extra},
            capture_output=True,
            text=True,
            check=False,
        )  # fmt: skip
        if done.returncode != 0:
            raise ServicesError(f"OpenSearch's JVM options parser failed:\n{done.stderr[-2000:]}")
        return done.stdout.split()

    def launch(self) -> ServerProcess:
        self._started = time.monotonic()
        config, tmp = self._prepare()
        argv = [
            str(self.java),
            "-Xshare:auto",
            *self._java_options(config, tmp),
            f"-Dopensearch.path.home={self.home}",
            f"-Dopensearch.path.conf={config}",
            "-Dopensearch.distribution.type=zip",
            "-Dopensearch.bundled_jdk=false",
            "-cp",
            f"{self.home}/lib/*",
            "org.opensearch.bootstrap.OpenSearch",
        ]
        env = {
            key: value
            for key, value in os.environ.items()
            if key not in ("JAVA_TOOL_OPTIONS", "_JAVA_OPTIONS", "JDK_JAVA_OPTIONS")
        }
        self.process = ServerProcess(
            "OpenSearch",
            argv,
            log=self.log,
            run_as=self.run_as,
            cwd=self.root,
            env=env,
            stop_signal=signal.SIGTERM,
        )
        return self.process

    def _healthy(self) -> bool:
        try:
            response = httpx.get(
                f"{self.url}/_cluster/health",
                params={"wait_for_status": "yellow", "timeout": "1s"},
                timeout=5.0,
            )
        except httpx.HTTPError:
            return False
        return response.status_code == 200 and response.json().get("status") in ("green", "yellow")

    def wait_ready(self, timeout: float) -> str:
        if self.process is None:
            raise RuntimeError("launch() first")
        wait_until(self._healthy, server=self.process, timeout=timeout, what="healthy")
        say(
            f"OpenSearch {OPENSEARCH_VERSION} ready on 127.0.0.1:{self.port} "
            f"after {time.monotonic() - self._started:.1f} s"
        )
        return self.url
