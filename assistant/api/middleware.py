"""ASGI middleware: request metrics and per-client rate limiting (streaming-safe)."""

from __future__ import annotations

import json
import time
from typing import Any

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from assistant.api.assets import ASSETS
from assistant.api.error_replies import error_reply
from assistant.api.metrics import Metrics
from assistant.auth import Authenticator, bearer_value, client_address, parse_rate, retry_seconds

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
    """A moving-window limit per caller; 429 with Retry-After beyond it.

    A valid API key is a caller of its own, a valid widget token counts with its origin and
    address (`Authenticator.caller`); everything else (no credential, or one that is wrong)
    counts against the client's address, so inventing credentials buys no extra requests. An
    address with too many failed authentications has any credential it sends refused until its
    failures age out (`Authenticator.locked_out`).
    """

    def __init__(self, app: ASGIApp, rate: str, auth: Authenticator) -> None:
        from limits.storage import MemoryStorage
        from limits.strategies import MovingWindowRateLimiter

        self.app = app
        self.auth = auth
        # An empty rate turns the request limit off, never the lock-out of guessing addresses.
        self.limit = parse_rate(rate, "ASSISTANT_RATE_LIMIT") if rate.strip() else None
        self.limiter = MovingWindowRateLimiter(MemoryStorage())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] == "OPTIONS" \
                or scope["path"].startswith(UNLIMITED) or scope["path"] in ASSETS:
            await self.app(scope, receive, send)
            return
        address = client_address(scope.get("client"))
        credential = bearer_value(Request(scope).headers.get("authorization"))
        if credential is not None and (wait := self.auth.locked_out(address)) is not None:
            await _error(scope, send, 429, "rate_limited", "too many failed authentication "
                         f"attempts from this address; retry in {wait} s",
                         {"retry-after": str(wait)})
            return
        key = self.auth.caller(credential, address) or f"ip:{address}"
        if self.limit is None or self.limiter.hit(self.limit, key):
            await self.app(scope, receive, send)
            return
        retry = retry_seconds(self.limiter, self.limit, key)
        await _error(scope, send, 429, "rate_limited", f"too many requests: the limit is "
                     f"{self.limit}; retry in {retry} s", {"retry-after": str(retry)})


async def _error(scope: Scope, send: Send, status: int, code: str, message: str,
                 headers: dict[str, str]) -> None:
    """An error reply, in the shape of the request's path (`error_replies`)."""
    status, body = error_reply(scope, status, code, message)
    await _json(send, status, body, headers)


async def _json(send: Send, status: int, body: dict[str, Any], headers: dict[str, str]) -> None:
    payload = json.dumps(body).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    raw += [(k.encode(), v.encode()) for k, v in headers.items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": payload})


class _TooLarge(Exception):
    pass


class BodyLimitMiddleware:
    """Refuse request bodies over `max_bytes` with a JSON 413, declared or streamed.

    A streamed (chunked) body is counted as it arrives. Once it passes the limit, the app gets
    an error from `receive` and whatever it would answer (a framework turns a failed body read
    into a 400) is dropped for the 413.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, send)
            return
        seen = 0
        started = over = False

        async def counting_receive() -> Message:
            nonlocal seen, over
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    over = True
                    raise _TooLarge
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if over:
                return  # the app's reply to a body it could not finish reading
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except _TooLarge:
            pass
        if over and not started:
            await self._refuse(scope, send)

    async def _refuse(self, scope: Scope, send: Send) -> None:
        mb = self.max_bytes / 2**20
        await _error(scope, send, 413, "payload_too_large",
                     f"the request body is over the {mb:g} MB limit (ASSISTANT_MAX_BODY_MB)", {})
