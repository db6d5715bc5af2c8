"""OpenAI-compatible chat completions and models, so any OpenAI client can use the assistant as a
model. Errors on these paths are in OpenAI's shape (`api.error_replies`); `usage` is counted in
the embedding model's WordPiece tokens (`api.tokens`)."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from typing import Any, Literal

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from assistant.answers import Turn
from assistant.api.deps import ComputeDep, ReadAccess, ServiceDep
from assistant.api.error_replies import openai_error
from assistant.api.schemas import OpenAIError
from assistant.api.sse import event_stream, sse, text_pieces
from assistant.api.tokens import usage
from assistant.errors import QueryError
from assistant.models import Answer, Citation

router = APIRouter(prefix="/v1", tags=["openai"])
MODEL_ID = "assistant"
# The one model; no aliases: answering "gpt-4o" with quotes would mislead the client about
# what it is talking to, so any other name is refused (404 model_not_found), as OpenAI does.
MODEL = {"id": MODEL_ID, "object": "model", "created": 0, "owned_by": "assistant"}


ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": OpenAIError} for status in (400, 401, 404, 413, 429, 503)}


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


class StreamOptions(BaseModel):
    """Options of a streamed reply."""

    model_config = ConfigDict(extra="allow")
    include_usage: bool = Field(False, description="Send a last chunk with `usage` and no "
                                                   "choices before [DONE].")


class CompletionRequest(BaseModel):
    """The OpenAI request; sampling options are accepted and ignored (answers are quotes)."""

    model_config = ConfigDict(extra="allow")
    model: str = Field(MODEL_ID, max_length=200, description=f"Only {MODEL_ID!r}.")
    messages: list[Message] = Field(..., min_length=1, max_length=200)
    stream: bool = False
    stream_options: StreamOptions | None = None

    @field_validator("stream_options")
    @classmethod
    def _only_when_streaming(cls, value: StreamOptions | None,
                             info: ValidationInfo) -> StreamOptions | None:
        """OpenAI refuses stream options on a request that does not stream."""
        if value is not None and not info.data.get("stream"):
            raise ValueError("stream_options is only allowed when stream is true")
        return value


def _sources(citations: list[Citation]) -> str:
    lines = []
    for c in citations:
        meta = ", ".join(x for x in (c.publisher, c.published[:10] if c.published else None) if x)
        where = c.url or c.source
        lines.append(f"[{c.n}] {c.title or c.source}" + (f" ({meta})" if meta else "") + f" — {where}")
    return "\n\nSources:\n" + "\n".join(lines) if lines else ""


def _model_not_found(model: str, param: str | None = None) -> JSONResponse:
    message = f"The model `{model}` does not exist; this service offers only `{MODEL_ID}`."
    return JSONResponse(openai_error(404, message, "model_not_found", param), status_code=404)


@router.get("/models", summary="Models (OpenAI-compatible)", responses=ERRORS)
async def models(_: ReadAccess) -> dict[str, Any]:
    """The one model this service offers."""
    return {"object": "list", "data": [MODEL]}


@router.get("/models/{model_id}", summary="A model (OpenAI-compatible)", responses=ERRORS)
async def model(model_id: str, _: ReadAccess) -> Any:
    """The model object for `assistant`; any other id is a 404 with code model_not_found."""
    return MODEL if model_id == MODEL_ID else _model_not_found(model_id)


@router.post("/chat/completions", summary="Chat completions (OpenAI-compatible)",
             responses=ERRORS)
async def completions(body: CompletionRequest, service: ServiceDep, compute: ComputeDep,
                      _: ReadAccess) -> Any:
    """The last user message is answered in the context of the earlier ones; `content` carries
    the answer with [n] markers and a source list, and `citations`/`quotes` carry the same as
    structured data beside `choices`.

    `model` must be `assistant` (the default when it is left out); there are no aliases, and
    any other name is a 404 with code `model_not_found`. Sampling options are accepted and
    ignored. `usage` counts all-MiniLM-L6-v2 WordPiece tokens, not tiktoken's. With `stream`
    true the reply is server-sent chunks; `stream_options.include_usage` adds a last chunk
    with `choices: []` and `usage` before `data: [DONE]`. Errors are in OpenAI's shape."""
    if body.model != MODEL_ID:
        return _model_not_found(body.model, "model")
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
        answer = await compute(service.ask, question)
    content = answer.answer + _sources(answer.citations)
    extra = {"citations": [c.model_dump() for c in answer.citations],
             "quotes": [q.model_dump() for q in answer.quotes],
             "abstained": answer.abstained, "confidence": answer.confidence,
             "question": question}
    cid, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
    base = {"id": cid, "created": created, "model": MODEL_ID}
    # Off the event loop: a prompt may be up to the body limit (a megabyte) of text.
    counted = await run_in_threadpool(usage, [m.text() for m in body.messages], content)
    if not body.stream:
        return {**base, "object": "chat.completion",
                "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None,
                             "message": {"role": "assistant", "content": content}}],
                "usage": counted, **extra}
    with_usage = body.stream_options is not None and body.stream_options.include_usage
    # As OpenAI does: when usage is asked for, every other chunk carries "usage": null.
    no_usage = {"usage": None} if with_usage else {}

    def chunk(delta: dict[str, Any], finish: str | None = None, **more: Any) -> str:
        return sse(None, {**base, "object": "chat.completion.chunk", "choices": [
            {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
            **no_usage, **more})

    async def events() -> AsyncIterator[str]:
        yield chunk({"role": "assistant", "content": ""})
        for piece in text_pieces(content):
            yield chunk({"content": piece})
        yield chunk({}, "stop", **extra)
        if with_usage:
            yield sse(None, {**base, "object": "chat.completion.chunk", "choices": [],
                             "usage": counted})
        yield "data: [DONE]\n\n"

    return event_stream(events())
