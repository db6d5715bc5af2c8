"""Liveness, readiness and metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from assistant.api.deps import ServiceDep
from assistant.api.metrics import CONTENT_TYPE

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process is up")
def healthz() -> dict[str, str]:
    """Always 200 while the process serves HTTP."""
    return {"status": "ok"}


@router.get("/readyz", summary="The model and the index are loaded")
def readyz(service: ServiceDep) -> JSONResponse:
    """200 once queries can be answered, 503 with the reason before that."""
    if service.ready:
        generation, counts = service.status()
        return JSONResponse({"status": "ready", "generation": generation, "counts": counts})
    reason = service.error or "loading the model and index"
    return JSONResponse({"status": "not_ready", "code": "not_ready", "message": reason},
                        status_code=503)


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
def metrics(request: Request) -> Response:
    """Request counts and latencies by route, and the index size."""
    return Response(request.app.state.metrics.render(), media_type=CONTENT_TYPE)
