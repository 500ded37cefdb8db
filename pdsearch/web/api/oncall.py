"""Who is on call, for what a user may see (DESIGN 2.4 ``GET /oncall``, 2.5)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from pdsearch.oncall import OutsideWindowError, who_is_on_call
from pdsearch.web.deps import ServicesDep
from pdsearch.web.errors import ApiError
from pdsearch.web.schemas import OnCallOut, error_responses

router = APIRouter(tags=["search"])


class OnCallDocumentOut(BaseModel):
    id: str
    connector_id: str
    type: str
    title: str
    url: str
    oncall: OnCallOut | None = Field(description="null where unknown")


class OnCallListOut(BaseModel):
    at: str = Field(description="the moment answered, ISO 8601 UTC")
    total: int = Field(description="matching documents the user may see")
    data: list[OnCallDocumentOut]


@router.get(
    "/oncall",
    response_model=OnCallListOut,
    responses=error_responses(422),
    summary="Who is on call, for the policies and schedules a user may see",
)
def oncall(
    services: ServicesDep,
    user: Annotated[str, Query(min_length=1, max_length=320, description="the asker's e-mail")],
    query: Annotated[str, Query(max_length=1000, description="what to look for; a question "
                                "('who is on call for payments') works; blank: everything")] = "",
    at: Annotated[datetime | None, Query(description="ISO 8601 with a zone; default now")] = None,
    skip: Annotated[int, Query(ge=0, le=10_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
) -> OnCallListOut:
    if at is not None and at.tzinfo is None:
        raise ApiError(422, "invalid_time", "at needs a time zone, e.g. 2026-12-05T09:00:00Z.")
    try:
        found = who_is_on_call(
            services.index, services.store, user, query, at, limit=limit, offset=skip,
            embedder=services.embedder,
        )
    except OutsideWindowError as exc:
        raise ApiError(422, "outside_oncall_window", str(exc)) from None
    return OnCallListOut(
        at=found.at.isoformat().replace("+00:00", "Z"),
        total=found.total,
        data=[
            OnCallDocumentOut(
                id=r.hit.id, connector_id=r.hit.source, type=r.hit.type, title=r.hit.title,
                url=r.hit.url,
                oncall=OnCallOut.model_validate(r.oncall) if r.oncall is not None else None,
            )
            for r in found.results
        ],
    )
