"""The indexed documents as stored, ``sys_racl`` included (the API token is the admin's).

A document belongs to one connector: ``(connector_id, id)`` is its key. Two connectors to one
PagerDuty account each hold their own ``escalation_policy:P...``; ``GET /documents/{id}`` then
asks which one is meant (409) instead of answering with either.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from pdsearch.index.base import Document
from pdsearch.web.api.common import conflict, find_connector
from pdsearch.web.deps import PagingDep, ServicesDep
from pdsearch.web.errors import not_found
from pdsearch.web.schemas import DocumentOut, ErrorOut, Page

router = APIRouter(tags=["documents"])

_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": ErrorOut}}


def document_out(doc: Document) -> DocumentOut:
    return DocumentOut(
        id=doc.id,
        connector_id=doc.source,
        type=doc.type,
        title=doc.title,
        content=doc.content,
        url=doc.url,
        sys_racl=list(doc.sys_racl),
        source=doc.source,
        content_hash=doc.content_hash,
    )


@router.get(
    "/connectors/{connector_id}/documents",
    response_model=Page[DocumentOut],
    responses=_NOT_FOUND,
    summary="A connector's indexed documents",
)
def list_documents(connector_id: str, services: ServicesDep, page: PagingDep) -> Page[DocumentOut]:
    find_connector(services.store, connector_id)
    docs, total = services.index.list(connector_id, page.skip, page.limit)
    return Page[DocumentOut](data=[document_out(d) for d in docs], total=total)


@router.get(
    "/connectors/{connector_id}/documents/{document_id}",
    response_model=DocumentOut,
    responses=_NOT_FOUND,
    summary="One document of a connector, e.g. escalation_policy:PABC123",
)
def get_connector_document(
    connector_id: str, document_id: str, services: ServicesDep
) -> DocumentOut:
    find_connector(services.store, connector_id)
    doc = services.index.get(connector_id, document_id)
    if doc is None:
        raise not_found("document", document_id)
    return document_out(doc)


@router.get(
    "/documents/{document_id}",
    response_model=DocumentOut,
    responses={**_NOT_FOUND, 409: {"model": ErrorOut}},
    summary="One document, e.g. escalation_policy:PABC123",
    description="When several connectors hold a document with this id (two connectors to one "
    "PagerDuty account), name the one you mean with `connector_id`, or read it through "
    "`/connectors/{connector_id}/documents/{document_id}`; without it the answer is 409 "
    "`ambiguous_document`, never one of them at random.",
)
def get_document(
    document_id: str,
    services: ServicesDep,
    connector_id: Annotated[
        str | None, Query(max_length=200, description="the connector holding the document")
    ] = None,
) -> DocumentOut:
    if connector_id is not None:
        return get_connector_document(connector_id, document_id, services)
    found = services.index.find(document_id)
    if not found:
        raise not_found("document", document_id)
    if len(found) > 1:
        holders = ", ".join(d.source for d in found)
        raise conflict(
            "ambiguous_document",
            f"{len(found)} connectors hold a document {document_id!r} ({holders}). Name one "
            f"with ?connector_id= or read /api/v1/connectors/<id>/documents/{document_id}.",
        )
    return document_out(found[0])
