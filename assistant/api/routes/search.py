"""POST /v1/search: hybrid search over chunks."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool

from assistant.api.deps import ReadAccess, ServiceDep
from assistant.api.schemas import Filters, SearchRequest, SearchResponse, SearchResult
from assistant.retrieval import make_filters
from assistant.store import Filters as StoreFilters

router = APIRouter(prefix="/v1", tags=["search"])


def to_filters(f: Filters | None) -> StoreFilters:
    """Validated store filters from the request shape."""
    f = f or Filters()
    return make_filters(publishers=f.publisher, sources=f.source, since=f.since, until=f.until)


@router.post("/search", response_model=SearchResponse, summary="Hybrid search over chunks")
async def search(body: SearchRequest, service: ServiceDep, _: ReadAccess) -> SearchResponse:
    """Dense and BM25 retrieval fused by reciprocal rank, with optional metadata filters."""
    filters = to_filters(body.filters)
    hits = await run_in_threadpool(service.search, body.query, k=body.k, filters=filters)
    return SearchResponse(
        query=body.query,
        results=[SearchResult(**{k: v for k, v in h.to_dict().items() if k != "scores"})
                 for h in hits],
    )
