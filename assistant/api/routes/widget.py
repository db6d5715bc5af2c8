"""POST /v1/widget/token: short-lived read tokens for pages on configured origins."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request

from assistant.api.deps import SettingsDep
from assistant.api.schemas import Error, WidgetToken
from assistant.api.security import authenticator

router = APIRouter(prefix="/v1/widget", tags=["widget"])


@router.post("/token", response_model=WidgetToken, summary="A read token for a web page",
             responses={403: {"model": Error}})
async def token(request: Request, settings: SettingsDep) -> WidgetToken:
    """Issued only to a browser request whose Origin is configured (ASSISTANT_CORS_ORIGINS); it
    expires in minutes and is refused from any other origin, so no API key sits in a page."""
    origin = request.headers.get("origin", "").rstrip("/")
    if not origin or origin not in settings.origins():
        raise HTTPException(403, f"origin {origin or '(none)'!r} is not allowed: add it to "
                                 "ASSISTANT_CORS_ORIGINS on the server")
    value, ttl = authenticator(request).issue_token(origin)
    return WidgetToken(token=value, expires_in=ttl, origin=origin)
