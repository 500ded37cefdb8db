"""Sync jobs: start one now, list a connector's, read one, cancel one."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from pdsearch.web.api.common import find_connector, find_job, job_out, link_to
from pdsearch.web.deps import ConnectorsDep, PagingDep, ServicesDep
from pdsearch.web.schemas import ErrorOut, JobOut, JobStarted, Page, SyncIn, error_responses

router = APIRouter(tags=["jobs"])

_NOT_FOUND = error_responses(404)
#: Starting or canceling needs the sync service, which exists while the service runs.
_NEEDS_SYNC = error_responses(404, 503)


@router.post(
    "/connectors/{connector_id}/sync",
    status_code=202,
    response_model=JobStarted,
    responses={
        202: {
            "links": {
                "GetJob": link_to("/jobs/{job_id}", "GET", job_id="$response.body#/job_id"),
                "CancelJob": link_to(
                    "/jobs/{job_id}/cancel", "POST", job_id="$response.body#/job_id"
                ),
            }
        },
        **_NEEDS_SYNC,
        409: {
            "model": ErrorOut,
            "description": "a sync of this connector is running (sync_running), or an OAuth "
            "connector is not authorized yet (oauth_authorization_required)",
        },
    },
    summary="Start a sync now (incremental or full); it runs in the background",
)
async def start_sync(
    connector_id: str, connectors: ConnectorsDep, body: SyncIn | None = None
) -> JSONResponse:
    mode = body.mode if body is not None else None
    job_id = await connectors.start_sync(connector_id, "manual", mode)
    return JSONResponse(
        JobStarted(job_id=job_id).model_dump(),
        status_code=202,
        headers={"Location": f"/api/v1/jobs/{job_id}"},
    )


@router.get(
    "/connectors/{connector_id}/jobs",
    response_model=Page[JobOut],
    responses=_NOT_FOUND,
    summary="A connector's sync history, newest first",
)
def list_jobs(connector_id: str, services: ServicesDep, page: PagingDep) -> Page[JobOut]:
    find_connector(services.store, connector_id)
    jobs, total = services.store.jobs.list(connector_id, skip=page.skip, limit=page.limit)
    return Page[JobOut](data=[job_out(j) for j in jobs], total=total)


@router.get("/jobs/{job_id}", response_model=JobOut, responses=_NOT_FOUND, summary="Get a job")
def get_job(job_id: str, services: ServicesDep) -> JobOut:
    return job_out(find_job(services.store, job_id))


@router.post(
    "/jobs/{job_id}/cancel",
    status_code=202,
    response_model=JobOut,
    responses={
        **_NEEDS_SYNC,
        409: {
            "model": ErrorOut,
            "description": "the job has finished (job_finished)",
        },
    },
    summary="Ask a running job to stop, wherever it runs; it ends as canceled and deletes nothing",
)
def cancel_job(job_id: str, services: ServicesDep, connectors: ConnectorsDep) -> JobOut:
    find_job(services.store, job_id)
    return job_out(connectors.cancel(job_id))
