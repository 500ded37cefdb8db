"""Schemathesis against the service's own OpenAPI description (issue 18).

The service runs on a data directory in tmp_path with the simulator as its PagerDuty, reached
through an ASGI transport (so nothing leaves the machine, whatever base URL a generated connector
names). Schemathesis reads ``/openapi.json`` from it and generates requests for every operation:
valid ones, ones the description forbids, and chains that reuse what earlier answers returned
(create a connector, then read, change, sync, schedule, delete it; the description's links and
the ones Schemathesis infers). Every answer is checked: no server error, no status the
description does not list, bodies, headers and content types as described, input the
description forbids refused, the API token required. ``schemathesis.toml`` beside this file
holds the seed and the two checks tuned for this API, with the reasons.

- In-process (ASGI): the fuzzing and stateful runs through Schemathesis's documented Hypothesis
  strategies (``schema.as_strategy``) and state machine (``as_state_machine().run``). Its pytest
  loader for fixtures (``schemathesis.pytest.from_fixture``) does not run under pytest 9.2: it
  sets ``node._nodeid``, which pytest no longer has.
- Through the CLI (``schemathesis run``) against the service served by uvicorn on 127.0.0.1:
  the phases only the CLI runs, the schema's examples and the coverage phase (boundary values:
  a string one character past its limit, each required field missing, each wrong type...); the
  full run adds the CLI's own fuzzing and stateful phases.

Bounded and reproducible: a fixed seed, fixed numbers of examples, no example database.
``PDSEARCH_FUZZ_EXAMPLES`` and ``PDSEARCH_FUZZ_SCENARIOS`` raise them for the full run
(docs/DEVELOPING.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
import uvicorn
from fastapi import FastAPI
from hypothesis import HealthCheck, given, seed, settings
from hypothesis.errors import Flaky
from pydantic import SecretStr
from schemathesis import BaseSchema, Case, GenerationMode
from schemathesis.config import SchemathesisConfig

from pdsearch.config import Settings
from pdsearch.web.app import create_app

TOKEN = "schemathesis-test-token-0123456789"
CONFIG_FILE = Path(__file__).with_name("schemathesis.toml")
SEED = int(tomllib.loads(CONFIG_FILE.read_text())["seed"])
BOUNDED_EXAMPLES = 150
#: Generated requests per generation mode (valid, invalid), across all operations.
EXAMPLES = int(os.environ.get("PDSEARCH_FUZZ_EXAMPLES", str(BOUNDED_EXAMPLES)))
#: Scenarios of the stateful run, each a chain of up to STEPS calls.
SCENARIOS = int(os.environ.get("PDSEARCH_FUZZ_SCENARIOS", "25"))
STEPS = 6
#: The CLI runs the phases the in-process tests cannot (examples, coverage); a full run (more
#: examples asked for) adds its own fuzzing and stateful phases, EXAMPLES / 30 per operation.
CLI_PHASES = "examples,coverage" + (",fuzzing,stateful" if EXAMPLES > BOUNDED_EXAMPLES else "")
CLI_EXAMPLES = max(3, EXAMPLES // 30)

pytestmark = pytest.mark.slow


def fuzz_settings(examples: int, **more: Any) -> settings:
    return settings(
        max_examples=examples,
        database=None,  # no replay of earlier runs: the same seed, the same requests
        deadline=None,
        suppress_health_check=list(HealthCheck),
        **more,
    )


def fuzz_config() -> SchemathesisConfig:
    data = tomllib.loads(CONFIG_FILE.read_text())
    data["headers"] = {"Authorization": f"Bearer {TOKEN}"}
    return SchemathesisConfig.from_dict(data)


def service_app(tmp_path: Path, pd_sim: Any) -> FastAPI:
    """The service with something to find besides what a run creates: a connector that reaches
    the simulator, and an OAuth one waiting for authorization."""
    service_settings = Settings(
        home=tmp_path / "data", api_token=SecretStr(TOKEN), secret_key=None, public_url=None
    )
    app = create_app(service_settings, transport=pd_sim.transport)
    store = app.state.services.store
    store.connectors.create(
        "acme", "api_key", "us", {"api_key": pd_sim.api_key}, base_url=pd_sim.base_url
    )
    store.connectors.create(
        "acme oauth",
        "oauth2",
        "us",
        {"client_id": pd_sim.client_id, "client_secret": pd_sim.client_secret},
        base_url=pd_sim.base_url,
        oauth_base_url=pd_sim.base_url,
    )
    return app


def close(app: FastAPI) -> None:
    """Store and index closed even when the lifespan never ran (both close idempotently)."""
    app.state.services.store.close()
    app.state.services.index.close()


@pytest.fixture
def api_schema(tmp_path: Path, pd_sim: Any) -> Iterator[BaseSchema]:
    app = service_app(tmp_path, pd_sim)
    try:
        # Loading starts the app's lifespan; Schemathesis's pytest plugin ends it with the test.
        yield schemathesis.openapi.from_asgi("/openapi.json", app, config=fuzz_config())
    finally:
        close(app)


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_every_operation_answers_as_described(api_schema: BaseSchema, mode: GenerationMode) -> None:
    @seed(SEED)
    @fuzz_settings(EXAMPLES)
    @given(case=api_schema.as_strategy(generation_mode=mode))
    def call(case: Case[Any]) -> None:
        case.call_and_validate()

    call()


def test_chains_of_calls_answer_as_described(api_schema: BaseSchema) -> None:
    failures: list[str] = []
    scenarios = 0

    class Workflow(api_schema.as_state_machine()):  # type: ignore[misc]
        def setup(self) -> None:
            nonlocal scenarios
            scenarios += 1

        def validate_response(self, response: Any, case: Case[Any], **kwargs: Any) -> None:
            # Recorded, not raised: a failure is reported with the request that caused it
            # rather than replayed against a server whose state has moved on (see below).
            try:
                super().validate_response(response, case, **kwargs)
            except BaseException as exc:  # FailureGroup is a BaseExceptionGroup
                if not isinstance(exc, Exception | BaseExceptionGroup):
                    raise
                failures.append(str(exc))

    # The service keeps its state between scenarios and runs syncs in the background, so a
    # replayed scenario can meet a different server (a sync still running, a name now taken)
    # and Hypothesis gives up with Flaky, as Schemathesis's own runner expects: it counts such a
    # suite as passed and starts another. So does this test, seed after seed, until the
    # scenarios asked for have run.
    for attempt in range(8):
        seed(SEED + attempt)(Workflow.TestCase)
        with contextlib.suppress(Flaky):
            Workflow.run(settings=fuzz_settings(SCENARIOS, stateful_step_count=STEPS))
        if scenarios >= SCENARIOS or failures:
            break
    assert not failures, f"{len(failures)} failures:\n" + "\n\n".join(failures[:5])
    assert scenarios >= SCENARIOS, f"only {scenarios} scenarios ran"


class Served:
    """The app served by uvicorn on 127.0.0.1 in a thread (its lifespan in uvicorn's loop)."""

    def __init__(self, app: FastAPI) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        config = uvicorn.Config(app, log_level="warning", access_log=False,
                                timeout_graceful_shutdown=2)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=lambda: asyncio.run(self.server.serve(sockets=[self.sock])), daemon=True
        )

    def __enter__(self) -> Served:
        self.thread.start()
        started = threading.Event()
        for _ in range(1000):
            if self.server.started:
                return self
            started.wait(0.01)
        self.__exit__()
        raise RuntimeError("the service did not start")

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()


def test_examples_and_boundaries_through_the_cli(tmp_path: Path, pd_sim: Any) -> None:
    app = service_app(tmp_path, pd_sim)
    try:
        with Served(app) as served:
            run = subprocess.run(
                [
                    str(Path(sys.executable).with_name("schemathesis")),
                    "--no-color",
                    "--config-file", str(CONFIG_FILE),
                    "run", f"{served.url}/openapi.json",
                    "--header", f"Authorization: Bearer {TOKEN}",
                    "--max-examples", str(CLI_EXAMPLES),
                    "--workers", "1",
                    "--phases", CLI_PHASES,
                    "--report-dir", str(tmp_path / "report"),
                ],
                capture_output=True,
                text=True,
                timeout=900,
                cwd=tmp_path,  # nothing written into the checkout
                check=False,
            )
    finally:
        close(app)
    out = run.stdout + run.stderr
    assert run.returncode == 0, out[-6000:]
    assert "Coverage" in out
    assert "passed" in out
    assert TOKEN not in out
