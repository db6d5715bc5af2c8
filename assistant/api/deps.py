"""FastAPI dependencies, as Annotated aliases (swap them with app.dependency_overrides).

Each is `async def`: FastAPI runs a plain `def` dependency in its thread pool, and these only
read the app's state, so three hand-overs to a thread and back cost more than the work."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from assistant.api.compute import Compute
from assistant.api.security import require_read, require_write
from assistant.config import Settings
from assistant.service import Service


async def get_service(request: Request) -> Service:
    """The app's service object."""
    return request.app.state.service


async def get_settings(request: Request) -> Settings:
    """The app's settings."""
    return request.app.state.service.settings


async def get_compute(request: Request) -> Compute:
    """The app's runner of CPU-bound service calls."""
    return request.app.state.compute


ServiceDep = Annotated[Service, Depends(get_service)]
ComputeDep = Annotated[Compute, Depends(get_compute)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
ReadAccess = Annotated[None, Depends(require_read)]
WriteAccess = Annotated[None, Depends(require_write)]
