# Over 500 lines on purpose: every fault runs through one harness (a mutated account, the fault,
# the oracle's verdict, then a clean sync) that its fourteen tests share; each test is short.
"""Faults during a sync (issue 6): server errors, 429 storms, slow answers, cut connections,
malformed bodies, a revoked API key, an expired or revoked OAuth refresh token.

Each test syncs a small simulated account, changes it (deletions, renames, access changes; see
``fault_oracle.mutate``), syncs again under the fault through the real ``SyncService`` (Store and
SqliteIndex in tmp_path), and judges the index with an oracle computed from the simulator alone:
nothing lost when the job says it succeeded, nothing deleted that still exists, no wrong
``sys_racl``, a job that tells the truth; then a clean sync must make the index equal PagerDuty.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
from collections.abc import AsyncIterator, Callable
from functools import partial
from typing import Any

import httpx
import pytest
from fault_oracle import (
    ScaledClock,
    expected_entities,
    expected_state,
    index_state,
    judge,
    mutate,
    stored_entities,
)

from pdsearch.pagerduty.timing import RetryPolicy
from pdsearch.simulator.app import create_app
from pdsearch.simulator.auth import grant_scopes
from pdsearch.simulator.config import SimulatorConfig
from pdsearch.simulator.server import SimulatorServer, build_account
from pdsearch.sync.connection import client_for
from pdsearch.sync.progress import Progress

API_KEY = "hardening-api-key-7f3a9c"
CLIENT_ID = "hardening-client"
CLIENT_SECRET = "hardening-client-secret-5d1e"

#: Retries as in production, only quicker, so a test of a flaky PagerDuty takes seconds.
FAST_RETRY = RetryPolicy(
    max_attempts=6,
    max_elapsed=30.0,
    base_delay=0.005,
    max_delay=0.05,
    max_rate_limit_wait=30.0,
    rate_limit_base_delay=0.005,
    rate_limit_max_delay=0.05,
)
SYNC_LIMIT_SECONDS = 60.0


def _config(**overrides: Any) -> SimulatorConfig:
    base: dict[str, Any] = {
        "api_key": API_KEY,
        "oauth_client_id": CLIENT_ID,
        "oauth_client_secret": CLIENT_SECRET,
        "seed": 11,
    }
    base.update(overrides)
    return SimulatorConfig.for_scale("small", **base)


def _sim(slow_seconds: float = 120.0, **overrides: Any) -> Any:
    config = _config(**overrides)
    return create_app(build_account(config), config, slow_seconds=slow_seconds).state.simulator


def _env(factory: Any, sim: Any, **client_options: Any) -> Any:
    options = {"retry": FAST_RETRY, **client_options}
    return factory(sim, client_factory=partial(client_for, **options))


async def _sync(env: Any, on_progress: Callable[[Progress], None] | None = None) -> Any:
    """A full sync: these faults are the full sync's (incremental ones: tests/sync)."""
    return await asyncio.wait_for(
        env.service.run(env.connector_id, on_progress=on_progress, mode="full"),
        SYNC_LIMIT_SECONDS,
    )


def _pagerduty(env: Any) -> tuple[Any, Any]:
    """PagerDuty's state now: (documents, permission entities), from the simulator alone."""
    return expected_state(env.sim.account), expected_entities(env.sim.account)


def _ours(env: Any) -> tuple[Any, Any]:
    """What pdsearch holds: (the index's documents, the store's permission entities)."""
    return (
        index_state(env.index, env.connector_id),
        stored_entities(env.store, env.connector_id),
    )


async def _prepare(env: Any) -> tuple[Any, Any]:
    """A synced index, then a changed account: returns (ours before, PagerDuty now)."""
    first = await _sync(env)
    assert first.status == "succeeded", first.error
    assert _ours(env) == _pagerduty(env)
    mutate(env.sim.account)
    return _ours(env), _pagerduty(env)


def _no_faults(sim: Any) -> None:
    sim.config.fault_rate = 0.0
    sim.config.rate_limit = 0
    sim.config.latency_ms = 0


