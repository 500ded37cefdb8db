"""Injected faults and latency: each kind does what it says, and none changes the account."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import Any

import httpx
import pytest


def only(sim: Any, kind: str, rate: float = 1.0) -> None:
    sim.config.fault_rate = rate
    sim.config.fault_kinds = (kind,)


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_server_errors(sim_http: httpx.AsyncClient, sim: Any, status: int) -> None:
    only(sim, str(status))
    response = await sim_http.get("/users")
    assert response.status_code == status
    assert "error" in response.json()


async def test_429_without_headers_or_body(sim_http: httpx.AsyncClient, sim: Any) -> None:
    only(sim, "429")
    response = await sim_http.get("/users")
    assert response.status_code == 429
    assert response.content == b""
    assert not any(h.startswith("ratelimit-") for h in response.headers)


async def test_malformed_body_is_not_json(sim_http: httpx.AsyncClient, sim: Any) -> None:
    only(sim, "malformed")
    response = await sim_http.get("/schedules")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    with pytest.raises(json.JSONDecodeError):
        response.json()


async def test_cut_connection_in_process(sim_http: httpx.AsyncClient, sim: Any) -> None:
    only(sim, "cut")
    with pytest.raises(httpx.RemoteProtocolError):
        await sim_http.get("/users")


def test_cut_connection_over_a_socket(sim_server: Any) -> None:
    only(sim_server.simulator, "cut")
    headers = {"Authorization": f"Token token={sim_server.api_key}"}
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.get(sim_server.base_url + "/users", headers=headers)
    sim_server.simulator.config.fault_rate = 0.0
    assert httpx.get(sim_server.base_url + "/users", headers=headers).status_code == 200


async def test_timeout_outlasts_the_client(sim_http: httpx.AsyncClient, sim: Any) -> None:
    only(sim, "timeout")
    sim.slow_seconds = 0.3
    # In process there is no socket to time out: the caller's own deadline fires.
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(sim_http.get("/users"), 0.05)
    sim.slow_seconds = 0.05
    started = time.perf_counter()
    response = await sim_http.get("/users")
    assert response.status_code == 504
    assert time.perf_counter() - started >= 0.05


def test_timeout_over_a_socket_then_504(sim_server: Any) -> None:
    only(sim_server.simulator, "timeout")
    sim_server.simulator.slow_seconds = 0.2
    headers = {"Authorization": f"Token token={sim_server.api_key}"}
    with pytest.raises(httpx.ReadTimeout):
        httpx.get(sim_server.base_url + "/users", headers=headers, timeout=0.05)
    # A client that waits longer than the fault gets a gateway timeout, not the data.
    response = httpx.get(sim_server.base_url + "/users", headers=headers, timeout=5)
    assert response.status_code == 504


@pytest.mark.parametrize("kind", ["500", "502", "503", "429", "malformed", "cut", "timeout"])
async def test_a_faulted_write_is_not_applied(
    sim_http: httpx.AsyncClient, sim: Any, kind: str
) -> None:
    only(sim, kind)
    sim.slow_seconds = 0.01
    teams_before = dict(sim.account.teams)
    records_before = len(sim.account.audit_records())
    body = {"team": {"name": "Faulted", "description": "x"}}
    with contextlib.suppress(httpx.HTTPError):
        await sim_http.post("/teams", json=body)
    assert sim.account.teams == teams_before
    assert len(sim.account.audit_records()) == records_before
    sim.config.fault_rate = 0.0
    assert (await sim_http.post("/teams", json=body)).status_code == 201
    assert len(sim.account.teams) == len(teams_before) + 1


async def test_fault_rate_and_kinds_mix(sim_http: httpx.AsyncClient, sim: Any) -> None:
    sim.config.fault_rate = 0.5
    sim.config.fault_kinds = ("500", "503")
    statuses = [(await sim_http.get("/abilities")).status_code for _ in range(200)]
    faults = sum(s in (500, 503) for s in statuses)
    assert 60 < faults < 140  # about half; the fault stream is seeded, so this is stable
    assert set(statuses) <= {200, 500, 503}
    sim.config.fault_rate = 0.0
    for _ in range(20):
        assert (await sim_http.get("/abilities")).status_code == 200


async def test_latency_is_added_without_blocking_other_requests(
    sim_http: httpx.AsyncClient, sim: Any
) -> None:
    sim.config.latency_ms = 100
    started = time.perf_counter()
    assert (await sim_http.get("/abilities")).status_code == 200
    assert time.perf_counter() - started >= 0.1
    started = time.perf_counter()
    responses = await asyncio.gather(*(sim_http.get("/abilities") for _ in range(10)))
    assert all(r.status_code == 200 for r in responses)
    # Ten requests sleeping concurrently take about one latency, far from ten.
    assert time.perf_counter() - started < 0.8
