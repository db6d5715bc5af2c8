"""POST /v1/chat: multi-turn questions, optionally streamed as server-sent events."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse

from assistant.api.deps import ReadAccess, ServiceDep
from assistant.api.routes.search import to_filters
from assistant.api.schemas import Answer, ChatRequest, ChatResponse

router = APIRouter(prefix="/v1", tags=["chat"])


def text_pieces(text: str, words: int = 4) -> list[str]:
    """The answer text in small pieces of whole words, for incremental display."""
    parts = text.split(" ")
    return [" ".join(parts[i : i + words]) + (" " if i + words < len(parts) else "")
            for i in range(0, len(parts), words)]


@router.post(
    "/chat", response_model=ChatResponse, summary="One turn of a conversation",
    responses={200: {"content": {"text/event-stream": {
        "description": "With `stream: true`: events `meta` {conversation_id, question}, one "
                       "`quote` {text, citation} per quote, `delta` {text} pieces of the answer "
                       "text, then `done` (the whole ChatResponse)."}}}},
)
async def chat(body: ChatRequest, service: ServiceDep, _: ReadAccess):  # noqa: ANN201
    """Follow-ups are read in the conversation's context ("And Iran?")."""
    filters = to_filters(body.filters)
    # Answer before any byte is sent, so that errors still get their status code.
    cid, question, answer = await run_in_threadpool(
        service.chat, body.message, body.conversation_id, filters=filters)
    reply = ChatResponse(conversation_id=cid, question=question,
                         answer=Answer.model_validate(answer.to_dict()))
    if not body.stream:
        return reply

    async def events() -> AsyncIterator[str]:
        yield sse("meta", {"conversation_id": cid, "question": question})
        for quote in reply.answer.quotes:
            yield sse("quote", quote.model_dump())
        for piece in text_pieces(reply.answer.answer):
            yield sse("delta", {"text": piece})
        yield sse("done", reply.model_dump())

    return event_stream(events())


def sse(event: str | None, data: object) -> str:
    """One server-sent event with a JSON payload (JSON never contains a raw newline)."""
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(data, ensure_ascii=False)}\n\n"


def event_stream(events: AsyncIterator[str]) -> StreamingResponse:
    """A text/event-stream response that proxies must not buffer."""
    return StreamingResponse(events, media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