async def _check(env: Any, job: Any, before: Any, truth: Any) -> None:
    """The invariants after a faulty sync, then a clean sync that must restore PagerDuty's state."""
    (docs_before, entities_before), (docs_truth, entities_truth) = before, truth
    docs_after, entities_after = _ours(env)
    succeeded = job.status == "succeeded"
    verdict = judge(docs_before, docs_truth, docs_after, succeeded)
    assert verdict.clean, verdict
    # Who may see what: replaced whole or not at all, never half-way.
    if succeeded:
        assert entities_after == entities_truth
    else:
        assert entities_after in (entities_before, entities_truth)
    assert job.finished_at is not None
    if succeeded:
        assert job.error is None
        assert job.progress["swept"] is True
        assert job.counts["deleted"] == len(set(docs_before) - set(docs_truth))
        assert docs_after == docs_truth
    else:
        assert job.status == "failed", job
        assert job.error, job.error
        assert "Nothing was deleted" in job.error, job.error
        assert job.progress["swept"] is False
        assert job.counts["deleted"] == 0
    _no_faults(env.sim)
    clean = await _sync(env)
    assert clean.status == "succeeded", clean.error
    assert _ours(env) == _pagerduty(env)


# --- server errors, malformed bodies, cut connections, 429 without headers -------------------


FAULTS = [
    pytest.param(0.05, ("500", "502", "503"), id="5xx-5pct"),
    pytest.param(0.30, ("500", "502", "503"), id="5xx-30pct"),
    pytest.param(0.30, ("429",), id="429-storm-no-headers"),
    pytest.param(0.20, ("cut",), id="cut-mid-body"),
    pytest.param(0.20, ("malformed",), id="malformed-body"),
    pytest.param(0.30, ("500", "502", "503", "cut", "malformed", "429"), id="mixed-30pct"),
]


@pytest.mark.parametrize(("rate", "kinds"), FAULTS)
async def test_sync_under_injected_faults_loses_and_deletes_nothing(
    sync_env_factory: Any, rate: float, kinds: tuple[str, ...]
) -> None:
    env = _env(sync_env_factory, _sim())
    before, truth = await _prepare(env)
    env.sim.config.fault_kinds = list(kinds)
    env.sim.config.fault_rate = rate
    env.sim.reset_counters()
    job = await _sync(env)
    await _check(env, job, before, truth)
    # Retries absorb these rates: the sync gets through and the job says so.
    assert job.status == "succeeded", job.error
    assert job.requests > 0


async def test_sync_that_gives_up_on_errors_fails_truthfully_and_deletes_nothing(
    sync_env_factory: Any,
) -> None:
    """Past the retry budget (every request a 503 once the policies are read) the job fails,
    names the cause, and the sweep never runs."""
    env = _env(sync_env_factory, _sim())
    before, truth = await _prepare(env)

    def on_progress(p: Progress) -> None:
        if p.phase == "schedules":
            env.sim.config.fault_kinds = ["503"]
            env.sim.config.fault_rate = 1.0

    job = await _sync(env, on_progress)
    assert job.status == "failed"
    assert "503" in job.error, job.error
    # The error names the listing that gave up: schedules of both kinds and services are read
    # side by side, so any of them may be the first to run out of attempts.
    listings = r"(schedules|shift-based \(v3\) schedules|services)"
    assert re.search(f"Listing {listings} from PagerDuty failed", job.error), job.error
    await _check(env, job, before, truth)


# --- slow answers past the client's timeout --------------------------------------------------


async def test_slow_answers_past_the_client_timeout_are_retried(sync_env_factory: Any) -> None:
    env = _env(sync_env_factory, _sim(slow_seconds=2.0), timeout=0.3)
    before, truth = await _prepare(env)
    env.sim.config.fault_kinds = ["timeout"]
    env.sim.config.fault_rate = 0.15
    job = await _sync(env)
    await _check(env, job, before, truth)
    assert job.status == "succeeded", job.error


