"""POST /v1/ask: one question, one quoted answer."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool

from assistant.api.deps import ReadAccess, ServiceDep
from assistant.api.schemas import AskRequest
from assistant.models import Answer

router = APIRouter(prefix="/v1", tags=["answers"])


@router.post("/ask", response_model=Answer, summary="Answer a question with verbatim quotes")
async def ask(body: AskRequest, service: ServiceDep, _: ReadAccess) -> Answer:
    """Sentences quoted verbatim from the sources with `[n]` markers and citations, or
    `abstained: true` when the sources do not answer."""
    return await run_in_threadpool(service.ask, body.question, filters=body.core_filters())
