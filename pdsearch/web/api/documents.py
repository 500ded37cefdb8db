"""The indexed documents as stored, ``sys_racl`` included (the API token is the admin's)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from pdsearch.index.base import Document
from pdsearch.web.api.common import find_connector
from pdsearch.web.deps import PagingDep, ServicesDep
from pdsearch.web.errors import not_found
from pdsearch.web.schemas import DocumentOut, ErrorOut, Page

router = APIRouter(tags=["documents"])

_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": ErrorOut}}


def document_out(doc: Document) -> DocumentOut:
    return DocumentOut(
        id=doc.id,
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
    "/documents/{document_id}",
    response_model=DocumentOut,
    responses=_NOT_FOUND,
    summary="One document, e.g. escalation_policy:PABC123",
)
def get_document(document_id: str, services: ServicesDep) -> DocumentOut:
    doc = services.index.get(document_id)
    if doc is None:
        raise not_found("document", document_id)
    return document_out(doc)
