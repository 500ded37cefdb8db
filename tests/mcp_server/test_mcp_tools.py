"""The MCP tools through the SDK's own client, in-process, on a store and index synced from the
simulator: schemas, who sees what, fetch, who_is_on_call and the errors an assistant can act on."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from mcp import Client
from mcp.server.mcpserver.exceptions import ToolError
from mcp_cases import Case, SearchOnCall, error_text, pick_case, refused, structured

from pdsearch.mcp.server import build_server, fixed_person
from pdsearch.mcp.tools import NO_ONCALL, McpTools


@pytest.fixture
async def synced(sync_env: Any) -> tuple[Any, Case]:
    job = await sync_env.service.run(sync_env.connector_id)
    assert job.status == "succeeded", job.error
    return sync_env, pick_case(sync_env.sim.account)


def _client(env: Any, email: str, oncall: Any = None) -> Client:
    tools = McpTools(env.store, env.index, oncall=oncall)
    return Client(build_server(tools, fixed_person(email)))


def _team_docs(env: Any, team_id: str) -> set[str]:
    docs, _ = env.index.list(env.connector_id, 0, 100_000)
    return {f"{env.connector_id}/{d.id}" for d in docs if team_id in d.sys_racl}


async def test_tools_are_listed_read_only_with_input_and_output_schemas(
    synced: tuple[Any, Case],
) -> None:
    env, case = synced
    async with _client(env, case.member) as member:
        tools = {t.name: t for t in (await member.list_tools()).tools}
    assert set(tools) == {"search", "fetch", "who_is_on_call"}
    for tool in tools.values():
        assert tool.annotations is not None
        assert tool.annotations.read_only_hint is True
        assert tool.annotations.destructive_hint is False
        assert tool.output_schema is not None
        assert tool.output_schema["type"] == "object"
        assert tool.description
    outputs = {name: tool.output_schema or {} for name, tool in tools.items()}
    assert tools["search"].input_schema["required"] == ["query"]
    assert tools["search"].input_schema["properties"]["query"]["maxLength"] == 10_000
    assert {"results", "total"} <= set(outputs["search"]["properties"])
    assert tools["fetch"].input_schema["required"] == ["id"]
    assert {"id", "title", "text", "url", "metadata"} <= set(outputs["fetch"]["properties"])
    assert tools["who_is_on_call"].input_schema["required"] == ["query"]
    assert "at" in tools["who_is_on_call"].input_schema["properties"]
    assert {"at", "total", "data"} <= set(outputs["who_is_on_call"]["properties"])
    # Who asks is never an argument: a model cannot name someone else.
    for tool in tools.values():
        assert not {"user", "email", "user_email"} & set(tool.input_schema["properties"])


async def test_a_member_finds_and_fetches_the_private_teams_documents(
    synced: tuple[Any, Case],
) -> None:
    env, case = synced
    wanted = f"{env.connector_id}/schedule:{case.schedule_id}"
    async with _client(env, case.member) as member:
        found = structured(await member.call_tool("search", {"query": case.schedule_name}))
        everything = structured(await member.call_tool("search", {"query": "", "limit": 50}))
        doc = structured(await member.call_tool("fetch", {"id": wanted}))
    hit = next(r for r in found["results"] if r["id"] == wanted)
    assert hit["title"] == case.schedule_name
    assert hit["type"] == "schedule"
    assert hit["url"].startswith("https://")
    assert "<mark>" not in hit["snippet"]
    assert _team_docs(env, case.team_id) <= {r["id"] for r in everything["results"]}

    stored = env.index.get(env.connector_id, f"schedule:{case.schedule_id}")
    assert doc["id"] == wanted
    assert doc["text"] == stored.content
    assert doc["url"] == stored.url
    assert doc["metadata"] == {"type": "schedule", "connector_id": env.connector_id,
                               "document_id": f"schedule:{case.schedule_id}"}


async def test_an_outsider_gets_none_of_them_by_any_query(synced: tuple[Any, Case]) -> None:
    env, case = synced
    team_docs = _team_docs(env, case.team_id)
    assert team_docs
    stored = env.index.get(env.connector_id, f"schedule:{case.schedule_id}")
    queries = [case.schedule_name, case.team_name, case.team_id, case.schedule_id, "", "*",
               '"' + case.schedule_name + '"', *stored.content.split()[:25], "NEAR(", "OR"]
    async with _client(env, case.outsider) as client:
        for query in queries:
            found = structured(await client.call_tool("search", {"query": query, "limit": 50}))
            assert not team_docs & {r["id"] for r in found["results"]}, query
        seen = structured(await client.call_tool("search", {"query": "", "limit": 50}))
        assert seen["total"] > 0  # the outsider sees other teams' documents
        for ref in sorted(team_docs):
            missing = error_text(await client.call_tool("fetch", {"id": ref}))
            absent = error_text(await client.call_tool("fetch", {"id": ref + "X"}))
            # Not visible reads exactly like not there.
            assert missing.replace(ref, "<id>") == absent.replace(ref + "X", "<id>")
            assert "No document" in missing


async def test_who_is_on_call_asks_the_answerer_as_the_person(synced: tuple[Any, Case]) -> None:
    env, case = synced
    answerer = SearchOnCall(env.store, env.index, env.sim.account)
    async with _client(env, case.member, oncall=answerer) as client:
        answer = structured(await client.call_tool(
            "who_is_on_call", {"query": case.schedule_name, "at": "2026-12-05T22:00:00+01:00"}
        ))
        now = structured(await client.call_tool("who_is_on_call", {"query": case.team_name}))
    assert answerer.asked[0] == (case.member, case.schedule_name,
                                 datetime(2026, 12, 5, 21, 0, tzinfo=UTC))
    assert answerer.asked[1][2].tzinfo is not None  # no 'at': now, in UTC
    assert answer["at"] == "2026-12-05T21:00:00Z"
    item = next(d for d in answer["data"]
                if d["id"] == f"{env.connector_id}/schedule:{case.schedule_id}")
    assert item["connector_id"] == env.connector_id
    assert item["type"] == "schedule"
    assert item["oncall"]["now"][0]["user"]["email"]
    assert now["total"] == len(now["data"]) > 0

    async with _client(env, case.outsider, oncall=answerer) as client:
        hidden = structured(await client.call_tool("who_is_on_call",
                                                   {"query": case.schedule_name}))
    assert not _team_docs(env, case.team_id) & {d["id"] for d in hidden["data"]}


async def test_without_an_answerer_who_is_on_call_says_so(synced: tuple[Any, Case]) -> None:
    env, case = synced
    async with _client(env, case.member) as member:
        text = await refused(member, "who_is_on_call", {"query": "checkout"})
        assert NO_ONCALL in text
        assert structured(await member.call_tool("search", {"query": ""}))["total"] > 0


async def test_hostile_inputs_get_mcp_errors_and_the_server_keeps_serving(
    synced: tuple[Any, Case],
) -> None:
    env, case = synced
    answerer = SearchOnCall(env.store, env.index, env.sim.account)
    async with _client(env, case.member, oncall=answerer) as client:
        calls: list[tuple[str, dict[str, Any], str]] = [
            ("search", {"query": "x" * 10_001}, "at most 10000"),
            ("search", {"query": 5}, "string"),
            ("search", {"query": ["a"]}, "string"),
            ("search", {}, "query"),
            ("search", {"query": "a", "limit": 0}, "limit"),
            ("search", {"query": "a", "limit": "many"}, "limit"),
            ("fetch", {"id": ""}, "id"),
            ("fetch", {"id": "y" * 100_000}, "at most 500"),
            ("fetch", {"id": "no-slash"}, "not a document id"),
            ("fetch", {"id": None}, "id"),
            ("who_is_on_call", {"query": "a", "at": "tomorrow"}, "ISO 8601"),
            ("who_is_on_call", {"query": "a", "at": 12}, "at"),
            ("no_such_tool", {"query": "a"}, "no_such_tool"),
        ]
        for tool, arguments, says in calls:
            text = await refused(client, tool, arguments)
            assert says in text, (tool, text)
            assert len(text) < 2_000  # a huge input is not echoed back whole
        found = structured(await client.call_tool("search", {"query": case.schedule_name}))
        assert found["total"] > 0


async def test_an_unknown_person_is_told_why_they_see_nothing(synced: tuple[Any, Case]) -> None:
    env, _ = synced
    async with _client(env, "nobody@example.com") as client:
        for tool, arguments in (("search", {"query": "primary"}),
                                ("fetch", {"id": f"{env.connector_id}/schedule:P1"})):
            text = error_text(await client.call_tool(tool, arguments))
            assert "nobody@example.com is in no permission entity" in text


async def test_nothing_synced_yet_is_said(sync_env: Any) -> None:
    async with _client(sync_env, "ada@example.com") as client:
        text = error_text(await client.call_tool("search", {"query": "primary"}))
    assert "No PagerDuty account has been synced" in text
    assert "pdsearch sync" in text
    sync_env.store.connectors.delete(sync_env.connector_id)
    async with _client(sync_env, "ada@example.com") as client:
        text = error_text(await client.call_tool("search", {"query": "primary"}))
    assert "no PagerDuty connector yet" in text


async def test_by_any_query_or_id_the_outsider_gets_none_of_the_teams_documents(
    synced: tuple[Any, Case],
) -> None:
    """A property over the tools' own code (no transport): random text, the documents' own
    words, and ids bent every way never hand the outsider a document of the private team."""
    env, case = synced
    tools = McpTools(env.store, env.index)
    team_docs = _team_docs(env, case.team_id)
    words = sorted({w for ref in team_docs
                    for w in env.index.get(*ref.split("/", 1)).content.split()})
    queries = st.one_of(
        st.text(max_size=120),
        st.lists(st.sampled_from(words), min_size=1, max_size=4).map(" ".join),
        st.sampled_from(words).map(lambda w: w[: max(1, len(w) // 2)] + "*"),
    )
    bent_ids = st.sampled_from(sorted(team_docs)).flatmap(lambda ref: st.sampled_from([
        ref, ref.upper(), f" {ref} ", ref.replace("/", "//"), ref + "/", ref.split("/", 1)[1],
        f"{env.connector_id}/../{ref}", ref.replace(":", "%3A"),
    ]))

    @hypothesis_settings(max_examples=120, deadline=None,
                         suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(query=queries, ref=bent_ids)
    def outsider_gets_none(query: str, ref: str) -> None:
        found = tools.search(case.outsider, query, 50)
        assert not team_docs & {r.id for r in found.results}
        try:
            doc = tools.fetch(case.outsider, ref)
        except ToolError as exc:
            refusal = str(exc)
        else:
            raise AssertionError(f"the outsider fetched {doc.id}")
        assert "No document" in refusal or "not a document id" in refusal

    outsider_gets_none()
    for ref in sorted(team_docs):  # while the member fetches each of them
        assert tools.fetch(case.member, ref).id == ref
