"""Hostile input to every CLI command (issue 6): a clear message and exit code 1 or 2, never a
traceback, nothing stored half-way.

The commands are read from the Typer app (``typer.main.get_command``), so a command added later
is covered too. For each command, each of its parameters in turn gets hostile values chosen by
its type (numbers out of range or not numbers at all, empty, huge, NUL, escape sequences,
unicode, FTS syntax, paths that are files or hold a NUL, base URLs that are not https or not
loopback) while the others keep working values; plus an unknown option and a stray argument.
The data directory holds a connector synced from a simulator on 127.0.0.1, and its state
(connectors, credentials, entities, jobs, schedules, documents) is compared around every call
that fails.

``serve``, ``demo`` and ``simulate`` would serve until stopped when given working values, so they
run as child processes with a time limit; one that is still running then has accepted its input
and is stopped (that is allowed: only a crash is not).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import typer.main
from child_processes import pdsearch_command, start
from tally import tally
from typer.testing import CliRunner

from pdsearch.cli import app as cli_app
from pdsearch.config import Settings
from pdsearch.index.sqlite import SqliteIndex
from pdsearch.simulator.config import SimulatorConfig
from pdsearch.simulator.server import SimulatorServer
from pdsearch.store import Store

API_KEY = "hostile-cli-sim-key"
SERVING = ("serve", "demo", "simulate")
#: Invocations per command and their exit codes, for docs/RELIABILITY.md.
SENT = tally("hostile CLI invocations per command (docs/RELIABILITY.md)", "exit codes")

HOSTILE_TEXT = (
    "",
    " ",
    "x" * 5000,
    "\x00",
    "a\x00b",
    "\x1b[31mred\x1b[0m\x07",
    "💥\u202eü",
    "../../etc/passwd",
    "'; DROP TABLE connectors; --",
    '"NEAR(* OR sys_racl:*',
    "[red]markup[/red]",
    "%s%n{0}",
    "-",
    "--",
    "file:///etc/passwd",
    "ftp://api.pagerduty.com",
    "http://example.com",
    "http://169.254.169.254",
    "https://user:secret@api.pagerduty.com",
    "https://api.pagerduty.com/\x00",
)
HOSTILE_INTS = ("-1", "0", "abc", "1e3", "1.5", "9" * 40, "", "-9" * 20)


def hostile_paths(home: Path) -> tuple[str, ...]:
    """Never a real system file: a command that wrongly accepts a path may write to it (an
    early version of this test had ``simulate --save /etc/passwd`` overwrite it as root)."""
    a_file = home.parent / "a-file"
    a_file.write_text("not a directory, not an account")
    return (str(a_file), str(a_file / "below"), "/proc/1/nope", "", "a\x00b", str(home.parent))


# --- the data directory and its state -----------------------------------------------------


@pytest.fixture(scope="module")
def pd_server() -> Iterator[SimulatorServer]:
    config = SimulatorConfig.for_scale("tiny", api_key=API_KEY, rate_limit=0, seed=3)
    with SimulatorServer(config) as server:
        yield server


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory, pd_server: SimulatorServer) -> Path:
    home = tmp_path_factory.mktemp("hostile-cli") / "data"
    runner = CliRunner()
    env = {"PDSEARCH_HOME": str(home), "PDSEARCH_SECRET_KEY": ""}
    for args in (
        ["connector", "add", "acme", "--api-key", API_KEY, "--base-url", pd_server.base_url],
        ["sync", "acme"],
        ["entities", "add-users", "acme", pd_server.subdomain, "billing@example.com"],
    ):
        result = runner.invoke(cli_app, args, env=env)
        assert result.exit_code == 0, (args, result.output)
    return home


def state_of(home: Path) -> dict[str, Any]:
    if not (home / "state.db").exists():
        return {}
    settings = Settings(home=home)
    out: dict[str, Any] = {}
    with Store.open(settings) as store:
        connectors, _ = store.connectors.list(limit=10_000)
        out["connectors"] = [c.to_dict() for c in connectors]
        for c in connectors:
            out[f"credentials {c.id}"] = store.connectors.get_credentials(c.id)
            out[f"entities {c.id}"] = [e.to_dict() for e in
                                       store.entities.list(c.id, limit=10_000)[0]]
            out[f"jobs {c.id}"] = [(j.id, j.status) for j in
                                   store.jobs.list(c.id, limit=10_000)[0]]
        out["schedules"] = store.schedules.list()
    index = SqliteIndex(settings.index_path)
    try:
        docs, _ = index.list(None, 0, 100_000)
    finally:
        index.close()
    out["documents"] = sorted((d.id, d.content_hash, tuple(d.sys_racl)) for d in docs)
    return out


# --- the commands, read from the app ------------------------------------------------------


@dataclass(frozen=True)
class Command:
    path: tuple[str, ...]
    command: Any  # a click-style command (Typer carries its own click)


def commands() -> list[Command]:
    root = typer.main.get_command(cli_app)
    out: list[Command] = []

    def walk(cmd: Any, path: tuple[str, ...]) -> None:
        if hasattr(cmd, "commands"):  # a group
            for name, sub in sorted(cmd.commands.items()):
                walk(sub, (*path, name))
        else:
            out.append(Command(path, cmd))

    walk(root, ())
    return out


def is_argument(param: Any) -> bool:
    return bool(param.param_type_name == "argument")


def is_flag(param: Any) -> bool:
    return bool(getattr(param, "is_flag", False))


def kind_of(param: Any) -> str:
    """"number", "path" or "text", from the parameter's Python annotation."""
    descriptor = getattr(param, "type_descriptor", None)
    annotation = repr(getattr(descriptor, "annotation", getattr(param, "type", "")))
    if "int" in annotation or "float" in annotation:
        return "number"
    if "Path" in annotation:
        return "path"
    return "text"


