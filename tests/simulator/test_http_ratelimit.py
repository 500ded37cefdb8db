"""Rate limits per token per minute (FACTS §3): headers on every answer, 429 code 2020, reset."""

from __future__ import annotations

from typing import Any

import httpx
from clock import FakeClock


async def test_budget_is_respected_and_headers_count_down(
    sim_http: httpx.AsyncClient, sim: Any
) -> None:
    clock = FakeClock()
    sim.clock = clock
    sim.config.rate_limit = 5
    remaining = []
    for _ in range(5):
        response = await sim_http.get("/users")
        assert response.status_code == 200
        assert response.headers["ratelimit-limit"] == "5"
        remaining.append(int(response.headers["ratelimit-remaining"]))
        assert 0 < int(response.headers["ratelimit-reset"]) <= 60
    assert remaining == [4, 3, 2, 1, 0]
    refused = await sim_http.get("/users")
    assert refused.status_code == 429
    assert refused.json() == {"error": {"message": "Rate Limit Exceeded", "code": 2020}}
    assert refused.headers["ratelimit-remaining"] == "0"
    assert refused.headers["ratelimit-reset"] == "60"
    clock.advance(45)
    later = await sim_http.get("/users")
    assert later.status_code == 429
    assert later.headers["ratelimit-reset"] == "15"
    clock.advance(15)  # the minute is over
    again = await sim_http.get("/users")
    assert again.status_code == 200
    assert again.headers["ratelimit-remaining"] == "4"


async def test_headers_are_on_error_answers_too(sim_http: httpx.AsyncClient) -> None:
    for path in ("/users/PNOSUCH", "/users?limit=x"):
        response = await sim_http.get(path)
        assert response.status_code in (400, 404)
        assert {"ratelimit-limit", "ratelimit-remaining", "ratelimit-reset"} <= set(
            response.headers
        )


async def test_each_token_has_its_own_budget(sim_http: httpx.AsyncClient, sim: Any) -> None:
    sim.clock = FakeClock()
    sim.config.rate_limit = 2
    sim.add_api_key("other-account-key")
    other = {"Authorization": "Token token=other-account-key"}
    for _ in range(2):
        assert (await sim_http.get("/teams")).status_code == 200
    assert (await sim_http.get("/teams")).status_code == 429
    assert (await sim_http.get("/teams", headers=other)).status_code == 200


async def test_a_users_keys_share_one_budget(sim_http: httpx.AsyncClient, sim: Any) -> None:
    sim.clock = FakeClock()
    sim.config.rate_limit = 2
    user_id = next(iter(sim.account.users))
    sim.add_api_key("user-key-1", user_id=user_id)
    sim.add_api_key("user-key-2", user_id=user_id)
    one = {"Authorization": "Token token=user-key-1"}
    two = {"Authorization": "Token token=user-key-2"}
    assert (await sim_http.get("/teams", headers=one)).status_code == 200
    assert (await sim_http.get("/teams", headers=two)).status_code == 200
    assert (await sim_http.get("/teams", headers=one)).status_code == 429


async def test_zero_means_no_limit(sim_http: httpx.AsyncClient, sim: Any) -> None:
    sim.config.rate_limit = 0
    for _ in range(30):
        response = await sim_http.get("/abilities")
        assert response.status_code == 200
    assert "ratelimit-limit" not in response.headers


async def test_the_budget_can_change_while_running(sim_http: httpx.AsyncClient, sim: Any) -> None:
    sim.clock = FakeClock()
    sim.config.rate_limit = 1
    assert (await sim_http.get("/abilities")).status_code == 200
    assert (await sim_http.get("/abilities")).status_code == 429
    sim.config.rate_limit = 10
    response = await sim_http.get("/abilities")
    assert response.status_code == 200
    assert response.headers["ratelimit-remaining"] == "8"
