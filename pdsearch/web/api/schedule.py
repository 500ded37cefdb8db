"""A connector's sync schedule: at intervals, by cron, or once at a given time."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from pdsearch.scheduler import ScheduleError
from pdsearch.web.api.common import find_connector
from pdsearch.web.deps import SchedulerDep, ServicesDep
from pdsearch.web.errors import ApiError
from pdsearch.web.schemas import ErrorOut, ScheduleIn, ScheduleOut

router = APIRouter(tags=["schedule"])

_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": ErrorOut}}


def _no_schedule(connector_id: str) -> ApiError:
    return ApiError(
        404,
        "not_found",
        f"Connector {connector_id!r} has no schedule. Set one with PUT "
        f"/api/v1/connectors/{connector_id}/schedule.",
    )


def schedule_out(described: dict[str, Any]) -> ScheduleOut:
    return ScheduleOut(
        interval_minutes=described.get("interval_minutes"),
        cron=described.get("cron"),
        timezone=described.get("timezone"),
        run_at=described.get("run_at"),
        next_run_at=described.get("next_run_at"),
        last_run_at=described.get("last_run_at"),
    )


@router.get(
    "/connectors/{connector_id}/schedule",
    response_model=ScheduleOut,
    responses=_NOT_FOUND,
    summary="The connector's schedule and when it fires next",
)
def get_schedule(connector_id: str, services: ServicesDep, scheduler: SchedulerDep) -> ScheduleOut:
    find_connector(services.store, connector_id)
    described = scheduler.describe(connector_id)
    if described is None:
        raise _no_schedule(connector_id)
    return schedule_out(described)


@router.put(
    "/connectors/{connector_id}/schedule",
    response_model=ScheduleOut,
    responses=_NOT_FOUND,
    summary="Set (replace) the connector's schedule",
)
def put_schedule(
    connector_id: str, body: ScheduleIn, services: ServicesDep, scheduler: SchedulerDep
) -> ScheduleOut:
    find_connector(services.store, connector_id)
    spec: dict[str, Any] = body.model_dump(exclude_none=True)
    try:
        described = scheduler.set(connector_id, spec)
    except ScheduleError as exc:
        raise ApiError(422, "validation_error", f"Invalid schedule: {exc}") from None
    return schedule_out(described)


@router.delete(
    "/connectors/{connector_id}/schedule",
    status_code=204,
    responses=_NOT_FOUND,
    summary="Remove the connector's schedule",
)
def delete_schedule(connector_id: str, services: ServicesDep, scheduler: SchedulerDep) -> Response:
    find_connector(services.store, connector_id)
    if not scheduler.remove(connector_id):
        raise _no_schedule(connector_id)
    return Response(status_code=204)