def working_value(param: Any, subdomain: str) -> list[str] | None:
    """A value the command accepts for this parameter (None: leave it out)."""
    name = param.name or ""
    if is_argument(param):
        return {"name": ["acme"], "query": ["primary"], "entity": [subdomain],
                "emails": ["someone@example.com"]}.get(name, ["x"])
    if param.required:
        return [param.opts[0], {"user": "someone@example.com"}.get(name, "x")]
    return None


def invocations(cmd: Command, home: Path, subdomain: str) -> Iterator[list[str]]:
    """The command's working arguments with one parameter made hostile at a time."""
    params = [p for p in cmd.command.params if p.name not in ("help",)]
    base: dict[str, list[str]] = {}
    for p in params:
        value = working_value(p, subdomain)
        if value is not None:
            base[p.name or ""] = value

    def build(override: str | None = None, value: list[str] | None = None) -> list[str]:
        args = list(cmd.path)
        for p in params:
            if p.name == override:
                args += value or []
            elif p.name in base:
                args += base[p.name or ""]
        return args

    yield [*build(), "--no-such-option"]
    yield [*build(), "stray", "arguments", "\x00"]
    for p in params:
        if is_flag(p):
            continue
        kind = kind_of(p)
        if kind == "number":
            values: tuple[str, ...] = HOSTILE_INTS
        elif kind == "path":
            values = hostile_paths(home)
        else:
            values = HOSTILE_TEXT
        for v in values:
            if is_argument(p):
                yield build(p.name, [v])
            else:
                yield build(p.name, [p.opts[0], v])


def serving(cmd: Command) -> bool:
    return bool(cmd.path) and cmd.path[0] in SERVING


# --- checks -------------------------------------------------------------------------------


def problems_of(output: str, exit_code: int, exception: BaseException | None) -> list[str]:
    out = []
    if exception is not None and not isinstance(exception, SystemExit):
        out.append(f"raised {type(exception).__name__}: {exception}")
    if "Traceback (most recent call last)" in output:
        out.append("a traceback in the output")
    if exit_code not in (0, 1, 2, 130):
        out.append(f"exit code {exit_code}")
    if exit_code != 0 and not output.strip():
        out.append("failed without a message")
    return out


def test_every_command_is_found() -> None:
    names = {" ".join(c.path) for c in commands()}
    for expected in ("connector add", "connector list", "connector remove", "connect", "sync",
                     "jobs", "search", "entities list", "entities add-users", "serve", "demo",
                     "simulate"):
        assert expected in names


@pytest.mark.slow
def test_hostile_arguments_to_every_command_in_process(
    home: Path, pd_server: SimulatorServer
) -> None:
    runner = CliRunner()
    env = {"PDSEARCH_HOME": str(home), "PDSEARCH_SECRET_KEY": "", "COLUMNS": "200"}
    failures: list[str] = []
    sent: Counter[str] = Counter()
    before = state_of(home)
    for cmd in commands():
        if serving(cmd):
            continue
        for args in invocations(cmd, home, pd_server.subdomain):
            result = runner.invoke(cli_app, args, env=env, input="")
            SENT.count(" ".join(cmd.path), result.exit_code)
            sent[" ".join(cmd.path)] += 1
            output = result.output + (result.stderr if result.stderr_bytes is not None else "")
            found = problems_of(output, result.exit_code, result.exception)
            after = state_of(home)
            if result.exit_code != 0 and after != before:
                found.append("failed, yet the data directory changed")
            before = after
            failures += [f"{[a[:60] for a in args]}: {p}\n    {output[-300:]!r}" for p in found]
    assert not failures, f"{len(failures)} problems:\n" + "\n".join(failures[:30])
    # Every command that does not serve got its hostile invocations: at least the unknown
    # option and the stray arguments, and a hostile value per parameter.
    in_process = {" ".join(c.path): c for c in commands() if not serving(c)}
    assert set(sent) == set(in_process)
    for name, cmd in in_process.items():
        hostile = [p for p in cmd.command.params if p.name != "help" and not is_flag(p)]
        assert sent[name] >= 2 + len(hostile), (name, sent[name])


