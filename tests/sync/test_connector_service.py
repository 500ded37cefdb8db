"""The connector use-cases (pdsearch/connectors.py): one set of rules for every caller.

Removal is safe across the state and the index: a sync is stopped first (here, or in another
process through the store), a removal a crash interrupted is finished at the next start, and
documents whose connector is gone are dropped. A cancel reaches a sync whichever process runs it.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from pdsearch.connectors import ApiKey, ConnectorService, UseCaseError
from pdsearch.index.base import Document
from pdsearch.store import ConflictError, NotFoundError
from pdsearch.sync.service import SyncService


def service(env: Any, **options: Any) -> ConnectorService:
    return ConnectorService(env.store, env.index, env.service, transport=env.transport, **options)


def orphan(source: str) -> Document:
    return Document(id="schedule:PGONE", type="schedule", title="Gone", content="gone",
                    url="https://acme.pagerduty.com/schedules/PGONE", sys_racl=("acme",),
                    source=source)


async def test_remove_takes_documents_state_and_schedule(sync_env: Any) -> None:
    connectors = service(sync_env)
    job = await connectors.run_sync(sync_env.connector_id)
    assert job.status == "succeeded"
    assert sync_env.index.count(sync_env.connector_id) > 0
    connectors.set_schedule(sync_env.connector_id, {"interval_minutes": 30})
    removed = await connectors.remove(sync_env.connector_id)
    assert removed > 0
    assert sync_env.index.count(sync_env.connector_id) == 0
    with pytest.raises(NotFoundError):
        sync_env.store.connectors.get(sync_env.connector_id)
    assert sync_env.store.schedules.get(sync_env.connector_id) is None


async def test_remove_cancels_a_running_sync_of_this_process_first(sync_env: Any) -> None:
    sync_env.sim.config.latency_ms = 200
    connectors = service(sync_env)
    job_id = await connectors.start_sync(sync_env.connector_id)
    await asyncio.sleep(0.3)
    await connectors.remove(sync_env.connector_id)
    assert sync_env.index.count(sync_env.connector_id) == 0  # nothing written after removal
    assert not sync_env.service.is_running(sync_env.connector_id)
    with pytest.raises(NotFoundError):
        sync_env.store.jobs.get(job_id)


async def test_remove_refuses_when_another_process_will_not_stop(sync_env: Any) -> None:
    """A sync another process runs (its job alive in the store) is asked to stop; when it does
    not within the wait, nothing is removed."""
    job = sync_env.store.jobs.create(sync_env.connector_id, "manual", status="running")
    connectors = service(sync_env, remove_wait_seconds=0.3)
    with pytest.raises(ConflictError, match="did not stop"):
        await connectors.remove(sync_env.connector_id)
    assert sync_env.store.jobs.cancel_requested(job.id)
    assert sync_env.store.connectors.get(sync_env.connector_id).status != "removing"


async def test_a_cancel_through_the_store_stops_a_sync_of_another_service(
    sync_env: Any,
) -> None:
    """Two replicas: the sync runs in one service, the cancel is asked of the other (which
    only writes the request to the store); the running one sees it and stops."""
    sync_env.sim.config.latency_ms = 1000  # several seconds of sync: the request lands during it
    runner = sync_env.service
    other = ConnectorService(sync_env.store, sync_env.index,
                             SyncService(sync_env.store, sync_env.index))
    job_id = await runner.start(sync_env.connector_id)
    for _ in range(100):
        if sync_env.store.jobs.get(job_id).status == "running":
            break
        await asyncio.sleep(0.02)
    asked = other.cancel(job_id)
    assert not asked.finished
    assert sync_env.store.jobs.cancel_requested(job_id)
    for _ in range(300):
        if sync_env.store.jobs.get(job_id).finished:
            break
        await asyncio.sleep(0.05)
    final = sync_env.store.jobs.get(job_id)
    assert final.status == "canceled", final
    with pytest.raises(UseCaseError) as finished:
        other.cancel(job_id)
    assert finished.value.code == "job_finished"


async def test_recover_finishes_an_interrupted_removal_and_drops_orphans(sync_env: Any) -> None:
    connectors = service(sync_env)
    await connectors.run_sync(sync_env.connector_id)
    kept = connectors.create("kept", ApiKey("key"), "us")
    sync_env.index.upsert([orphan(kept.id), orphan("connector-long-gone")])
    # A crash after the connector was marked and before its state left the store:
    sync_env.store.connectors.set_status(sync_env.connector_id, "removing")
    connectors.recover()
    with pytest.raises(NotFoundError):
        sync_env.store.connectors.get(sync_env.connector_id)
    assert sync_env.index.count(sync_env.connector_id) == 0
    assert sync_env.index.count("connector-long-gone") == 0
    assert sync_env.index.count(kept.id) == 1  # another connector's documents stay


async def test_an_unauthorized_oauth_connector_is_not_synced(sync_env: Any) -> None:
    connectors = service(sync_env)
    from pdsearch.connectors import OAuthClient

    oauth = connectors.create("oauth", OAuthClient("client", "secret"), "us")
    assert oauth.status == "needs_authorization"
    with pytest.raises(UseCaseError) as refused:
        await connectors.start_sync(oauth.id)
    assert refused.value.code == "oauth_authorization_required"


async def test_credentials_that_cannot_travel_are_refused_for_every_caller(
    sync_env: Any,
) -> None:
    from pdsearch.store import InvalidValueError

    connectors = service(sync_env)
    for bad in ("ké", "two words", "line\nbreak", ""):
        with pytest.raises(InvalidValueError, match="printable ASCII"):
            connectors.create(f"bad {len(bad)}", ApiKey(bad), "us")
