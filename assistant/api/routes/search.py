"""POST /v1/search: hybrid search over chunks."""

from __future__ import annotations

from fastapi import APIRouter

from assistant.api.deps import ComputeDep, ReadAccess, ServiceDep
from assistant.api.schemas import SearchRequest, SearchResponse

router = APIRouter(prefix="/v1", tags=["search"])


@router.post("/search", response_model=SearchResponse, summary="Hybrid search over chunks")
async def search(body: SearchRequest, service: ServiceDep, compute: ComputeDep,
                 _: ReadAccess) -> SearchResponse:
    """Dense and BM25 retrieval fused by reciprocal rank, with optional metadata filters."""
    hits = await compute(service.search, body.query, k=body.k,
                                   filters=body.core_filters())
    return SearchResponse(query=body.query, results=hits)