async def test_a_pagerduty_that_never_answers_fails_the_job_with_the_timeout(
    sync_env_factory: Any,
) -> None:
    env = _env(
        sync_env_factory,
        _sim(slow_seconds=5.0),
        timeout=0.2,
        retry=RetryPolicy(max_attempts=2, base_delay=0.01, max_delay=0.02),
    )
    before, truth = await _prepare(env)
    env.sim.config.fault_kinds = ["timeout"]
    env.sim.config.fault_rate = 1.0
    job = await _sync(env)
    assert job.status == "failed"
    assert "did not answer GET /teams within 0.2 s" in job.error, job.error
    assert "Gave up after 2 attempts" in job.error, job.error
    await _check(env, job, before, truth)


# --- 429 storms with ratelimit-* headers ------------------------------------------------------


async def _spend_budget(
    sim: Any, stop: asyncio.Event, exhausted: asyncio.Event, seconds: float
) -> int:
    """Another program on the same key, spending its whole budget for ``seconds`` (or until
    told to stop); bounded in requests and time."""
    sent = 0
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=sim.app),
        base_url="http://127.0.0.1:9",
        headers={"Authorization": f"Token token={sim.api_key}"},
    ) as http:
        for _ in range(20_000):
            if stop.is_set() or loop.time() > deadline:
                break
            answer = await http.get("/abilities")
            sent += 1
            if answer.status_code == 429:
                assert answer.headers["ratelimit-reset"], "the simulator's 429 names its reset"
                exhausted.set()
            await asyncio.sleep(0.002)
    return sent


async def _sync_in_storm(sync_env_factory: Any, storm_seconds: float) -> tuple[Any, Any, Any]:
    clock = ScaledClock(120.0)  # a one-minute rate-limit window passes in half a second
    sim = _sim(rate_limit=10)
    sim.clock = clock.time
    clients: list[Any] = []
    retry = RetryPolicy(base_delay=0.005, max_delay=0.05)  # 429 waits as in production

    def factory(connector: Any, connectors: Any, *, transport: Any = None) -> Any:
        client = client_for(connector, connectors, transport=transport, retry=retry, clock=clock)
        clients.append(client)
        return client

    env = sync_env_factory(sim, client_factory=factory)
    before, truth = await _prepare(env)
    stop, exhausted = asyncio.Event(), asyncio.Event()
    hog = asyncio.create_task(_spend_budget(sim, stop, exhausted, storm_seconds))
    try:
        await asyncio.wait_for(exhausted.wait(), 10)
        job = await _sync(env)
    finally:
        stop.set()
        await hog
    limiter = clients[-1].rate_limiter
    # The sync needs more than a window's budget, so it met the storm: it got 429s (and waited
    # out their ratelimit-reset), or held itself back on the headers it read (waited > 0).
    assert limiter.rate_limited > 0 or limiter.waited > 0, "the storm never reached the sync"
    await _check(env, job, before, truth)
    return env, job, clients[-1]


async def test_429_storm_with_headers_waits_for_the_reset(sync_env_factory: Any) -> None:
    """Another program drains the key's budget for three windows; the sync waits as each 429's
    ``ratelimit-reset`` says, then gets through."""
    _, job, _client = await _sync_in_storm(sync_env_factory, storm_seconds=1.5)
    assert job.status == "succeeded", job.error


async def test_endless_429_storm_fails_the_job_truthfully(sync_env_factory: Any) -> None:
    """429s that outlast the client's patience (here 1 s; 600 s in production): the job fails,
    saying that the rate limit kept answering, and deletes nothing."""
    env = _env(sync_env_factory, _sim(), retry=RetryPolicy(
        base_delay=0.005, max_delay=0.05, max_rate_limit_wait=1.0,
        rate_limit_base_delay=0.01, rate_limit_max_delay=0.1,
    ))
    before, truth = await _prepare(env)

    def on_progress(p: Progress) -> None:
        if p.phase == "policies":
            env.sim.config.fault_kinds = ["429"]
            env.sim.config.fault_rate = 1.0

    job = await _sync(env, on_progress)
    assert job.status == "failed"
    # Policies, both kinds of schedules and services are listed side by side: any may give up.
    paths = "(escalation_policies|schedules|v3/schedules|services)"
    assert re.search(f"429 Too Many Requests to GET /{paths}", job.error), job.error
    assert "try again later" in job.error, job.error
    await _check(env, job, before, truth)


