"""POST /v1/chat: multi-turn questions, optionally streamed as server-sent events."""

from __future__ import annotations

from collections.abc import AsyncIterator

from fastapi import APIRouter

from assistant.api.deps import ComputeDep, ReadAccess, ServiceDep
from assistant.api.schemas import ChatRequest
from assistant.api.sse import event_stream, sse, text_pieces
from assistant.models import ChatReply

router = APIRouter(prefix="/v1", tags=["chat"])


@router.post(
    "/chat", response_model=ChatReply, summary="One turn of a conversation",
    responses={200: {"content": {"text/event-stream": {
        "description": "With `stream: true`: events `meta` {conversation_id, question}, one "
                       "`quote` {text, citation} per quote, `delta` {text} pieces of the answer "
                       "text, then `done` (the whole ChatReply)."}}}},
)
async def chat(body: ChatRequest, service: ServiceDep, compute: ComputeDep,  # noqa: ANN201
               _: ReadAccess):
    """Follow-ups are read in the conversation's context ("And Iran?")."""
    # Answer before any byte is sent, so that errors still get their status code.
    reply = await compute(service.chat, body.message, body.conversation_id,
                          filters=body.core_filters())
    if not body.stream:
        return reply

    async def events() -> AsyncIterator[str]:
        yield sse("meta", {"conversation_id": reply.conversation_id, "question": reply.question})
        for quote in reply.answer.quotes:
            yield sse("quote", quote.model_dump())
        for piece in text_pieces(reply.answer.answer):
            yield sse("delta", {"text": piece})
        yield sse("done", reply.model_dump())

    return event_stream(events())
