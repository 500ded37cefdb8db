"""Search as a named user: only documents that user may see, counted and paged right."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter

from pdsearch.oncall import answers
from pdsearch.search import search as run_search
from pdsearch.web.deps import ServicesDep
from pdsearch.web.schemas import OnCallOut, SearchIn, SearchOut, SearchResultOut

router = APIRouter(tags=["search"])


@router.post("/search", response_model=SearchOut, summary="Search as a user")
def search(body: SearchIn, services: ServicesDep) -> SearchOut:
    results = run_search(
        services.index, services.store.entities, body.query, body.user, body.limit, body.offset,
        embedder=services.embedder,
    )
    oncall = answers(services.store.oncall, results.hits, datetime.now(UTC))
    return SearchOut(
        total=results.total,
        notice=results.notice,
        results=[
            SearchResultOut(
                id=h.id, connector_id=h.source, type=h.type, title=h.title,
                snippet=h.snippet, url=h.url, score=h.score,
                oncall=OnCallOut.model_validate(a) if a is not None else None,
            )
            for h, a in zip(results.hits, oncall, strict=True)
        ],
    )
