"""FastAPI dependencies, as Annotated aliases (swap them with app.dependency_overrides)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from assistant.api.security import require_read, require_write
from assistant.config import Settings
from assistant.service import Service


def get_service(request: Request) -> Service:
    """The app's service object."""
    return request.app.state.service


def get_settings(request: Request) -> Settings:
    """The app's settings."""
    return request.app.state.service.settings


ServiceDep = Annotated[Service, Depends(get_service)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
ReadAccess = Annotated[None, Depends(require_read)]
WriteAccess = Annotated[None, Depends(require_write)]
