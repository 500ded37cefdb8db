"""Connectors: create, read, change, remove, and check the connection to PagerDuty."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Request, Response

from pdsearch.sync.connection import ConnectorError, check_connection
from pdsearch.web.api.common import connect_error, connector_out, find_connector
from pdsearch.web.deps import PagingDep, ServicesDep, SyncDep
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
)

log = logging.getLogger(__name__)

router = APIRouter(tags=["connectors"])

_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": ErrorOut}}


def _credentials(auth: AuthIn) -> tuple[str, dict[str, str]]:
    if isinstance(auth, ApiKeyAuthIn):
        return "api_key", {"api_key": auth.api_key.get_secret_value()}
    return "oauth2", {
        "client_id": auth.client_id,
        "client_secret": auth.client_secret.get_secret_value(),
    }


@router.post(
    "/connectors",
    status_code=201,
    response_model=ConnectorOut,
    responses={409: {"model": ErrorOut, "description": "the name is taken"}},
    summary="Create a connector",
)
def create_connector(
    body: ConnectorCreate, request: Request, services: ServicesDep
) -> ConnectorOut:
    auth_type, creds = _credentials(body.auth)
    connector = services.store.create_connector(
        body.name,
        auth_type,
        body.region,
        creds,
        base_url=body.base_url,
        oauth_base_url=body.oauth_base_url,
    )
    log.info("created connector %s (%s, %s)", connector.id, auth_type, body.region)
    return connector_out(connector, services.settings, request)


@router.get("/connectors", response_model=Page[ConnectorOut], summary="List connectors")
def list_connectors(request: Request, services: ServicesDep, page: PagingDep) -> Page[ConnectorOut]:
    items, total = services.store.list_connectors(skip=page.skip, limit=page.limit)
    return Page[ConnectorOut](
        data=[connector_out(c, services.settings, request) for c in items], total=total
    )


@router.get(
    "/connectors/{connector_id}",
    response_model=ConnectorOut,
    responses=_NOT_FOUND,
    summary="Get a connector",
)
def get_connector(connector_id: str, request: Request, services: ServicesDep) -> ConnectorOut:
    return connector_out(find_connector(services.store, connector_id), services.settings, request)


@router.patch(
    "/connectors/{connector_id}",
    response_model=ConnectorOut,
    responses={**_NOT_FOUND, 409: {"model": ErrorOut}},
    summary="Change a connector's name, region, base URLs or credentials",
)
def update_connector(
    connector_id: str, body: ConnectorUpdate, request: Request, services: ServicesDep
) -> ConnectorOut:
    store = services.store
    connector = find_connector(store, connector_id)
    given = body.model_fields_set
    changes: dict[str, Any] = {}
    for key in ("name", "region", "base_url", "oauth_base_url"):
        if key in given and getattr(body, key) != getattr(connector, key):
            changes[key] = getattr(body, key)
    # Where or how we reach PagerDuty changed: the last check no longer holds.
    reconnect = bool({"region", "base_url", "oauth_base_url"} & changes.keys())
    if changes:
        connector = store.update_connector(connector_id, **changes)
    if body.auth is not None:
        auth_type, creds = _credentials(body.auth)
        store.set_credentials(connector_id, creds)
        if auth_type != connector.auth_type:
            connector = store.update_connector(connector_id, auth_type=auth_type)
        reconnect = True
    if reconnect:
        has_token = bool(store.get_credentials(connector_id).get("access_token"))
        status = (
            "needs_authorization" if connector.auth_type == "oauth2" and not has_token else "new"
        )
        connector = store.set_status(connector_id, status, error=None)
    return connector_out(connector, services.settings, request)


@router.delete(
    "/connectors/{connector_id}",
    status_code=204,
    responses=_NOT_FOUND,
    summary="Remove a connector, its documents, jobs, schedule and entities",
)
async def delete_connector(connector_id: str, services: ServicesDep, sync: SyncDep) -> Response:
    find_connector(services.store, connector_id)
    if services.scheduler is not None:
        services.scheduler.remove(connector_id)
    # A sync still writing would put documents back after the sweep below.
    await sync.stop(connector_id)
    removed = services.index.delete_source(connector_id)
    services.store.delete_connector(connector_id)
    log.info("removed connector %s and its %d documents", connector_id, removed)
    return Response(status_code=204)


@router.post(
    "/connectors/{connector_id}/connect",
    response_model=ConnectOut,
    responses={
        **_NOT_FOUND,
        400: {"model": ErrorOut, "description": "PagerDuty refused the credentials"},
        409: {"model": ErrorOut, "description": "an OAuth connector not yet authorized"},
        502: {"model": ErrorOut, "description": "PagerDuty could not be reached or failed"},
    },
    summary="Check the credentials against PagerDuty",
)
async def connect(connector_id: str, services: ServicesDep) -> ConnectOut:
    connector = find_connector(services.store, connector_id)
    try:
        info = await check_connection(connector, services.store, transport=services.transport)
    except ConnectorError as exc:
        raise connect_error(exc, connector) from None
    return ConnectOut(
        status="connected",
        account=AccountOut(
            subdomain=info.subdomain,
            account_level=getattr(info, "account_level", None),
            abilities=sorted(getattr(info, "abilities", None) or []),
        ),
    )
