"""/v1/ingest/urls: fetch article pages, feeds and sitemaps and add what they hold."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from assistant.api.deps import ServiceDep, WriteAccess
from assistant.api.routes.documents import ingest_result
from assistant.api.schemas import Error, IngestResult, UrlsBody

router = APIRouter(prefix="/v1/ingest", tags=["documents"])


@router.post("/urls", status_code=201, response_model=IngestResult,
             summary="Add documents from the web (article pages, RSS/Atom feeds, sitemaps)",
             responses={401: {"model": Error}, 403: {"model": Error}, 422: {"model": Error}})
async def ingest_urls(body: UrlsBody, service: ServiceDep, _: WriteAccess) -> JSONResponse:
    """Each URL is fetched (a feed's or sitemap's pages too) exactly as `assistant ingest URL`
    fetches it: robots.txt obeyed, only public addresses unless ASSISTANT_FETCH_ALLOWED_HOSTS
    allows others, unchanged pages skipped. A page's doc id is its URL. The request returns
    when every page is fetched and written."""
    report = await run_in_threadpool(service.add_urls, body.urls)
    return ingest_result(report)
