"""Who may call what over HTTP: API keys for writes (and keyed reads), origin-bound widget tokens.

The checks themselves live in `assistant.auth`; this module applies them to requests and counts
each rejected credential against the client's address.
"""

from __future__ import annotations

from fastapi import HTTPException, Request

from assistant.auth import Authenticator, bearer_value
from assistant.auth import client_address as address_of


def authenticator(request: Request) -> Authenticator:
    """The app's authenticator."""
    return request.app.state.auth


def bearer(request: Request) -> str | None:
    """The Bearer credential of a request, if any."""
    return bearer_value(request.headers.get("authorization"))


def client_address(request: Request) -> str:
    """The client's IP address (the proxy's, unless it is listed in ASSISTANT_TRUSTED_PROXIES)."""
    return address_of(request.scope.get("client"))


def _unauthorized(message: str) -> HTTPException:
    return HTTPException(401, message, headers={"WWW-Authenticate": "Bearer"})


def _rejected(request: Request, message: str) -> HTTPException:
    """A 401 for a wrong credential, counted against the client's address."""
    authenticator(request).record_failure(client_address(request))
    return _unauthorized(message)


async def require_write(request: Request) -> None:
    """Writes need a configured API key; with none configured, writes are off."""
    auth = authenticator(request)
    if not auth.keys():
        raise HTTPException(403, "writes are disabled: set ASSISTANT_API_KEYS (or "
                                 "ASSISTANT_API_KEYS_FILE) on the server")
    credential = bearer(request)
    if credential is None:
        raise _unauthorized("this endpoint needs an API key: send Authorization: Bearer KEY")
    if not auth.is_api_key(credential):
        raise _rejected(request, "the API key is not valid")


async def require_read(request: Request) -> None:
    """Reads are open, or (ASSISTANT_READ_AUTH=key) need an API key or a widget token."""
    auth = authenticator(request)
    if auth.settings.read_auth == "open":
        return
    credential = bearer(request)
    if credential is None:
        raise _unauthorized("this service needs an API key or a widget token")
    if auth.is_api_key(credential):
        return
    origin = request.headers.get("origin", "").rstrip("/")
    if not origin and request.headers.get("sec-fetch-site") == "same-origin":
        # Browsers send no Origin on same-origin GETs: the page is on the service's own origin.
        origin = f"{request.url.scheme}://{request.url.netloc}"
    claims, expired = auth.read_token(credential)
    if expired:
        raise _unauthorized("the widget token has expired: ask for a new one")
    if claims is None:
        raise _rejected(request, "the API key or widget token is not valid")
    if claims.get("origin") != origin:
        raise _rejected(request, "this widget token was issued to another origin")