#: Lines a serving command prints once it listens: it accepted its input.
READY = ("Uvicorn running on", '{"base_url"', "Press Ctrl-C to stop")


def run_child(args: list[str], env: dict[str, str], cwd: Path) -> tuple[int, str, bool]:
    """(exit code, output, whether it started serving). A child that neither ends nor
    becomes ready within a minute has hung: that is reported as exit code -999."""
    log = cwd / f"out-{os.getpid()}-{abs(hash(tuple(args)))}.txt"
    with log.open("wb") as sink:
        # SIGINT at its default in the child, however the test command was started.
        proc = start(pdsearch_command(*args), env=env, cwd=cwd,
                     stdout=sink, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 60
        ready = False
        while proc.poll() is None and time.monotonic() < deadline:
            if any(marker in log.read_text(errors="replace") for marker in READY):
                ready = True
                break
            time.sleep(0.1)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            if not ready:
                return -999, log.read_text(errors="replace"), False
    return proc.returncode, log.read_text(errors="replace"), ready


#: Values the serving commands get (fewer: each runs as a process).
SERVING_TEXT = ("", "\x1b[31m💥\u202e", "file:///etc/passwd")

SERVING_INTS = ("-1", "abc", "9" * 40)


@pytest.mark.slow
def test_hostile_arguments_to_the_serving_commands(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PDSEARCH_")}
    env.update({"PDSEARCH_HOME": str(tmp_path / "data"),
                "PDSEARCH_API_TOKEN": "hostile-cli-token-0123456789abcdef"})
    runs: list[list[str]] = []
    decoy = tmp_path / "a-file"
    decoy.write_text("{not json, and not to be overwritten")
    for cmd in commands():
        if not serving(cmd):
            continue
        runs.append([*cmd.path, "--no-such-option"])
        for p in cmd.command.params:
            if is_argument(p) or is_flag(p) or p.name == "help":
                continue
            if p.name in ("host",):
                # Never a real interface ("" could mean all): nothing may listen beyond loopback.
                values: tuple[str, ...] = ("256.0.0.1", "\x1b[31m", "x" * 300)
            elif kind_of(p) == "number":
                values = SERVING_INTS[:2] if cmd.path[0] == "simulate" else SERVING_INTS
            elif kind_of(p) == "path":
                values = ("/proc/1/nope", str(decoy), str(tmp_path))
            else:
                values = SERVING_TEXT[:2] if cmd.path[0] == "simulate" else SERVING_TEXT
            runs += [[*cmd.path, p.opts[0], v] for v in values if "\x00" not in v]
    # Values that would start a long-running server on purpose (a free port for demo) are
    # fine; stopping them is part of the check.
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda a: (a, *run_child(a, env, tmp_path)), runs))
    assert decoy.read_text() == "{not json, and not to be overwritten"
    failures = []
    started = [" ".join(args)[:60] for args, _, _, running in results if running]
    SENT.notes.append(f"served until stopped: {started}")
    assert {args[0] for args, _, _, _ in results} == set(SERVING)  # each was tried
    for args, code, output, running in results:
        SENT.count(args[0], code)
        found = [] if running else problems_of(output, code, None)
        if running and "Traceback (most recent call last)" in output:
            found.append("a traceback in the output")
        failures += [f"{[a[:40] for a in args]}: {p}\n    {output[-400:]!r}" for p in found]
    assert not failures, f"{len(failures)} problems:\n" + "\n".join(failures[:30])



BAD_BASE_URLS = (
    "file:///etc/passwd",
    "ftp://api.pagerduty.com",
    "http://api.pagerduty.com",
    "http://example.com",
    "http://169.254.169.254",
    "http://10.0.0.1",
    "https://api.pagerduty.com/?x=1",
    "https://api.pagerduty.com/\x00",
    "https://api.pager duty.com",
    "https://api.pagerduty.com:99999",
    "https://[::1",
    "javascript:alert(1)",
    "api.pagerduty.com",
)


def test_connector_add_refuses_unsafe_base_urls(home: Path) -> None:
    runner = CliRunner()
    env = {"PDSEARCH_HOME": str(home), "PDSEARCH_SECRET_KEY": ""}
    before = state_of(home)
    for i, url in enumerate(BAD_BASE_URLS):
        for option in ("--base-url", "--oauth-base-url"):
            args = ["connector", "add", f"bad-url-{i}", "--api-key", "k", option, url]
            result = runner.invoke(cli_app, args, env=env)
            output = result.output + (result.stderr if result.stderr_bytes is not None else "")
            SENT.count("connector add", result.exit_code)
            assert result.exit_code == 2, (url, output)
            assert "URL" in output, (url, output)
            assert problems_of(output, result.exit_code, result.exception) == []
    assert state_of(home) == before
