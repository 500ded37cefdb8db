"""The Permission Entity API, shaped like Kore.ai Search AI's (DESIGN.md 2.2)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from pdsearch.store import EntityRecord, NotFoundError
from pdsearch.web.api.common import find_connector, link_to
from pdsearch.web.deps import PagingDep, ServicesDep
from pdsearch.web.errors import ApiError
from pdsearch.web.schemas import EntityOut, ErrorOut, Page, UserListIn

router = APIRouter(tags=["permission entities"])

_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": ErrorOut}}


def entity_out(record: EntityRecord) -> EntityOut:
    return EntityOut(**record.to_dict())


def _no_entity(connector_id: str, entity_id: str) -> ApiError:
    return ApiError(
        404,
        "not_found",
        f"Connector {connector_id!r} has no permission entity {entity_id!r}. Entities are the "
        "account's subdomain and its team ids; run a sync to derive them.",
    )


_ENTITY = {
    "connector_id": "$request.path.connector_id",
    "entity_id": "$response.body#/data/0/entityId",
}


@router.get(
    "/connectors/{connector_id}/permission-entities",
    response_model=Page[EntityOut],
    responses={
        200: {
            "links": {
                name: link_to("/connectors/{connector_id}/permission-entities/{entity_id}",
                              method, **_ENTITY)
                for name, method in (
                    ("GetEntity", "GET"), ("AddUsers", "PUT"), ("RemoveUsers", "DELETE")
                )
            }
        },
        **_NOT_FOUND,
    },
    summary="List permission entities with their members",
)
def list_entities(connector_id: str, services: ServicesDep, page: PagingDep) -> Page[EntityOut]:
    find_connector(services.store, connector_id)
    items, total = services.store.entities.list(connector_id, skip=page.skip, limit=page.limit)
    return Page[EntityOut](data=[entity_out(e) for e in items], total=total)


@router.get(
    "/connectors/{connector_id}/permission-entities/{entity_id}",
    response_model=EntityOut,
    responses=_NOT_FOUND,
    summary="Get one permission entity",
)
def get_entity(connector_id: str, entity_id: str, services: ServicesDep) -> EntityOut:
    find_connector(services.store, connector_id)
    record = services.store.entities.get(connector_id, entity_id)
    if record is None:
        raise _no_entity(connector_id, entity_id)
    return entity_out(record)


@router.put(
    "/connectors/{connector_id}/permission-entities/{entity_id}",
    response_model=EntityOut,
    responses=_NOT_FOUND,
    summary="Add users (by e-mail) to an entity by hand",
)
def add_users(
    connector_id: str, entity_id: str, body: UserListIn, services: ServicesDep
) -> EntityOut:
    find_connector(services.store, connector_id)
    try:
        record = services.store.entities.add_manual_members(connector_id, entity_id, body.userList)
    except NotFoundError:
        raise _no_entity(connector_id, entity_id) from None
    return entity_out(record)


@router.delete(
    "/connectors/{connector_id}/permission-entities/{entity_id}",
    response_model=EntityOut,
    responses=_NOT_FOUND,
    summary="Remove users added by hand (derived members follow PagerDuty)",
)
def remove_users(
    connector_id: str, entity_id: str, body: UserListIn, services: ServicesDep
) -> EntityOut:
    find_connector(services.store, connector_id)
    try:
        record = services.store.entities.remove_manual_members(
            connector_id, entity_id, body.userList
        )
    except NotFoundError:
        raise _no_entity(connector_id, entity_id) from None
    return entity_out(record)
