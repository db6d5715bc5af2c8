"""The HTTP server process: the API with the MCP endpoint mounted at /mcp, sharing one service
and one authenticator. `assistant serve` runs it; so can any ASGI server, with settings from the
environment: `uvicorn --factory --no-proxy-headers assistant.server:app`. Keep
`--no-proxy-headers`: uvicorn otherwise believes X-Forwarded-For from 127.0.0.1, and the app
already honours it from ASSISTANT_TRUSTED_PROXIES alone."""

from __future__ import annotations

from fastapi import FastAPI

from assistant.api.app import create_app
from assistant.auth import Authenticator
from assistant.config import Settings, get_settings
from assistant.mcp import mcp_http
from assistant.service import Service


def app(settings: Settings | None = None) -> FastAPI:
    """The API and the MCP endpoint over one service (the model loads after start-up)."""
    settings = settings or get_settings()
    auth = Authenticator(settings)
    service = Service(settings)
    mcp_app, mcp_lifespan = mcp_http(service, auth, allowed_hosts=settings.hosts())
    return create_app(settings, service=service, auth=auth,
                      mounts=[("/mcp", mcp_app, mcp_lifespan)])
