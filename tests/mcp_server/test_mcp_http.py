"""``/mcp`` on the service: the MCP server over streamable HTTP, served by uvicorn on 127.0.0.1
and driven by the SDK's own client; the bearer token of /api/v1, the person from the trusted
user header."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp_cases import Case, SearchOnCall, error_text, pick_case, refused, structured
from pydantic import SecretStr
from served import ServiceThread
from typer.testing import CliRunner

from pdsearch.cli import app as cli_app
from pdsearch.config import Settings
from pdsearch.web.app import create_app

TOKEN = "mcp-http-test-token-0123456789abcdef"
INITIALIZE = {
    "jsonrpc": "2.0", "id": 1, "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {},
               "clientInfo": {"name": "test", "version": "1"}},
}
MCP_ACCEPT = {"Accept": "application/json, text/event-stream"}


@pytest.fixture
def synced_home(tmp_path: Path, sim_server: Any, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A data directory with one connector to the simulator, synced, made with the CLI."""
    home = tmp_path / "home"
    monkeypatch.setenv("PDSEARCH_HOME", str(home))
    monkeypatch.delenv("PDSEARCH_SECRET_KEY", raising=False)
    runner = CliRunner()
    for args, given in (
        (["connector", "add", "acme", "--api-key", "-", "--base-url", sim_server.base_url],
         sim_server.api_key + "\n"),
        (["sync", "acme"], None),
    ):
        result = runner.invoke(cli_app, args, input=given, catch_exceptions=False)
        assert result.exit_code == 0, result.output
    return home


def _settings(home: Path, proxies: tuple[str, ...] = ("127.0.0.1",)) -> Settings:
    return Settings(home=home, api_token=SecretStr(TOKEN), trusted_proxies=proxies)


@contextmanager
def _service(home: Path, proxies: tuple[str, ...] = ("127.0.0.1",), **options: Any
             ) -> Iterator[ServiceThread]:
    with ServiceThread(_settings(home, proxies), **options) as service:
        yield service


def _client(url: str, email: str | None, token: str = TOKEN) -> Client:
    headers = {"Authorization": f"Bearer {token}"}
    if email is not None:
        headers["X-Forwarded-Email"] = email
    http = httpx2.AsyncClient(headers=headers, timeout=30)
    return Client(streamable_http_client(f"{url}/mcp", http_client=http))


def _case(sim_server: Any) -> Case:
    return pick_case(sim_server.simulator.account)


async def test_no_token_is_401_before_anything_else(synced_home: Path) -> None:
    with _service(synced_home) as service:
        async with httpx.AsyncClient(base_url=service.url) as http:
            for headers in ({}, {"Authorization": "Bearer wrong-token"},
                            {"Authorization": f"Basic {TOKEN}"}):
                for method, body in (("POST", json.dumps(INITIALIZE)), ("GET", None),
                                     ("POST", "not json"), ("DELETE", None)):
                    answer = await http.request(method, "/mcp", content=body,
                                                headers={**headers, **MCP_ACCEPT})
                    assert answer.status_code == 401, (headers, method, answer.text)
                    assert answer.json()["error"]["code"] == "unauthorized"
                    assert "Bearer" in answer.headers["www-authenticate"]
            # A page's session cookie does not open /mcp either.
            cookie = await http.post("/mcp", content=json.dumps(INITIALIZE),
                                     headers={**MCP_ACCEPT, "Cookie": "pdsearch_session=x"})
            assert cookie.status_code == 401
            ok = await http.post("/mcp", content=json.dumps(INITIALIZE),
                                 headers={**MCP_ACCEPT, "Authorization": f"Bearer {TOKEN}",
                                          "Content-Type": "application/json"})
            assert ok.status_code == 200, ok.text
            assert ok.json()["result"]["serverInfo"]["name"] == "pdsearch"
        # The SDK's own client is refused too.
        with pytest.raises((MCPError, ExceptionGroup)):
            async with _client(service.url, "ada@example.com", token="wrong-token") as client:
                pytest.fail(f"connected without the token: {client}")