# --- a revoked API key -------------------------------------------------------------------------


@pytest.mark.parametrize("phase", ["identity", "policies", "schedules"])
async def test_api_key_revoked_mid_sync(sync_env_factory: Any, phase: str) -> None:
    env = _env(sync_env_factory, _sim())
    before, truth = await _prepare(env)

    def on_progress(p: Progress) -> None:
        if p.phase == phase:
            env.sim.revoke_api_key()

    job = await _sync(env, on_progress)
    assert job.status == "failed"
    assert "401" in job.error, job.error
    assert "API key" in job.error, job.error
    assert API_KEY not in job.error
    connector = env.connector
    assert connector.status == "error"
    assert "401" in (connector.last_error or "")
    env.sim.add_api_key(API_KEY)
    await _check(env, job, before, truth)
    assert env.connector.status == "connected"


# --- OAuth: access token expiring mid-sync, refresh token expired or revoked ----------------


def _oauth_env(factory: Any) -> tuple[Any, str]:
    sim = _sim()
    env = _env(factory, sim)
    scopes = grant_scopes("read")
    owner = sim.account.owner_id
    access = sim.tokens.issue_access_token(CLIENT_ID, owner, scopes, 3600)
    refresh = sim.tokens.issue_refresh_token(CLIENT_ID, owner, scopes)
    connector = env.store.connectors.create(
        "acme-oauth",
        "oauth2",
        "us",
        {
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "access_token": access,
            "refresh_token": refresh,
            "expires_at": str(sim.clock() + 3600),
            "scope": " ".join(sorted(scopes)),
        },
        base_url=factory.base_url,
        oauth_base_url=factory.base_url,
    )
    env.connector_id = connector.id
    return env, refresh


async def test_oauth_access_token_expiring_mid_sync_is_refreshed(sync_env_factory: Any) -> None:
    env, _ = _oauth_env(sync_env_factory)
    before, truth = await _prepare(env)
    old = env.store.connectors.get_credentials(env.connector_id)

    def on_progress(p: Progress) -> None:
        if p.phase == "schedules":
            env.sim.tokens.access_tokens.clear()  # every access token expired at once

    job = await _sync(env, on_progress)
    assert job.status == "succeeded", job.error
    new = env.store.connectors.get_credentials(env.connector_id)
    # The rotated refresh token was stored: the old one no longer works.
    assert new["refresh_token"] != old["refresh_token"]
    assert new["access_token"] != old["access_token"]
    await _check(env, job, before, truth)


@pytest.mark.parametrize("when", ["before", "mid-sync"])
async def test_oauth_refresh_token_revoked(sync_env_factory: Any, when: str) -> None:
    env, refresh = _oauth_env(sync_env_factory)
    before, truth = await _prepare(env)
    creds = env.store.connectors.get_credentials(env.connector_id)

    def revoke() -> None:
        env.sim.tokens.access_tokens.clear()
        env.sim.tokens.refresh_tokens.clear()

    if when == "before":
        # Expired on our side too: the client refreshes before its first request.
        env.store.connectors.update_credentials(
            env.connector_id, expires_at=str(env.sim.clock() - 10)
        )
        revoke()
        job = await _sync(env)
    else:
        job = await _sync(env, lambda p: revoke() if p.phase == "policies" else None)
    assert job.status == "failed"
    assert "authorize" in job.error.lower(), job.error
    for secret in (CLIENT_SECRET, creds["refresh_token"], creds["access_token"], refresh):
        assert secret not in job.error
        assert secret not in (env.connector.last_error or "")
    # PagerDuty no longer accepts the grant: the connector says it needs authorizing again.
    assert env.connector.status in ("needs_authorization", "error")
    assert judge(before[0], truth[0], _ours(env)[0], succeeded=False).clean
    # Authorized again (new tokens), the next sync brings the index level with PagerDuty.
    scopes = grant_scopes("read")
    owner = env.sim.account.owner_id
    env.store.connectors.update_credentials(
        env.connector_id,
        access_token=env.sim.tokens.issue_access_token(CLIENT_ID, owner, scopes, 3600),
        refresh_token=env.sim.tokens.issue_refresh_token(CLIENT_ID, owner, scopes),
        expires_at=str(env.sim.clock() + 3600),
    )
    await _check(env, job, before, truth)


