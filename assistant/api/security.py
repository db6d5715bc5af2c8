"""Who may call what: API keys for writes (and keyed reads), origin-bound widget tokens."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

import jwt
from fastapi import HTTPException, Request

from assistant.config import Settings

TOKEN_AUDIENCE = "assistant-widget"


def _settings(request: Request) -> Settings:
    return request.app.state.service.settings


def bearer(request: Request) -> str | None:
    """The Bearer credential of a request, if any."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() or None if scheme.lower() == "bearer" else None


def _unauthorized(message: str) -> HTTPException:
    return HTTPException(401, message, headers={"WWW-Authenticate": "Bearer"})


def is_api_key(settings: Settings, credential: str | None) -> bool:
    """Constant-time check of a credential against the configured keys."""
    if not credential:
        return False
    return any(hmac.compare_digest(credential.encode(), key.encode()) for key in settings.keys())


def require_write(request: Request) -> None:
    """Writes need a configured API key; with none configured, writes are off."""
    settings = _settings(request)
    if not settings.keys():
        raise HTTPException(403, "writes are disabled: set ASSISTANT_API_KEYS (or "
                                 "ASSISTANT_API_KEYS_FILE) on the server")
    credential = bearer(request)
    if credential is None:
        raise _unauthorized("this endpoint needs an API key: send Authorization: Bearer KEY")
    if not is_api_key(settings, credential):
        raise _unauthorized("the API key is not valid")


def require_read(request: Request) -> None:
    """Reads are open, or (ASSISTANT_READ_AUTH=key) need an API key or a widget token."""
    settings = _settings(request)
    if settings.read_auth == "open":
        return
    credential = bearer(request)
    if credential is None:
        raise _unauthorized("this service needs an API key or a widget token")
    if is_api_key(settings, credential):
        return
    origin = request.headers.get("origin", "").rstrip("/")
    if not origin and request.headers.get("sec-fetch-site") == "same-origin":
        # Browsers send no Origin on same-origin GETs: the page is on the service's own origin.
        origin = f"{request.url.scheme}://{request.url.netloc}"
    claims = verify_token(request, credential)
    if claims is None:
        raise _unauthorized("the API key or widget token is not valid (or has expired)")
    if claims.get("origin") != origin:
        raise _unauthorized("this widget token was issued to another origin")


def token_secret(request: Request) -> str:
    """The signing secret: configured, or random for this process (tokens die with it)."""
    state = request.app.state
    configured = _settings(request).token_secret
    if configured:
        return configured
    if not getattr(state, "token_secret", None):
        state.token_secret = secrets.token_urlsafe(32)
    return state.token_secret


def issue_token(request: Request, origin: str) -> tuple[str, int]:
    """A short-lived read token bound to `origin`; returns (token, lifetime in seconds)."""
    ttl = _settings(request).token_ttl_seconds
    now = int(time.time())
    claims = {"aud": TOKEN_AUDIENCE, "origin": origin, "scope": "read", "iat": now, "exp": now + ttl}
    return jwt.encode(claims, token_secret(request), algorithm="HS256"), ttl


def verify_token(request: Request, token: str) -> dict | None:
    """The claims of a valid, unexpired widget token, else None."""
    try:
        return jwt.decode(token, token_secret(request), algorithms=["HS256"],
                          audience=TOKEN_AUDIENCE)
    except jwt.PyJWTError:
        return None


def client_key(request: Request) -> str:
    """Whom a request counts against for rate limiting: its API key or token, else its IP."""
    credential = bearer(request)
    if credential:
        return "cred:" + hashlib.sha256(credential.encode()).hexdigest()[:16]
    return "ip:" + (request.client.host if request.client else "unknown")
