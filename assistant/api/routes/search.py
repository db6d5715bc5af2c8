"""POST /v1/search: hybrid search over chunks."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from assistant.api.deps import RetrieverDep
from assistant.retrieval import make_filters

router = APIRouter(prefix="/v1", tags=["search"])


class SearchFilters(BaseModel):
    """Metadata filters; all are optional and combine with AND."""

    publisher: list[str] | None = Field(None, description="Any of these publishers.")
    source: list[str] | None = Field(None, description="Sources; a trailing / or * is a prefix.")
    since: str | None = Field(None, description="Published on or after (YYYY-MM-DD).")
    until: str | None = Field(None, description="Published on or before (YYYY-MM-DD).")


class SearchRequest(BaseModel):
    """A search query."""

    query: str = Field(..., description="Natural-language or keyword query.")
    k: int = Field(10, ge=1, le=100, description="Number of results.")
    filters: SearchFilters | None = None


class SearchResult(BaseModel):
    """One ranked chunk; `text == document.text[char_start:char_end]`."""

    rank: int
    score: float
    chunk_id: int
    doc_id: str
    source: str
    title: str | None
    section: str | None
    char_start: int
    char_end: int
    text: str
    publisher: str | None = None
    published: str | None = None
    url: str | None = None


class SearchResponse(BaseModel):
    """Search results, best first."""

    query: str
    results: list[SearchResult]


@router.post("/search", response_model=SearchResponse, summary="Hybrid search over chunks")
async def search(body: SearchRequest, retriever: RetrieverDep) -> SearchResponse:
    """Dense and BM25 retrieval fused by reciprocal rank, with optional metadata filters."""
    f = body.filters or SearchFilters()
    filters = make_filters(publishers=f.publisher, sources=f.source, since=f.since, until=f.until)
    hits = await run_in_threadpool(retriever.search, body.query, k=body.k, filters=filters)
    return SearchResponse(
        query=body.query,
        results=[SearchResult(**{k: v for k, v in h.to_dict().items() if k != "scores"})
                 for h in hits],
    )
