"""Server-sent events: the answer text in small pieces, and the streaming response."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

from fastapi.responses import StreamingResponse


def text_pieces(text: str, words: int = 4) -> list[str]:
    """The answer text in small pieces of whole words, for incremental display."""
    parts = text.split(" ")
    return [" ".join(parts[i : i + words]) + (" " if i + words < len(parts) else "")
            for i in range(0, len(parts), words)]


def sse(event: str | None, data: object) -> str:
    """One server-sent event with a JSON payload (JSON never contains a raw newline)."""
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(data, ensure_ascii=False)}\n\n"


def event_stream(events: AsyncIterator[str]) -> StreamingResponse:
    """A text/event-stream response that proxies must not buffer."""
    return StreamingResponse(events, media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
