# Over 500 lines on purpose: the leak test is one walk through everything that handles a secret,
# in one service run with one log capture, so nothing handled between two tests goes unchecked.
"""Secrets (issue 6): API keys, the OAuth client secret, access and refresh tokens and the
service's API token never appear in logs (every logger at DEBUG, uvicorn's access log included),
error messages, API responses, pages, CLI output, or in plain text anywhere in the data directory
(every file, ``-wal`` and ``-shm`` included; the Fernet key file is a secret of its own). Every
``/api/v1`` route refuses a missing or wrong bearer token; OAuth state and authorize tickets are
single-use.

The leak test drives the real service on uvicorn (loopback) against a loopback simulator through
everything that handles a secret: connectors created, changed, connected (right and wrong keys),
synced, authorized with OAuth (tokens exchanged, refreshed and rotated), invalid bodies holding
secrets, the pages, and the CLI on the same data directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import secrets
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import uvicorn
from fastapi.routing import APIRoute
from pydantic import SecretStr
from typer.testing import CliRunner

from pdsearch.cli import app as cli_app
from pdsearch.config import Settings
from pdsearch.simulator.config import SimulatorConfig
from pdsearch.simulator.server import SimulatorServer
from pdsearch.web.app import AccessLogRedactor, create_app

TOKEN = "svc-token-" + secrets.token_hex(12)
API_KEY = "pdkey-" + secrets.token_hex(12)
WRONG_KEY = "wrongkey-" + secrets.token_hex(12)
NEW_KEY = "newkey-" + secrets.token_hex(12)
CLI_KEY = "clikey-" + secrets.token_hex(12)
CLIENT_ID = "hardening-oauth-client"
CLIENT_SECRET = "oauth-secret-" + secrets.token_hex(12)
WRONG_SECRET = "wrong-oauth-secret-" + secrets.token_hex(12)


class Capture(logging.Handler):
    """Every log record, formatted with its arguments and traceback, except the test's own HTTP
    clients' (httpx and httpcore in the test's thread log the URLs and headers the test itself
    sends and receives, such as the OAuth redirect it follows as a browser would). The service
    (uvicorn's thread, its PagerDuty clients, its workers), the CLI and the simulator all log
    from other threads and are all kept."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self._test_thread = threading.get_ident()

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread == self._test_thread and record.name.startswith(("httpx", "httpcore")):
            return
        try:
            text = record.getMessage()
        except Exception:  # a broken record still shows what it carried
            text = f"{record.msg!r} {record.args!r}"
        if record.exc_info:
            text += "\n" + logging.Formatter().formatException(record.exc_info)
        self.lines.append(f"{record.name} {record.levelname} {text}")


LOGGERS = ("uvicorn", "uvicorn.access", "uvicorn.error", "httpx", "httpcore", "pdsearch")


def everything_to_root() -> None:
    """Every logger at DEBUG, propagating to the root (uvicorn's own logging set-up, run when a
    server starts, gives its access log a handler of its own and stops propagation)."""
    for name in LOGGERS:
        logger = logging.getLogger(name)
        logger.setLevel(logging.DEBUG)
        logger.propagate = True
        logger.disabled = False


@contextlib.contextmanager
def capture_all_logs() -> Iterator[Capture]:
    handler = Capture()
    root = logging.getLogger()
    saved = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    levels = {}
    for name in LOGGERS:
        logger = logging.getLogger(name)
        levels[name] = (logger.level, logger.propagate)
    everything_to_root()
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(saved)
        for name, (level, propagate) in levels.items():
            logging.getLogger(name).setLevel(level)
            logging.getLogger(name).propagate = propagate


class LiveService:
    """The service on uvicorn in a background thread, on a loopback socket, with the access log
    on and its redactor installed as ``pdsearch serve`` does."""

    def __init__(self, settings: Settings) -> None:
        self.app = create_app(settings)
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self.base_url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        config = uvicorn.Config(self.app, log_level="debug", access_log=True, log_config=None,
                                timeout_graceful_shutdown=5)
        self.server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=lambda: asyncio.run(self.server.serve(sockets=[self._sock])), daemon=True
        )
        self._redactor = AccessLogRedactor()

    def __enter__(self) -> LiveService:
        logging.getLogger("uvicorn.access").addFilter(self._redactor)
        self._thread.start()
        for _ in range(3000):
            if self.server.started:
                return self
            if not self._thread.is_alive():
                break
            threading.Event().wait(0.01)
        raise RuntimeError("the service did not start")

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self._thread.join(30)
        self._sock.close()
        logging.getLogger("uvicorn.access").removeFilter(self._redactor)