async def test_tools_and_who_sees_what_over_http(synced_home: Path, sim_server: Any) -> None:
    case = _case(sim_server)
    with _service(synced_home) as service:
        async with _client(service.url, case.member) as member:
            tools = {t.name: t for t in (await member.list_tools()).tools}
            assert set(tools) == {"search", "fetch", "who_is_on_call"}
            for tool in tools.values():
                assert tool.output_schema
                assert tool.input_schema["type"] == "object"
                assert tool.annotations
                assert tool.annotations.read_only_hint is True
            found = structured(await member.call_tool("search", {"query": case.schedule_name}))
            ref = next(r["id"] for r in found["results"]
                       if r["id"].endswith(f"/schedule:{case.schedule_id}"))
            doc = structured(await member.call_tool("fetch", {"id": ref}))
            assert doc["title"] == case.schedule_name
            # Who is on call, from the on-call data the sync read: the member gets the schedule.
            oncall = structured(await member.call_tool("who_is_on_call",
                                                       {"query": case.schedule_name}))
            answer = next(d for d in oncall["data"] if d["id"] == ref)
            assert answer["oncall"] is not None
            assert set(answer["oncall"]) == {"now", "next"}

        async with _client(service.url, case.outsider) as outsider:
            for query in (case.schedule_name, case.team_name, case.schedule_id, "", "*"):
                seen = structured(await outsider.call_tool("search",
                                                           {"query": query, "limit": 50}))
                assert ref not in {r["id"] for r in seen["results"]}, query
            assert "No document" in error_text(await outsider.call_tool("fetch", {"id": ref}))
            theirs = structured(await outsider.call_tool("who_is_on_call",
                                                       {"query": case.schedule_name}))
            assert ref not in {d["id"] for d in theirs["data"]}


async def test_the_person_must_come_from_a_trusted_proxy(synced_home: Path) -> None:
    with _service(synced_home) as service:
        async with _client(service.url, None) as nobody:
            text = error_text(await nobody.call_tool("search", {"query": "primary"}))
        assert "X-Forwarded-Email" in text
        assert "does not know who is asking" in text
    with _service(synced_home, proxies=("10.9.8.7",)) as service:
        async with _client(service.url, "ada@example.com") as spoofed:
            text = error_text(await spoofed.call_tool("search", {"query": "primary"}))
        assert "not a trusted proxy" in text
        assert "PDSEARCH_TRUSTED_PROXIES" in text
    with _service(synced_home, proxies=()) as service:
        async with _client(service.url, "ada@example.com") as unconfigured:
            text = error_text(await unconfigured.call_tool("fetch", {"id": "a/b"}))
        assert "PDSEARCH_TRUSTED_PROXIES" in text
        assert "pdsearch mcp --user" in text


async def test_hostile_inputs_over_http_and_the_server_keeps_serving(
    synced_home: Path, sim_server: Any
) -> None:
    case = _case(sim_server)
    with _service(synced_home) as service:
        async with _client(service.url, case.admin) as client:
            for tool, arguments in (
                ("search", {"query": "q" * 500_000}),
                ("search", {"query": None}),
                ("fetch", {"id": ["a", "b"]}),
                ("who_is_on_call", {"query": "a", "at": "yesterday-ish"}),
                ("rm_rf", {}),
            ):
                assert len(await refused(client, tool, arguments)) < 2_000
            assert structured(await client.call_tool("search", {"query": ""}))["total"] > 0
        async with httpx.AsyncClient(base_url=service.url, headers={
            **MCP_ACCEPT, "Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json",
        }) as http:
            for body in (b"{", b"[]", b"\xff\xfe", json.dumps({"jsonrpc": "2.0"}).encode(),
                         b"x" * (2 << 20)):
                answer = await http.post("/mcp", content=body)
                assert 400 <= answer.status_code < 500, (body[:20], answer.status_code)
                assert "Traceback" not in answer.text
            # No stream to hold open: a stateless server has nothing to send unasked.
            stream = await http.get("/mcp")
            assert stream.status_code == 405
            assert stream.headers["allow"] == "POST"
            assert (await http.post("/mcp", content=json.dumps(INITIALIZE))).status_code == 200


async def test_who_is_on_call_over_http_with_the_services_answerer(
    synced_home: Path, sim_server: Any
) -> None:
    from pdsearch.index.factory import open_index
    from pdsearch.store import Store

    case = _case(sim_server)
    settings = _settings(synced_home)
    store, index = Store.open(settings), open_index(settings)
    try:
        answerer = SearchOnCall(store, index, sim_server.simulator.account)
        with _service(synced_home, oncall=answerer) as service:
            async with _client(service.url, case.member) as member:
                answer = structured(await member.call_tool(
                    "who_is_on_call", {"query": case.schedule_name, "at": "2026-12-05T10:00Z"}
                ))
        assert answerer.asked[0][:2] == (case.member, case.schedule_name)
        assert answer["at"] == "2026-12-05T10:00:00Z"
        assert any(d["id"].endswith(f"/schedule:{case.schedule_id}") for d in answer["data"])
    finally:
        index.close()
        store.close()


async def test_the_endpoint_answers_only_while_the_apps_lifespan_runs(
    synced_home: Path,
) -> None:
    """The SDK's session manager runs inside the app's lifespan: 503 before and after."""
    app = create_app(_settings(synced_home))
    headers = {**MCP_ACCEPT, "Authorization": f"Bearer {TOKEN}"}

    async def initialize() -> int:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://127.0.0.1", headers=headers) as http:
            return (await http.post("/mcp", json=INITIALIZE)).status_code

    assert await initialize() == 503
    async with app.router.lifespan_context(app):
        assert await initialize() == 200
    assert await initialize() == 503
