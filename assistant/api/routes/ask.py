"""POST /v1/ask: one question, one quoted answer."""

from __future__ import annotations

from fastapi import APIRouter

from assistant.api.deps import ComputeDep, ReadAccess, ServiceDep
from assistant.api.schemas import AskRequest
from assistant.models import Answer

router = APIRouter(prefix="/v1", tags=["answers"])


@router.post("/ask", response_model=Answer, summary="Answer a question with verbatim quotes")
async def ask(body: AskRequest, service: ServiceDep, compute: ComputeDep,
              _: ReadAccess) -> Answer:
    """Sentences quoted verbatim from the sources with `[n]` markers and citations, or
    `abstained: true` when the sources do not answer."""
    return await compute(service.ask, body.question, filters=body.core_filters())
