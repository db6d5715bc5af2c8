"""The FastAPI application."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from assistant import __version__
from assistant.api.routes import health, search
from assistant.api.state import NotReadyError, ServiceState
from assistant.config import Settings, get_settings
from assistant.embedding import Embedder
from assistant.errors import (
    AssistantError,
    ConfigError,
    EmbedderMismatchError,
    IndexError_,
    QueryError,
    SourceError,
)

# Library errors → (HTTP status, stable code).
_STATUS: list[tuple[type[AssistantError], int, str]] = [
    (NotReadyError, 503, "not_ready"),
    (EmbedderMismatchError, 503, "embedder_mismatch"),
    (IndexError_, 503, "index_unavailable"),
    (QueryError, 422, "bad_query"),
    (SourceError, 422, "bad_document"),
    (ConfigError, 500, "config_error"),
]


def create_app(settings: Settings | None = None, *, embedder: Embedder | None = None) -> FastAPI:
    """A new app; the model and index load in the background after start-up."""
    state = ServiceState(settings or get_settings(), embedder)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state.start()
        yield

    app = FastAPI(
        title="assistant",
        version=__version__,
        description="Quoted, cited answers and search over your own source texts.",
        lifespan=lifespan,
    )
    app.state.service = state
    app.include_router(health.router)
    app.include_router(search.router)

    @app.exception_handler(AssistantError)
    async def _assistant_error(request: Request, exc: AssistantError) -> JSONResponse:
        for cls, status, code in _STATUS:
            if isinstance(exc, cls):
                return JSONResponse({"code": code, "message": str(exc)}, status_code=status)
        return JSONResponse({"code": "error", "message": str(exc)}, status_code=500)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        message = f"{where}: {first.get('msg', 'invalid request')}" if where else first.get(
            "msg", "invalid request")
        return JSONResponse({"code": "invalid_request", "message": message,
                             "errors": jsonable_errors(exc)}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        codes = {404: "not_found", 405: "method_not_allowed"}
        return JSONResponse({"code": codes.get(exc.status_code, "http_error"),
                             "message": str(exc.detail)}, status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception) -> JSONResponse:
        import logging

        logging.getLogger("assistant").exception("unhandled error on %s", request.url.path)
        return JSONResponse({"code": "internal_error", "message": "internal server error"},
                            status_code=500)

    return app


def jsonable_errors(exc: RequestValidationError) -> list[dict]:
    """Validation details without the raw input (which may be huge)."""
    return [{"loc": list(e.get("loc", ())), "msg": e.get("msg", "")} for e in exc.errors()]