# --- the same over a real socket --------------------------------------------------------------


@contextlib.asynccontextmanager
async def _loopback(factory: Any, **overrides: Any) -> AsyncIterator[tuple[Any, Any]]:
    config = _config(**overrides)
    with SimulatorServer(config, slow_seconds=2.0) as server:
        def dial(connector: Any, connectors: Any, *, transport: Any = None) -> Any:
            # No in-process transport: the client dials the simulator's loopback port.
            return client_for(connector, connectors, retry=FAST_RETRY, timeout=0.5)

        env = factory(server.simulator, client_factory=dial)
        env.store.connectors.update(env.connector_id, base_url=server.base_url)
        yield env, server


@pytest.mark.slow
async def test_every_fault_kind_over_loopback(sync_env_factory: Any) -> None:
    async with _loopback(sync_env_factory) as (env, _server):
        before, truth = await _prepare(env)
        env.sim.config.fault_kinds = ["500", "502", "503", "timeout", "cut", "malformed", "429"]
        env.sim.config.fault_rate = 0.2
        job = await _sync(env)
        await _check(env, job, before, truth)
        assert job.status == "succeeded", job.error


async def test_random_fault_rates_never_break_the_invariants(sync_env_factory: Any) -> None:
    """A few seeded rounds with random kinds and rates, some past what retries absorb."""
    rng = random.Random(6)
    env = _env(sync_env_factory, _sim(), retry=RetryPolicy(
        max_attempts=3, base_delay=0.002, max_delay=0.01, rate_limit_base_delay=0.002,
        rate_limit_max_delay=0.01, max_rate_limit_wait=5.0,
    ))
    first = await _sync(env)
    assert first.status == "succeeded"
    outcomes = []
    for round_no in range(4):
        mutate(env.sim.account, tag=f"r{round_no}")
        before, truth = _ours(env), _pagerduty(env)
        env.sim.config.fault_kinds = rng.sample(["500", "502", "503", "cut", "malformed", "429"], 3)
        env.sim.config.fault_rate = rng.choice([0.1, 0.4, 0.7])
        job = await _sync(env)
        outcomes.append(job.status)
        await _check(env, job, before, truth)
    # Both paths were taken: retries absorbed the low rates, the 70 % round gave up.
    assert set(outcomes) == {"succeeded", "failed"}, outcomes


# --- PagerDuty changing while a listing is paged --------------------------------------------


class ChangingPagerDuty(httpx.AsyncBaseTransport):
    """The simulator in-process, with ``change()`` run once right after PagerDuty answered the
    first page of ``path``: what another admin editing the account at that moment does to an
    offset-paged, name-sorted listing."""

    def __init__(self, app: Any, path: str, change: Callable[[], None]) -> None:
        self.inner = httpx.ASGITransport(app=app)
        self.path, self.change, self.done = path, change, False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if (not self.done and request.url.path == self.path and response.status_code == 200
                and request.url.params.get("offset", "0") == "0"):
            await response.aread()
            self.done = True
            self.change()
        return response


def _medium_env(factory: Any, change: Callable[[Any], None]) -> Any:
    sim = _sim(teams=20, users=200, schedules=250, policies=250)
    changing = ChangingPagerDuty(sim.app, "/escalation_policies", lambda: change(sim.account))

    def dial(connector: Any, connectors: Any, *, transport: Any = None) -> Any:
        # The service's in-process transport is swapped for the one that edits the account.
        return client_for(connector, connectors, transport=changing, retry=FAST_RETRY)

    env = factory(sim, client_factory=dial)
    env.changing = changing
    return env


