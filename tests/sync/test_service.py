"""SyncService: background jobs, one at a time per connector, progress, cancel, shutdown."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sync_helpers import deletable_policy

from pdsearch.store import Job, NotFoundError
from pdsearch.sync.progress import Progress
from pdsearch.sync.service import SyncAlreadyRunning


async def _wait(env: Any, job_id: str, within: float = 20.0) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + within
    while True:
        job: Job = env.store.jobs.get(job_id)
        if job.finished:
            return job.to_dict()
        assert asyncio.get_running_loop().time() < deadline, job.to_dict()
        await asyncio.sleep(0.02)


async def _running(env: Any, job_id: str) -> None:
    for _ in range(1000):
        if env.store.jobs.get(job_id).status == "running":
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the job never started running")


async def test_start_runs_in_the_background_and_records_the_job(sync_env: Any) -> None:
    job_id = await sync_env.service.start(sync_env.connector_id)

    job = sync_env.store.jobs.get(job_id)
    assert job.status in ("queued", "running")
    assert job.trigger == "manual"
    assert sync_env.service.is_running(sync_env.connector_id)
    done = await _wait(sync_env, job_id)
    assert done["status"] == "succeeded"
    assert done["counts"]["added"] > 0
    assert done["requests"]
    assert done["duration_seconds"] is not None
    assert not sync_env.service.is_running(sync_env.connector_id)


async def test_two_concurrent_starts_one_runs_the_other_is_refused(sync_env: Any) -> None:
    results = await asyncio.gather(
        sync_env.service.start(sync_env.connector_id),
        sync_env.service.start(sync_env.connector_id, "scheduled"),
        return_exceptions=True,
    )

    started = [r for r in results if isinstance(r, str)]
    refused = [r for r in results if isinstance(r, SyncAlreadyRunning)]
    assert len(started) == 1
    assert len(refused) == 1
    assert refused[0].job_id == started[0]
    with pytest.raises(SyncAlreadyRunning):
        await sync_env.service.run(sync_env.connector_id)
    _jobs, total = sync_env.store.jobs.list(sync_env.connector_id)
    assert total == 1
    await _wait(sync_env, started[0])
    # Once it finished, the next one may start.
    again = await sync_env.service.start(sync_env.connector_id)
    assert (await _wait(sync_env, again))["status"] == "succeeded"


async def test_a_sync_running_in_another_process_blocks_until_its_heartbeat_is_stale(
    sync_env: Any,
) -> None:
    other = sync_env.store.jobs.create(sync_env.connector_id, "manual", status="running")
    with pytest.raises(SyncAlreadyRunning, match="another pdsearch process"):
        await sync_env.service.start(sync_env.connector_id)

    stale = (datetime.now(UTC) - timedelta(minutes=10)).isoformat()
    sync_env.store.jobs.update(other.id, progress={"phase": "schedules", "updated_at": stale})
    job = await sync_env.service.run(sync_env.connector_id)

    assert job.status == "succeeded"
    dead = sync_env.store.jobs.get(other.id)
    assert dead.status == "failed"
    assert dead.error
    assert "stopped" in dead.error


async def test_unknown_connector_is_not_found(sync_env: Any) -> None:
    with pytest.raises(NotFoundError):
        await sync_env.service.start("no-such-connector")


async def test_progress_is_readable_while_running(sync_env: Any) -> None:
    sync_env.sim.config.latency_ms = 20
    seen: list[dict[str, object]] = []
    job_id = await sync_env.service.start(sync_env.connector_id)
    while not sync_env.store.jobs.get(job_id).finished:
        job = sync_env.store.jobs.get(job_id)
        if job.status == "running" and job.progress.get("phase"):
            seen.append({"phase": job.progress["phase"], "requests": job.requests})
        await asyncio.sleep(0.05)

    assert seen, "progress never showed while the job ran"
    assert {s["phase"] for s in seen} <= {"starting", "identity", "policies", "schedules",
                                          "indexing", "deleting"}
    assert any(int(str(s["requests"])) > 0 for s in seen)


async def test_cancel_mid_sync_leaves_the_index_consistent(sync_env: Any) -> None:
    account = sync_env.sim.account
    await sync_env.service.run(sync_env.connector_id)
    before = sync_env.index.hashes(sync_env.connector_id)
    policy_id = deletable_policy(account)
    async with sync_env.pd() as pd:
        await pd.delete(f"/escalation_policies/{policy_id}")
    job_ids: list[str] = []

    def cancel_during_schedules(p: Progress) -> None:
        if p.phase == "schedules" and job_ids:
            sync_env.service.cancel(job_ids[0])

    task = asyncio.create_task(
        sync_env.service.run(sync_env.connector_id, on_progress=cancel_during_schedules,
                             mode="full")
    )
    while not job_ids:
        job_ids.extend(filter(None, [sync_env.service.running_job_id(sync_env.connector_id)]))
        await asyncio.sleep(0)
    job = await task

    assert job.status == "canceled"
    assert job.counts["deleted"] == 0
    assert job.error
    assert "canceled" in job.error
    after = sync_env.index.hashes(sync_env.connector_id)
    assert set(after) == set(before)  # nothing swept: the deleted policy is still indexed
    for doc_id in after:
        assert sync_env.index.get(sync_env.connector_id, doc_id) is not None
    assert sync_env.service.cancel(job_ids[0]) is False  # finished: nothing to cancel
    again = await sync_env.service.run(sync_env.connector_id)
    assert again.status == "succeeded"
    assert again.counts["deleted"] == 1


async def test_cancel_cuts_a_slow_request(sync_env: Any, monkeypatch: pytest.MonkeyPatch
                                          ) -> None:
    """A request that hangs is cut after the grace period; the job still ends canceled."""
    monkeypatch.setattr("pdsearch.sync.service.CANCEL_GRACE_SECONDS", 0.05)
    sync_env.sim.config.latency_ms = 5_000
    job_id = await sync_env.service.start(sync_env.connector_id)
    await _running(sync_env, job_id)
    await asyncio.sleep(0.05)

    assert sync_env.service.cancel(job_id) is True
    job = await _wait(sync_env, job_id, within=5)

    assert job["status"] == "canceled"
    assert sync_env.index.count(sync_env.connector_id) == 0


async def test_shutdown_cancels_running_jobs_and_marks_them(sync_env: Any) -> None:
    sync_env.sim.config.latency_ms = 5_000
    job_id = await sync_env.service.start(sync_env.connector_id)
    await _running(sync_env, job_id)

    await asyncio.wait_for(sync_env.service.shutdown(), timeout=5)

    job = sync_env.store.jobs.get(job_id)
    assert job.status == "canceled"
    assert job.error
    assert "service stopped" in job.error
    assert not sync_env.service.is_running(sync_env.connector_id)


async def test_an_oauth_connector_never_authorized_fails_with_a_clear_message(
    sync_env: Any,
) -> None:
    connector = sync_env.store.connectors.create(
        "oauth-one", "oauth2", "us", {"client_id": "x", "client_secret": "very-secret"}
    )
    job = await sync_env.service.run(connector.id)
    assert job.status == "failed"
    assert job.error
    assert "not authorized" in job.error
    assert "very-secret" not in job.error


async def test_a_connector_whose_settings_cannot_work_fails_with_the_reason(sync_env: Any) -> None:
    connector = sync_env.store.connectors.create(
        "leaky", "api_key", "us", {"api_key": "k-secret"}, base_url="http://example.com"
    )
    job = await sync_env.service.run(connector.id)
    assert job.status == "failed"
    assert job.error
    assert "http://" in job.error
    assert "internal error" not in job.error
    assert "k-secret" not in job.error


async def test_a_job_canceled_right_after_start_stops_at_once(sync_env: Any) -> None:
    job_id = await sync_env.service.start(sync_env.connector_id)
    assert sync_env.service.cancel(job_id) is True

    job = await _wait(sync_env, job_id, within=5)

    assert job["status"] == "canceled"
    assert job["requests"] <= 1  # at most the request already in flight
    assert sync_env.index.count(sync_env.connector_id) == 0
