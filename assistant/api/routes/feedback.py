"""/v1/feedback: readers rate answers (thumbs up or down); the newsroom exports the ratings."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from assistant.api.deps import ReadAccess, ServiceDep, WriteAccess
from assistant.api.schemas import Error
from assistant.models import Feedback

router = APIRouter(prefix="/v1/feedback", tags=["feedback"])


class FeedbackList(BaseModel):
    """Stored ratings, oldest first."""

    count: int
    items: list[Feedback]


@router.post("", status_code=201, response_model=Feedback, summary="Rate an answer",
             responses={422: {"model": Error}})
async def rate(body: Feedback, service: ServiceDep, _: ReadAccess) -> Feedback:
    """A reader's thumbs up or down on one answer, with the question, the answer text and its
    citations as shown. Rating the same answer `id` again replaces the earlier rating. Open to
    whoever may ask (the widget sends it with its token)."""
    return await run_in_threadpool(service.rate, body.model_copy(update={"created": None}))


@router.get("", response_model=FeedbackList, summary="Export ratings",
            responses={200: {"content": {"application/x-ndjson": {}}}, 401: {"model": Error}})
async def export(service: ServiceDep, _: WriteAccess,
                 since: Annotated[date | None, Query(description="Only ratings from this day "
                                                     "on (UTC).")] = None,
                 rating: Literal["up", "down"] | None = None,
                 format: Annotated[Literal["json", "jsonl"], Query(  # noqa: A002 - query name
                     description="`jsonl`: one rating per line, for evaluation scripts.")] = "json",
                 ) -> FeedbackList | StreamingResponse:
    """Every stored rating (key required), as `assistant feedback` writes them."""
    items = await run_in_threadpool(
        lambda: list(service.feedback(since=since.isoformat() if since else None, rating=rating)))
    if format == "jsonl":
        def lines() -> Iterator[str]:
            for item in items:
                yield item.model_dump_json() + "\n"
        return StreamingResponse(lines(), media_type="application/x-ndjson", headers={
            "Content-Disposition": 'attachment; filename="feedback.jsonl"'})
    return FeedbackList(count=len(items), items=items)