class Seen:
    """Everything the test saw: answers (status, headers, body), CLI output, in order."""

    def __init__(self) -> None:
        self.items: list[tuple[str, str]] = []

    def answer(self, what: str, response: httpx.Response) -> httpx.Response:
        headers = "\n".join(f"{k}: {v}" for k, v in response.headers.items())
        self.items.append((what, f"{response.status_code}\n{headers}\n{response.text}"))
        return response

    def text(self, what: str, text: str) -> None:
        self.items.append((what, text))


def _leaks(secret_values: dict[str, str], items: list[tuple[str, str]]) -> list[str]:
    return [
        f"{name} in {where}"
        for where, text in items
        for name, value in secret_values.items()
        if value and value in text
    ]


def _files_with(home: Path, secret_values: dict[str, str]) -> list[str]:
    """Every file of the data directory holding a secret in plain text (the key file aside)."""
    found = []
    for path in sorted(p for p in home.rglob("*") if p.is_file()):
        if path.name == "secret.key":
            continue
        data = path.read_bytes()
        for name, value in secret_values.items():
            if value and value.encode() in data:
                found.append(f"{name} in {path.name}")
    return found


async def _wait_job(http: httpx.AsyncClient, job_id: str, seen: Seen) -> dict[str, Any]:
    for _ in range(600):
        job: dict[str, Any] = seen.answer("job", await http.get(f"/api/v1/jobs/{job_id}")).json()
        if job["status"] not in ("queued", "running"):
            return job
        await asyncio.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish")


async def _sync(http: httpx.AsyncClient, cid: str, seen: Seen) -> dict[str, Any]:
    answer = seen.answer("sync", await http.post(f"/api/v1/connectors/{cid}/sync"))
    assert answer.status_code == 202, answer.text
    return await _wait_job(http, answer.json()["job_id"], seen)


def _secret_values(extra: dict[str, str]) -> dict[str, str]:
    return {
        "service token": TOKEN,
        "API key": API_KEY,
        "wrong API key": WRONG_KEY,
        "new API key": NEW_KEY,
        "CLI API key": CLI_KEY,
        "OAuth client secret": CLIENT_SECRET,
        "wrong OAuth client secret": WRONG_SECRET,
        **extra,
    }


