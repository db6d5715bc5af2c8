"""The FastAPI application: routes, middleware, and library errors as HTTP statuses."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp

from assistant import __version__
from assistant.api.error_replies import (error_reply, openai_error, openai_invalid, openai_status,
                                         speaks_openai)
from assistant.api.compute import Compute
from assistant.api.metrics import Metrics
from assistant.api.middleware import BodyLimitMiddleware, MetricsMiddleware, RateLimitMiddleware
from assistant.api.spread import SpreadMiddleware, join_board
from assistant.api.routes import (ask, chat, check, docs, documents, feedback, health, ingest,
                                   openai, search, web, widget)
from assistant.api.schemas import UNION_TAGS
from assistant.auth import Authenticator
from assistant.config import Settings, get_settings
from assistant.embedding import Embedder
from assistant.errors import (
    AssistantError,
    ConfigError,
    EmbedderMismatchError,
    IndexBusyError,
    IndexError_,
    NotReadyError,
    QueryError,
    SourceError,
)
from assistant.service import Service

log = logging.getLogger("assistant")

# Library errors → (HTTP status, stable code); the first match wins.
_STATUS: list[tuple[type[AssistantError], int, str]] = [
    (NotReadyError, 503, "not_ready"),
    (EmbedderMismatchError, 503, "embedder_mismatch"),
    (IndexBusyError, 503, "index_busy"),
    (IndexError_, 503, "index_unavailable"),
    (QueryError, 422, "bad_query"),
    (SourceError, 422, "bad_document"),
    (ConfigError, 500, "config_error"),
]
# What the library calls an input, as a JSON request names it.
FIELDS = {"since": "filters.since", "until": "filters.until"}
# Another ASGI app served under a path of this one, with the lifespan it needs entered.
Mount = tuple[str, ASGIApp, Callable[[], AbstractAsyncContextManager[None]]]
_HTTP_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
               405: "method_not_allowed", 413: "payload_too_large", 415: "unsupported_media_type",
               429: "rate_limited"}


def unreadable_body(cause: BaseException) -> str:
    """Why a request body could not be read as JSON, for the client that sent it."""
    if isinstance(cause, UnicodeDecodeError):
        return (f"the request body is not valid UTF-8 (bad byte 0x{cause.object[cause.start]:02x} "
                f"at offset {cause.start})")
    if isinstance(cause, RecursionError):
        return "the JSON body is nested too deeply"
    return f"the request body cannot be read as JSON ({type(cause).__name__})"


def create_app(settings: Settings | None = None, *, service: Service | None = None,
               auth: Authenticator | None = None, embedder: Embedder | None = None,
               mounts: Sequence[Mount] = ()) -> FastAPI:
    """A new app; the model and index load in the background after start-up. `mounts` are
    other apps served under a path of this one (the MCP endpoint, see `assistant.server`)."""
    settings = settings or (service.settings if service is not None else get_settings())
    auth = auth or Authenticator(settings)  # a missing keys file or a bad limit fails now
    service = service or Service(settings, embedder)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        service.start()
        try:
            async with contextlib.AsyncExitStack() as stack:
                for _, _, mount_lifespan in mounts:
                    await stack.enter_async_context(mount_lifespan())
                yield
        finally:
            service.close()

    app = FastAPI(
        title="assistant",
        version=__version__,
        description="Quoted, cited answers, search and chat over your own source texts. Every "
                    "quote is a verbatim slice of a stored document, with character offsets.",
        lifespan=lifespan,
        # FastAPI's pages load Swagger UI and ReDoc from a CDN: ours serve them from a package.
        docs_url=None, redoc_url=None,
    )
    app.state.service = service
    app.state.compute = Compute(settings.compute_threads)
    app.state.auth = auth
    app.state.metrics = Metrics(service.counts)
    for module in (health, search, ask, check, chat, feedback, openai, documents, ingest, widget,
                   web, docs):
        app.include_router(module.router)
    for path, mounted, _ in mounts:
        # The exact route answers `path` itself, sparing clients the mount's redirect to path/.
        app.mount(path, mounted)
        app.add_route(path, mounted, include_in_schema=False)

    # Outermost first: metrics see everything, including rate-limited and CORS-refused calls.
    app.add_middleware(RateLimitMiddleware, rate=settings.rate_limit, auth=auth)
    if settings.origins():
        app.add_middleware(
            CORSMiddleware, allow_origins=settings.origins(), allow_credentials=False,
            allow_methods=["GET", "POST", "DELETE", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type"], expose_headers=["Retry-After"],
            max_age=600)
    app.add_middleware(BodyLimitMiddleware, max_bytes=int(settings.max_body_mb * 2**20))
    if settings.spread_connections:  # inside the metrics: they time the whole response
        app.add_middleware(SpreadMiddleware, board=join_board(settings.spread_board))
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)
    if settings.proxies():
        # Outermost: the client address every layer sees is the one a trusted proxy forwarded.
        # From anyone else X-Forwarded-For is ignored (`assistant serve` turns uvicorn's off).
        from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.proxies())

    @app.exception_handler(AssistantError)
    async def _assistant_error(request: Request, exc: AssistantError) -> JSONResponse:
        message = exc.worded(FIELDS) if isinstance(exc, QueryError) else str(exc)
        status, code = next(((s, c) for cls, s, c in _STATUS if isinstance(exc, cls)),
                            (500, "error"))
        if speaks_openai(request.scope):
            # The only input those routes hand the library is the messages' text.
            param = "messages" if isinstance(exc, QueryError) else None
            status = openai_status(status)
            return JSONResponse(openai_error(status, message, code, param), status_code=status)
        return JSONResponse({"code": code, "message": message}, status_code=status)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        first = errors[0] if errors else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body" and p not in UNION_TAGS)
        msg = first.get("msg", "invalid request").removeprefix("Value error, ")
        if speaks_openai(request.scope):
            return JSONResponse(openai_invalid(first), status_code=400)
        return JSONResponse({"code": "invalid_request",
                             "message": f"{where}: {msg}" if where else msg,
                             "errors": [{"loc": list(e.get("loc", ())), "msg": e.get("msg", "")}
                                        for e in errors[:20]]}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400 and exc.__cause__ is not None:
            # FastAPI's "There was an error parsing the body": say what is wrong with it.
            status, body = error_reply(request.scope, 422, "invalid_request",
                                       unreadable_body(exc.__cause__))
            return JSONResponse(body, status_code=status)
        status, body = error_reply(request.scope, exc.status_code,
                                   _HTTP_CODES.get(exc.status_code, "http_error"), str(exc.detail))
        return JSONResponse(body, status_code=status, headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s", request.url.path)
        status, body = error_reply(request.scope, 500, "internal_error", "internal server error")
        return JSONResponse(body, status_code=status)

    return app
