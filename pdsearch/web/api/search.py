"""Search as a named user: only documents that user may see, counted and paged right."""

from __future__ import annotations

from fastapi import APIRouter

from pdsearch.search import search as run_search
from pdsearch.web.deps import ServicesDep
from pdsearch.web.schemas import SearchIn, SearchOut, SearchResultOut

router = APIRouter(tags=["search"])


@router.post("/search", response_model=SearchOut, summary="Search as a user")
def search(body: SearchIn, services: ServicesDep) -> SearchOut:
    results = run_search(
        services.index, services.store, body.query, body.user, body.limit, body.offset
    )
    return SearchOut(
        total=results.total,
        results=[
            SearchResultOut(
                id=h.id, type=h.type, title=h.title, snippet=h.snippet, url=h.url, score=h.score
            )
            for h in results.hits
        ],
    )
