"""OpenAI-compatible chat completions, so any OpenAI client can use the assistant as a model."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from typing import Any, Literal

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from assistant.answers import Turn
from assistant.api.deps import ReadAccess, ServiceDep
from assistant.api.sse import event_stream, sse, text_pieces
from assistant.errors import QueryError
from assistant.models import Answer, Citation

router = APIRouter(prefix="/v1", tags=["openai"])
MODEL_ID = "assistant"


class ContentPart(BaseModel):
    """A part of a multi-part message; only text parts are read."""

    model_config = ConfigDict(extra="allow")
    type: str
    text: str | None = None


class Message(BaseModel):
    """An OpenAI chat message."""

    model_config = ConfigDict(extra="allow")
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[ContentPart] | None = None

    def text(self) -> str:
        """The message's text."""
        if isinstance(self.content, list):
            return " ".join(p.text for p in self.content if p.type == "text" and p.text)
        return self.content or ""


class CompletionRequest(BaseModel):
    """The OpenAI request; sampling options are accepted and ignored (answers are quotes)."""

    model_config = ConfigDict(extra="allow")
    model: str = Field(MODEL_ID, max_length=200)
    messages: list[Message] = Field(..., min_length=1, max_length=200)
    stream: bool = False


def _sources(citations: list[Citation]) -> str:
    lines = []
    for c in citations:
        meta = ", ".join(x for x in (c.publisher, c.published[:10] if c.published else None) if x)
        where = c.url or c.source
        lines.append(f"[{c.n}] {c.title or c.source}" + (f" ({meta})" if meta else "") + f" — {where}")
    return "\n\nSources:\n" + "\n".join(lines) if lines else ""


@router.get("/models", summary="Models (OpenAI-compatible)")
async def models(_: ReadAccess) -> dict[str, Any]:
    """The one model this service offers."""
    return {"object": "list", "data": [{"id": MODEL_ID, "object": "model", "created": 0,
                                        "owned_by": "assistant"}]}


@router.post("/chat/completions", summary="Chat completions (OpenAI-compatible)")
async def completions(body: CompletionRequest, service: ServiceDep, _: ReadAccess):
    """The last user message is answered in the context of the earlier ones; `content` carries
    the answer with [n] markers and a source list, and `citations`/`quotes` carry the same as
    structured data beside `choices`."""
    turns: list[Turn] = []  # earlier user messages, each with the assistant's reply to it
    for m in body.messages:
        if m.role == "user":
            turns.append(Turn(m.text()))
        elif m.role == "assistant" and turns and not turns[-1].answer:
            turns[-1] = Turn(turns[-1].question, m.text().split("\n\nSources:")[0])
    if not turns or not turns[-1].question.strip():
        raise QueryError("the last user message is empty")
    follow = await run_in_threadpool(service.follow_up, turns[-1].question, turns[:-1])
    question = follow.question
    if follow.ask_back:
        answer = Answer(question=question, answer=follow.ask_back, quotes=[], citations=[],
                        confidence=0.0, abstained=True)
    else:
        answer = await run_in_threadpool(service.ask, question)
    content = answer.answer + _sources(answer.citations)
    extra = {"citations": [c.model_dump() for c in answer.citations],
             "quotes": [q.model_dump() for q in answer.quotes],
             "abstained": answer.abstained, "confidence": answer.confidence,
             "question": question}
    cid, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
    base = {"id": cid, "created": created, "model": body.model or MODEL_ID}
    if not body.stream:
        prompt_words = sum(len(m.text().split()) for m in body.messages)
        return {**base, "object": "chat.completion",
                "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None,
                             "message": {"role": "assistant", "content": content}}],
                "usage": {"prompt_tokens": prompt_words, "completion_tokens": len(content.split()),
                          "total_tokens": prompt_words + len(content.split())},
                **extra}

    def chunk(delta: dict[str, Any], finish: str | None = None, **more: Any) -> str:
        return sse(None, {**base, "object": "chat.completion.chunk", "choices": [
            {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}], **more})

    async def events() -> AsyncIterator[str]:
        yield chunk({"role": "assistant", "content": ""})
        for piece in text_pieces(content):
            yield chunk({"content": piece})
        yield chunk({}, "stop", **extra)
        yield "data: [DONE]\n\n"

    return event_stream(events())