@pytest.mark.slow
async def test_no_secret_leaks_anywhere(tmp_path: Path) -> None:
    home = tmp_path / "data"
    settings = Settings(home=home, api_token=SecretStr(TOKEN), secret_key=None, public_url=None)
    config = SimulatorConfig.for_scale(
        "tiny", api_key=API_KEY, oauth_client_id=CLIENT_ID, oauth_client_secret=CLIENT_SECRET,
        rate_limit=0, seed=3,
    )
    seen = Seen()
    tokens: dict[str, str] = {}
    one_time: dict[str, str] = {}
    with capture_all_logs() as logs, SimulatorServer(config) as sim, LiveService(settings) as svc:
        everything_to_root()
        sim.simulator.add_api_key(NEW_KEY)
        account = sim.account
        http = httpx.AsyncClient(base_url=svc.base_url, timeout=30,
                                 headers={"Authorization": f"Bearer {TOKEN}"})
        async with http:
            # An API-key connector: created, listed, connected, synced, read back.
            made = seen.answer("create", await http.post("/api/v1/connectors", json={
                "name": "acme", "auth": {"type": "api_key", "api_key": API_KEY},
                "region": "us", "base_url": sim.base_url,
            }))
            assert made.status_code == 201, made.text
            cid = made.json()["id"]
            for body in (  # invalid bodies that hold a secret: the 422 must not echo it
                {"name": "x", "auth": {"type": "bogus", "api_key": API_KEY}},
                {"name": "x", "auth": {"type": "api_key", "api_key": API_KEY}, "region": "mars"},
                {"name": 5, "auth": {"type": "oauth2", "client_id": 1,
                                     "client_secret": CLIENT_SECRET}},
                {"name": "x", "auth": {"type": "api_key", "api_key": API_KEY},
                 "base_url": "file:///etc/passwd"},
                {"name": "acme", "auth": {"type": "api_key", "api_key": API_KEY}},  # taken
            ):
                bad = seen.answer("invalid create", await http.post("/api/v1/connectors",
                                                                    json=body))
                assert 400 <= bad.status_code < 500, bad.text
            bad = seen.answer("invalid patch", await http.patch(
                f"/api/v1/connectors/{cid}", json={"auth": {"type": "api_key", "api_key": 7,
                                                            "x": API_KEY}}))
            assert bad.status_code == 422
            connected = seen.answer("connect", await http.post(f"/api/v1/connectors/{cid}/connect"))
            assert connected.status_code == 200, connected.text
            assert (await _sync(http, cid, seen))["status"] == "succeeded"
            patched = seen.answer("patch", await http.patch(
                f"/api/v1/connectors/{cid}",
                json={"auth": {"type": "api_key", "api_key": NEW_KEY}}))
            assert patched.status_code == 200, patched.text
            assert (await _sync(http, cid, seen))["status"] == "succeeded"
            for path in (f"/api/v1/connectors/{cid}", "/api/v1/connectors",
                         f"/api/v1/connectors/{cid}/jobs", f"/api/v1/connectors/{cid}/documents",
                         f"/api/v1/connectors/{cid}/permission-entities",
                         f"/api/v1/connectors/{cid}/schedule", "/openapi.json"):
                seen.answer(path, await http.get(path))
            owner = account.users[account.owner_id]["email"]
            seen.answer("search", await http.post("/api/v1/search",
                                                  json={"query": "", "user": owner}))

            # A wrong key: the errors name the cause, never the key.
            wrong = seen.answer("create wrong", await http.post("/api/v1/connectors", json={
                "name": "wrong", "auth": {"type": "api_key", "api_key": WRONG_KEY},
                "base_url": sim.base_url,
            }))
            wid = wrong.json()["id"]
            refused = seen.answer("connect wrong", await http.post(
                f"/api/v1/connectors/{wid}/connect"))
            assert refused.status_code >= 400
            assert "401" in refused.text
            assert (await _sync(http, wid, seen))["status"] == "failed"
            seen.answer("wrong connector", await http.get(f"/api/v1/connectors/{wid}"))

            # OAuth: authorize through a one-time link, callback, replay refused, sync, refresh.
            made = seen.answer("create oauth", await http.post("/api/v1/connectors", json={
                "name": "acme-oauth",
                "auth": {"type": "oauth2", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET},
                "base_url": sim.base_url, "oauth_base_url": sim.oauth_base_url,
            }))
            assert made.status_code == 201, made.text
            oid = made.json()["id"]
            link = seen.answer("link", await http.post(
                f"/api/v1/connectors/{oid}/oauth/authorize")).json()["url"]
            one_time["ticket"] = parse_qs(urlsplit(link).query)["ticket"][0]
            browser = httpx.AsyncClient(timeout=30)  # no bearer: a person's browser
            async with browser:
                to_pd = seen.answer("follow link", await browser.get(link))
                assert to_pd.status_code == 302, to_pd.text
                replayed_link = seen.answer("link again", await browser.get(link))
                assert replayed_link.status_code == 401  # the ticket is single-use
                back = seen.answer("pd authorize", await browser.get(to_pd.headers["location"]))
                assert back.status_code == 302
                callback = back.headers["location"]
                query = parse_qs(urlsplit(callback).query)
                one_time["code"], one_time["state"] = query["code"][0], query["state"][0]
                done = seen.answer("callback", await browser.get(callback))
                assert done.status_code == 200, done.text
                assert done.json()["status"] == "connected", done.text
                creds = svc.app.state.services.store.connectors.get_credentials(oid)
                replay = seen.answer("callback again", await browser.get(callback))
                assert replay.status_code == 400
                assert "invalid_state" in replay.text
                assert svc.app.state.services.store.connectors.get_credentials(oid) == creds
                forged = seen.answer("forged state", await browser.get(
                    f"{svc.base_url}/oauth/callback?code=abc&state=forged"))
                assert forged.status_code == 400
            tokens["first access token"] = creds["access_token"]
            tokens["first refresh token"] = creds["refresh_token"]
            assert (await _sync(http, oid, seen))["status"] == "succeeded"
            sim.simulator.tokens.access_tokens.clear()  # expired: the next sync refreshes
            assert (await _sync(http, oid, seen))["status"] == "succeeded"
            creds = svc.app.state.services.store.connectors.get_credentials(oid)
            assert creds["refresh_token"] != tokens["first refresh token"]
            tokens["second access token"] = creds["access_token"]
            tokens["second refresh token"] = creds["refresh_token"]
            seen.answer("oauth connector", await http.get(f"/api/v1/connectors/{oid}"))

            # A wrong client secret: PagerDuty refuses the code exchange; the answer says so.
            made = seen.answer("create bad oauth", await http.post("/api/v1/connectors", json={
                "name": "bad-oauth",
                "auth": {"type": "oauth2", "client_id": CLIENT_ID, "client_secret": WRONG_SECRET},
                "base_url": sim.base_url, "oauth_base_url": sim.oauth_base_url,
            }))
            bid = made.json()["id"]
            async with httpx.AsyncClient(timeout=30) as browser:
                to_pd = await http.get(f"/api/v1/connectors/{bid}/oauth/authorize")
                back = await browser.get(seen.answer("authorize bad", to_pd).headers["location"])
                refused = seen.answer("callback bad", await browser.get(back.headers["location"]))
                assert refused.status_code == 400, refused.text
                assert "oauth_failed" in refused.text, refused.text
            seen.answer("bad oauth connector", await http.get(f"/api/v1/connectors/{bid}"))

            # The pages, signed in with the token (and a failed sign-in that typed a key).
            page = httpx.AsyncClient(base_url=svc.base_url, timeout=30)
            async with page:
                failed = seen.answer("signin wrong", await page.post(
                    "/signin", data={"token": WRONG_KEY, "next": "/"}))
                assert failed.status_code == 401
                signed = await page.post("/signin", data={"token": TOKEN, "next": "/"})
                assert signed.status_code == 303
                for path in ("/", "/connectors/new", f"/connectors/{cid}",
                             f"/connectors/{cid}/configuration", f"/connectors/{cid}/history",
                             f"/connectors/{cid}/entities", f"/connectors/{cid}/documents",
                             f"/connectors/{oid}", f"/connectors/{oid}/configuration",
                             f"/connectors/{wid}", f"/search?q=a&user={owner}"):
                    shown = seen.answer(path, await page.get(path))
                    assert shown.status_code == 200, (path, shown.status_code)

            # The CLI on the same data directory, keys through environment variables.
            runner = CliRunner()
            env = {"CLI_PD_KEY": CLI_KEY, "WRONG_PD_KEY": WRONG_KEY}
            sim.simulator.add_api_key(CLI_KEY)
            d = ["--data-dir", str(home)]
            codes: dict[str, int] = {}
            for args in (
                ["connector", "add", "cli", "--api-key-env", "CLI_PD_KEY", "--base-url",
                 sim.base_url, *d],
                ["connector", "add", "cli-wrong", "--api-key-env", "WRONG_PD_KEY",
                 "--base-url", sim.base_url, *d],
                ["connector", "list", *d], ["connector", "list", "--json", *d],
                ["connect", "cli", *d], ["connect", "cli-wrong", *d],
                ["sync", "cli", "--json", *d], ["sync", "cli-wrong", *d],
                ["jobs", "cli", "--json", *d], ["jobs", "acme-oauth", *d],
                ["entities", "list", "cli", *d], ["search", "a", "--user", owner, *d],
                ["connector", "add", "cli-direct", "--api-key", CLI_KEY, "--json", *d],
                ["connector", "add", "cli-stdin", "--api-key", "-", *d],
                ["connector", "add", "cli-oauth", "--oauth-client-id", CLIENT_ID,
                 "--oauth-client-secret", "-", *d],
                ["connector", "add", "cli", "--api-key", CLI_KEY, *d],  # name taken
            ):
                piped = {"cli-stdin": CLI_KEY + "\n", "cli-oauth": CLIENT_SECRET + "\n"}
                stdin = piped.get(args[2])
                result = await asyncio.to_thread(
                    runner.invoke, cli_app, args, env=env, input=stdin
                )
                seen.text("pdsearch " + " ".join(args[:2]), result.output)
                assert result.exception is None or isinstance(result.exception, SystemExit)
                codes[" ".join(a for a in args[:2] if a != "--json")] = result.exit_code
            # The commands did their work (so their output was worth checking)...
            assert codes["connect cli"] == 0, codes
            assert codes["sync cli"] == 0, codes
            # ...and the wrong key failed with a message, not the key.
            assert codes["connect cli-wrong"] == 1, codes
            assert codes["sync cli-wrong"] == 1, codes
            assert codes["connector add"] == 1, codes  # the last add: the name is taken

            secret_values = _secret_values(tokens)
            for issued in [*sim.simulator.tokens.access_tokens,
                           *sim.simulator.tokens.refresh_tokens]:
                secret_values[f"simulator token ...{issued[-4:]}"] = issued
            # The data directory while the service runs: WAL and shared-memory files too.
            live_files = _files_with(home, secret_values)
            wal = [p.name for p in home.rglob("*-wal")]
    stopped_files = _files_with(home, secret_values)

    print(f"checked {len(seen.items)} answers and outputs, {len(logs.lines)} log records")
    leaks = _leaks(secret_values, seen.items)
    log_text = [("logs", "\n".join(logs.lines))]
    log_leaks = _leaks({**secret_values, **{f"one-time {k}": v for k, v in one_time.items()}},
                       log_text)
    assert wal, "the data directory should have been checked with its WAL files present"
    assert any("uvicorn.access" in line for line in logs.lines), "the access log was not seen"
    # The access log saw the OAuth round trip, with its one-time values blanked.
    assert any("/oauth/callback?" in line and "<redacted>" in line for line in logs.lines)
    assert any("pdsearch.sync" in line for line in logs.lines)
    assert not leaks, leaks
    assert not log_leaks, [
        line for line in logs.lines
        if any(v in line for v in [*secret_values.values(), *one_time.values()])
    ][:8]
    assert not live_files, live_files
    assert not stopped_files, stopped_files


