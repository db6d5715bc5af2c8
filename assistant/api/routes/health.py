"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from assistant.api.deps import StateDep

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process is up")
def healthz() -> dict[str, str]:
    """Always 200 while the process serves HTTP."""
    return {"status": "ok"}


@router.get("/readyz", summary="The model and the index are loaded")
def readyz(state: StateDep) -> JSONResponse:
    """200 once queries can be answered, 503 with the reason before that."""
    if state.ready:
        r = state.retriever()
        return JSONResponse({"status": "ready", "generation": r.reader.generation,
                             "counts": r.reader.manifest.counts})
    reason = state.error or "loading the model and index"
    return JSONResponse({"status": "not_ready", "code": "not_ready", "message": reason},
                        status_code=503)
