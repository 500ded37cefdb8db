"""A connector's sync schedules: at intervals, by cron, or once at a given time; one per mode
(full or incremental)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from pdsearch.scheduler import ScheduleError
from pdsearch.web.api.common import link_to
from pdsearch.web.deps import ConnectorsDep
from pdsearch.web.errors import ApiError
from pdsearch.web.schemas import (
    ScheduleIn,
    ScheduleList,
    ScheduleMode,
    ScheduleOut,
    error_responses,
)

router = APIRouter(tags=["schedule"])

# Every schedule call needs the scheduler, which exists while the service runs.
_NOT_FOUND = error_responses(404, 503)
ModeQuery = Annotated[
    ScheduleMode, Query(description="which schedule: full (default) or incremental")
]


def _no_schedule(connector_id: str, mode: str) -> ApiError:
    which = "" if mode == "full" else f" {mode}"
    suffix = "" if mode == "full" else f' with "mode": "{mode}"'
    return ApiError(
        404,
        "not_found",
        f"Connector {connector_id!r} has no{which} schedule. Set one with PUT "
        f"/api/v1/connectors/{connector_id}/schedule{suffix}.",
    )


def schedule_out(described: dict[str, Any]) -> ScheduleOut:
    return ScheduleOut(
        mode=described.get("mode", "full"),
        interval_minutes=described.get("interval_minutes"),
        cron=described.get("cron"),
        timezone=described.get("timezone"),
        run_at=described.get("run_at"),
        next_run_at=described.get("next_run_at"),
        last_run_at=described.get("last_run_at"),
    )


@router.get(
    "/connectors/{connector_id}/schedules",
    response_model=ScheduleList,
    responses=_NOT_FOUND,
    summary="The connector's schedules (full and incremental) and when each fires next",
)
def list_schedules(connector_id: str, connectors: ConnectorsDep) -> ScheduleList:
    return ScheduleList(
        data=[schedule_out(d) for d in connectors.describe_schedules(connector_id)]
    )


@router.get(
    "/connectors/{connector_id}/schedule",
    response_model=ScheduleOut,
    responses=_NOT_FOUND,
    summary="The connector's schedule of one mode and when it fires next",
)
def get_schedule(
    connector_id: str, connectors: ConnectorsDep, mode: ModeQuery = "full"
) -> ScheduleOut:
    described = connectors.describe_schedule(connector_id, mode)
    if described is None:
        raise _no_schedule(connector_id, mode)
    return schedule_out(described)


_SAME_CONNECTOR = {"connector_id": "$request.path.connector_id"}


@router.put(
    "/connectors/{connector_id}/schedule",
    response_model=ScheduleOut,
    responses={
        200: {
            "links": {
                "GetSchedule": link_to(
                    "/connectors/{connector_id}/schedule", "GET", **_SAME_CONNECTOR
                ),
                "RemoveSchedule": link_to(
                    "/connectors/{connector_id}/schedule", "DELETE", **_SAME_CONNECTOR
                ),
            }
        },
        **_NOT_FOUND,
    },
    summary="Set (replace) the connector's schedule of one mode",
)
def put_schedule(connector_id: str, body: ScheduleIn, connectors: ConnectorsDep) -> ScheduleOut:
    spec: dict[str, Any] = body.model_dump(exclude_none=True, exclude={"mode"})
    try:
        described = connectors.set_schedule(connector_id, spec, body.mode)
    except ScheduleError as exc:
        raise ApiError(422, "validation_error", f"Invalid schedule: {exc}") from None
    return schedule_out(described)


@router.delete(
    "/connectors/{connector_id}/schedule",
    status_code=204,
    responses=_NOT_FOUND,
    summary="Remove the connector's schedule of one mode",
)
def delete_schedule(
    connector_id: str, connectors: ConnectorsDep, mode: ModeQuery = "full"
) -> Response:
    if not connectors.remove_schedule(connector_id, mode):
        raise _no_schedule(connector_id, mode)
    return Response(status_code=204)