# --- every /api/v1 route refuses a missing or wrong bearer token --------------------------------


def _api_routes(app: Any) -> list[tuple[str, str]]:
    """(method, path) of every /api/v1 operation, from the app's own OpenAPI description (so a
    new route is covered the day it is added) and from its route table where FastAPI exposes
    it directly."""
    found = {
        (method.upper(), path)
        for path, operations in app.openapi()["paths"].items()
        if path.startswith("/api/v1")
        for method in operations
        if method.upper() in ("GET", "POST", "PUT", "PATCH", "DELETE")
    }
    for route in app.routes:
        if isinstance(route, APIRoute) and route.path.startswith("/api/v1"):
            found |= {(m, route.path) for m in (route.methods or set()) - {"HEAD", "OPTIONS"}}
    return sorted(found)


WRONG_AUTH = [
    None,
    "Bearer wrong-token",
    f"Bearer {TOKEN[:-1]}",
    f"Bearer {TOKEN}x",
    f"Token token={TOKEN}",
    f"Basic {TOKEN}",
    TOKEN,
    "Bearer ",
    f"Bearer {TOKEN} {TOKEN}",
]


async def test_every_api_route_refuses_a_missing_or_wrong_token(
    api_settings: Any, service: Any
) -> None:
    settings = api_settings.model_copy(update={"api_token": SecretStr(TOKEN)})
    async with service(settings) as (app, _client):
        routes = _api_routes(app)
        assert len(routes) >= 20, routes  # enumerated from the app: new routes are covered
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://pdsearch.test") as anon:
            made = await anon.post("/api/v1/connectors", headers={
                "Authorization": f"Bearer {TOKEN}"}, json={
                "name": "c", "auth": {"type": "api_key", "api_key": API_KEY}})
            assert made.status_code == 201
            cid = made.json()["id"]
            checked = 0
            for method, path in routes:
                url = re.sub(r"\{connector_id\}", cid, path)
                url = re.sub(r"\{[^}]+\}", "x1", url)
                for auth in WRONG_AUTH:
                    headers = {} if auth is None else {"Authorization": auth}
                    answer = await anon.request(method, url, headers=headers, json={})
                    assert answer.status_code == 401, (method, path, auth, answer.text)
                    error = answer.json()["error"]
                    assert error["code"] in ("unauthorized", "invalid_ticket"), error
                    assert TOKEN not in answer.text
                    assert "Bearer" in answer.headers.get(
                        "www-authenticate", "Bearer")
                    checked += 1
            # Nothing changed behind the refusals: still the one connector.
            listed = await anon.get("/api/v1/connectors",
                                    headers={"Authorization": f"Bearer {TOKEN}"})
            assert listed.json()["total"] == 1
            assert checked == len(routes) * len(WRONG_AUTH)