def _deletable_in_first_page(account: Any) -> str:
    used = {(s.get("escalation_policy") or {}).get("id") for s in account.services.values()}
    return str(next(p for p in account.list_ids("escalation_policies")[:100] if p not in used))


@pytest.mark.parametrize("change", ["delete-before", "rename-forward"])
async def test_changes_during_a_paged_listing_never_delete_what_exists(
    sync_env_factory: Any, change: str
) -> None:
    """A policy deleted from the first page (everything after it shifts left by one, so the
    first of the next page is never served), or one renamed from the last page to the front
    (it moves to a page already read, so it is never served): a sweep that trusts the listing
    would delete a policy that still exists."""

    def delete_before(account: Any) -> None:
        account.delete("escalation_policies", _deletable_in_first_page(account))

    def rename_forward(account: Any) -> None:
        last = account.list_ids("escalation_policies")[-1]
        account.update("escalation_policies", last, {"name": "AAA moved to the front"})

    env = _medium_env(sync_env_factory,
                      delete_before if change == "delete-before" else rename_forward)
    env.changing.done = True  # the first sync reads an unchanging account
    first = await _sync(env)
    assert first.status == "succeeded", first.error
    before = _ours(env)
    env.changing.done = False
    job = await _sync(env)
    assert env.changing.done, "the change never happened"
    docs_after = _ours(env)[0]
    truth = expected_state(env.sim.account)
    verdict = judge(before[0], truth, docs_after, succeeded=False)
    assert not verdict.wrongly_deleted, (job.status, job.counts, verdict)
    assert not verdict.unknown, verdict
    assert not verdict.wrong_acl, verdict
    _no_faults(env.sim)
    clean = await _sync(env)
    assert clean.status == "succeeded", clean.error
    assert _ours(env) == _pagerduty(env)


async def test_cancel_while_stuck_on_an_unanswering_pagerduty(sync_env_factory: Any) -> None:
    """A sync waiting on a PagerDuty that does not answer (and would retry for minutes) is
    canceled: it stops within the grace period, says so, and deletes nothing."""
    env = _env(sync_env_factory, _sim(slow_seconds=60.0), timeout=20.0)
    before, truth = await _prepare(env)
    env.sim.config.fault_kinds = ["timeout"]
    env.sim.config.fault_rate = 1.0
    job_id = await env.service.start(env.connector_id, mode="full")
    await asyncio.sleep(0.3)
    asked = asyncio.get_running_loop().time()
    assert env.service.cancel(job_id)
    for _ in range(200):
        job = env.store.jobs.get(job_id)
        if job.finished:
            break
        await asyncio.sleep(0.05)
    took = asyncio.get_running_loop().time() - asked
    assert job.status == "canceled", job
    assert took < 6.0, took
    assert "canceled" in job.error, job.error
    assert "Nothing was deleted" in job.error, job.error
    assert _ours(env)[0] == before[0]
    _no_faults(env.sim)
    clean = await _sync(env)
    assert clean.status == "succeeded", clean.error
    assert _ours(env) == _pagerduty(env)
    assert _pagerduty(env)[0] == truth[0]


async def test_errors_while_confirming_deletions_delete_nothing(sync_env_factory: Any) -> None:
    """PagerDuty fails exactly when the sync asks whether the missing objects are really gone:
    the job fails, deletes nothing, and its error and counts say what was written."""
    env = _env(sync_env_factory, _sim(), retry=RetryPolicy(max_attempts=2, base_delay=0.01))
    before, truth = await _prepare(env)

    def on_progress(p: Progress) -> None:
        if p.phase == "deleting":
            env.sim.config.fault_kinds = ["503"]
            env.sim.config.fault_rate = 1.0

    job = await _sync(env, on_progress)
    assert job.status == "failed", job
    assert "Confirming that" in job.error, job.error
    assert "503" in job.error, job.error
    written = job.counts["added"] + job.counts["updated"]
    assert written > 0  # renames and team moves were indexed before the confirmation
    assert "the index keeps its previous documents" not in job.error, job.error
    assert f"the {written} changed documents read before it were written" in job.error
    await _check(env, job, before, truth)
