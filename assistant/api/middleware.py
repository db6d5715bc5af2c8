"""ASGI middleware: request metrics and per-client rate limiting (streaming-safe)."""

from __future__ import annotations

import json
import math
import time
from typing import Any

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from assistant.api.metrics import Metrics
from assistant.api.routes.web import ASSETS
from assistant.api.security import client_key

# Probes and docs are never limited (orchestrators poll them), nor are the static pages and
# assets in ASSETS (one desk load is five requests).
UNLIMITED = ("/healthz", "/readyz", "/metrics", "/docs", "/openapi.json", "/redoc")


class MetricsMiddleware:
    """Counts requests and times them by route template (not raw path: bounded labels)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", None) or ("/mcp" if scope["path"].startswith("/mcp")
                                                    else "unmatched")
            self.metrics.observe(scope["method"], path, status, time.perf_counter() - started)


class RateLimitMiddleware:
    """A moving-window limit per API key / token / client IP; 429 with Retry-After beyond it."""

    def __init__(self, app: ASGIApp, rate: str) -> None:
        from limits import parse
        from limits.storage import MemoryStorage
        from limits.strategies import MovingWindowRateLimiter

        self.app = app
        self.limit = parse(rate)
        self.limiter = MovingWindowRateLimiter(MemoryStorage())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] == "OPTIONS" \
                or scope["path"].startswith(UNLIMITED) or scope["path"] in ASSETS:
            await self.app(scope, receive, send)
            return
        key = client_key(Request(scope))
        if self.limiter.hit(self.limit, key):
            await self.app(scope, receive, send)
            return
        stats = self.limiter.get_window_stats(self.limit, key)
        retry = max(1, math.ceil(stats.reset_time - time.time()))
        await _json(send, 429, {"code": "rate_limited",
                                "message": f"too many requests: the limit is {self.limit}; "
                                           f"retry in {retry} s"},
                    {"retry-after": str(retry)})


async def _json(send: Send, status: int, body: dict[str, Any], headers: dict[str, str]) -> None:
    payload = json.dumps(body).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    raw += [(k.encode(), v.encode()) for k, v in headers.items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": payload})


class _TooLarge(Exception):
    pass


class BodyLimitMiddleware:
    """Refuse request bodies over `max_bytes` with a JSON 413, declared or streamed."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(send)
            return
        seen = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _TooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _TooLarge:
            if not started:
                await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        mb = self.max_bytes / 2**20
        await _json(send, 413, {"code": "payload_too_large",
                                "message": f"the request body is over the {mb:g} MB limit "
                                           "(ASSISTANT_MAX_BODY_MB)"}, {})