async def test_page_calls_refuse_without_a_session_or_csrf_token(
    api_settings: Any, service: Any
) -> None:
    """The pages call ``/api/v1`` with their session cookie instead of the token: that must
    demand a signed-in session and the page's CSRF token, else another site could use the API
    through a signed-in browser."""
    settings = api_settings.model_copy(update={"api_token": SecretStr(TOKEN)})
    async with service(settings) as (app, _client), httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://pdsearch.test"
    ) as anon:
        for method, path in (("GET", "/api/v1/connectors"),
                             ("POST", "/api/v1/connectors"),
                             ("POST", "/api/v1/search")):
            answer = await anon.request(method, path, json={})
            assert answer.status_code in (401, 403), (method, path, answer.text)
        signed = await anon.post("/signin", data={"token": TOKEN, "next": "/"})
        assert signed.status_code == 303
        no_csrf = await anon.post("/api/v1/connectors", json={
            "name": "c", "auth": {"type": "api_key", "api_key": API_KEY}})
        assert no_csrf.status_code in (401, 403), no_csrf.text
        wrong_csrf = await anon.post(
            "/api/v1/connectors", headers={"X-CSRF-Token": "forged"},
            json={"name": "c", "auth": {"type": "api_key", "api_key": API_KEY}})
        assert wrong_csrf.status_code in (401, 403), wrong_csrf.text
        listed = await anon.get("/api/v1/connectors",
                                headers={"Authorization": f"Bearer {TOKEN}"})
        assert listed.json()["total"] == 0
