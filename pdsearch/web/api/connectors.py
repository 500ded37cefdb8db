"""Connectors: create, read, change, remove, and check the connection to PagerDuty."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Request, Response

from pdsearch.connectors import ApiKey, Credentials, OAuthClient
from pdsearch.sync.connection import ConnectorError
from pdsearch.web.api.common import connect_error, connector_out, find_connector, link_to
from pdsearch.web.deps import ConnectorsDep, PagingDep, ServicesDep
from pdsearch.web.schemas import (
    AccountOut,
    ApiKeyAuthIn,
    AuthIn,
    ConnectorCreate,
    ConnectorOut,
    ConnectorUpdate,
    ConnectOut,
    ErrorOut,
    Page,
    error_responses,
)

log = logging.getLogger(__name__)

router = APIRouter(tags=["connectors"])

_NOT_FOUND = error_responses(404)

_CONNECTOR_ID = {"connector_id": "$response.body#/id"}
#: From a new connector to everything done with it.
_CONNECTOR_LINKS: dict[str, Any] = {
    name: link_to(path, method, **_CONNECTOR_ID)
    for name, path, method in (
        ("GetConnector", "/connectors/{connector_id}", "GET"),
        ("ChangeConnector", "/connectors/{connector_id}", "PATCH"),
        ("RemoveConnector", "/connectors/{connector_id}", "DELETE"),
        ("Connect", "/connectors/{connector_id}/connect", "POST"),
        ("StartSync", "/connectors/{connector_id}/sync", "POST"),
        ("ListJobs", "/connectors/{connector_id}/jobs", "GET"),
        # Not GET or DELETE of the schedule: a new connector has none (404 until PUT).
        ("SetSchedule", "/connectors/{connector_id}/schedule", "PUT"),
        ("ListEntities", "/connectors/{connector_id}/permission-entities", "GET"),
        ("AuthorizeLink", "/connectors/{connector_id}/oauth/authorize", "POST"),
    )
}


def _credentials(auth: AuthIn) -> Credentials:
    if isinstance(auth, ApiKeyAuthIn):
        return ApiKey(auth.api_key.get_secret_value())
    return OAuthClient(auth.client_id, auth.client_secret.get_secret_value())


@router.post(
    "/connectors",
    status_code=201,
    response_model=ConnectorOut,
    responses={
        201: {"links": _CONNECTOR_LINKS},
        409: {"model": ErrorOut, "description": "the name is taken (code conflict)"},
    },
    summary="Create a connector",
)
def create_connector(
    body: ConnectorCreate, request: Request, services: ServicesDep, connectors: ConnectorsDep
) -> ConnectorOut:
    connector = connectors.create(
        body.name,
        _credentials(body.auth),
        body.region,
        base_url=body.base_url,
        oauth_base_url=body.oauth_base_url,
        default_schedules=body.default_schedules,
    )
    log.info("created connector %s (%s, %s)", connector.id, connector.auth_type, body.region)
    return connector_out(connector, services.settings, request, services.store)


@router.get("/connectors", response_model=Page[ConnectorOut], summary="List connectors")
def list_connectors(request: Request, services: ServicesDep, page: PagingDep) -> Page[ConnectorOut]:
    items, total = services.store.connectors.list(skip=page.skip, limit=page.limit)
    return Page[ConnectorOut](
        data=[connector_out(c, services.settings, request, services.store) for c in items],
        total=total,
    )


@router.get(
    "/connectors/{connector_id}",
    response_model=ConnectorOut,
    responses=_NOT_FOUND,
    summary="Get a connector",
)
def get_connector(connector_id: str, request: Request, services: ServicesDep) -> ConnectorOut:
    connector = find_connector(services.store, connector_id)
    return connector_out(connector, services.settings, request, services.store)


@router.patch(
    "/connectors/{connector_id}",
    response_model=ConnectorOut,
    responses={
        **_NOT_FOUND,
        409: {"model": ErrorOut, "description": "the name is taken (code conflict)"},
    },
    summary="Change a connector's name, region, base URLs or credentials",
)
def update_connector(
    connector_id: str,
    body: ConnectorUpdate,
    request: Request,
    services: ServicesDep,
    connectors: ConnectorsDep,
) -> ConnectorOut:
    given = body.model_fields_set
    changes: dict[str, Any] = {
        key: getattr(body, key)
        for key in ("name", "region", "base_url", "oauth_base_url")
        if key in given
    }
    credentials = _credentials(body.auth) if body.auth is not None else None
    connector = connectors.update(connector_id, changes, credentials)
    return connector_out(connector, services.settings, request, services.store)


@router.delete(
    "/connectors/{connector_id}",
    status_code=204,
    responses={
        **error_responses(404),
        409: {"model": ErrorOut, "description": "a sync of it runs in another process and did "
              "not stop (conflict)"},
    },
    summary="Remove a connector, its documents, jobs, schedule and entities",
)
async def delete_connector(connector_id: str, connectors: ConnectorsDep) -> Response:
    await connectors.remove(connector_id)
    return Response(status_code=204)


@router.post(
    "/connectors/{connector_id}/connect",
    response_model=ConnectOut,
    responses={
        **error_responses(400, 404, 502),
        409: {"model": ErrorOut, "description": "an OAuth connector not yet authorized"},
        503: {"model": ErrorOut, "description": "PagerDuty's rate limit outlasted the retries"},
    },
    summary="Check the credentials against PagerDuty",
)
async def connect(connector_id: str, connectors: ConnectorsDep) -> ConnectOut:
    try:
        connection = await connectors.connect(connector_id)
    except ConnectorError as exc:
        connector = connectors.store.connectors.get(connector_id)
        raise connect_error(exc, connector) from None
    info = connection.info
    return ConnectOut(
        status="connected",
        account=AccountOut(
            subdomain=info.subdomain,
            account_level=getattr(info, "account_level", None),
            abilities=sorted(getattr(info, "abilities", None) or []),
        ),
        warnings=connection.warnings,
    )
