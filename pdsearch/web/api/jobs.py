"""Sync jobs: start one now, list a connector's, read one, cancel one."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from pdsearch.sync.service import SyncAlreadyRunning
from pdsearch.web.api.common import conflict, find_connector, find_job, job_out
from pdsearch.web.deps import PagingDep, ServicesDep, SyncDep
from pdsearch.web.schemas import ErrorOut, JobOut, JobStarted, Page

router = APIRouter(tags=["jobs"])

_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": ErrorOut}}


@router.post(
    "/connectors/{connector_id}/sync",
    status_code=202,
    response_model=JobStarted,
    responses={
        **_NOT_FOUND,
        409: {"model": ErrorOut, "description": "a sync of this connector is running"},
    },
    summary="Start a sync now; it runs in the background",
)
async def start_sync(connector_id: str, services: ServicesDep, sync: SyncDep) -> JSONResponse:
    connector = find_connector(services.store, connector_id)
    if connector.status == "needs_authorization":
        raise conflict(
            "oauth_authorization_required",
            f"Connector {connector.name!r} is not authorized with PagerDuty yet. Authorize it "
            f"(GET /api/v1/connectors/{connector_id}/oauth/authorize) before syncing.",
        )
    try:
        job_id = await sync.start(connector_id, "manual")
    except SyncAlreadyRunning as exc:
        raise conflict("sync_running", str(exc)) from None
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
    jobs, total = services.store.list_jobs(connector_id, skip=page.skip, limit=page.limit)
    return Page[JobOut](data=[job_out(j) for j in jobs], total=total)


@router.get("/jobs/{job_id}", response_model=JobOut, responses=_NOT_FOUND, summary="Get a job")
def get_job(job_id: str, services: ServicesDep) -> JobOut:
    return job_out(find_job(services.store, job_id))


@router.post(
    "/jobs/{job_id}/cancel",
    status_code=202,
    response_model=JobOut,
    responses={**_NOT_FOUND, 409: {"model": ErrorOut, "description": "the job has finished"}},
    summary="Ask a running job to stop; it ends as canceled and deletes nothing",
)
def cancel_job(job_id: str, services: ServicesDep, sync: SyncDep) -> JobOut:
    job = find_job(services.store, job_id)
    if not job.finished and sync.cancel(job_id):
        return job_out(services.store.get_job(job_id))
    job = services.store.get_job(job_id)  # it may have finished meanwhile
    if job.finished:
        raise conflict(
            "job_finished", f"Job {job_id} has already finished ({job.status}); nothing to cancel."
        )
    raise conflict(
        "job_not_cancelable",
        f"Job {job_id} is not run by this service (another pdsearch process runs it); "
        "cancel it there.",
    )
