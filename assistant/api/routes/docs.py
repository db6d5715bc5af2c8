"""GET /docs (Swagger UI) and /redoc with their scripts and styles served by the service itself.

FastAPI's own pages load Swagger UI and ReDoc from a CDN, so offline they are blank. The same
files ship inside the `fastapi-offline` package; they are served from there under
/docs/assets/, with an ETag and gzip like the service's other static files (`api.assets`).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from fastapi import APIRouter, Request, Response
from fastapi.openapi.docs import (get_redoc_html, get_swagger_ui_html,
                                  get_swagger_ui_oauth2_redirect_html)
from fastapi.responses import HTMLResponse

from assistant.api.assets import CSS, JS, Asset, make_asset, serve

router = APIRouter(tags=["docs"], include_in_schema=False)

ASSET_PREFIX = "/docs/assets/"
OAUTH2_REDIRECT = "/docs/oauth2-redirect"
# Revalidated on every load: a 1.5 MB bundle costs a 304 after the first, and an upgraded
# fastapi-offline is picked up at once.
_HEADERS = {"Cache-Control": "no-cache"}
# File name in fastapi_offline/static → content type. Only these are served.
DOC_ASSETS: dict[str, str] = {
    "swagger-ui-bundle.js": JS,
    "swagger-ui.css": CSS,
    "redoc.standalone.js": JS,
    "favicon.png": "image/png",
}


def _static_dir() -> Path:
    import fastapi_offline

    return Path(fastapi_offline.__file__).parent / "static"


@cache
def load(name: str) -> Asset:
    """One docs asset, read and compressed once per process."""
    return make_asset((_static_dir() / name).read_bytes(), DOC_ASSETS[name], _HEADERS)


# Nothing from another origin, whatever the bundled scripts ask for (ReDoc's sidebar shows a
# logo from cdn.redoc.ly): the browser refuses it instead of reaching out. Swagger UI starts from
# an inline script, hence 'unsafe-inline'; ReDoc's search runs in a blob: worker.
PAGE_CSP = ("default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' "
            "'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; connect-src 'self'; "
            "worker-src 'self' blob:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'")


def _page(page: HTMLResponse) -> HTMLResponse:
    """A docs page with its security headers."""
    page.headers["Content-Security-Policy"] = PAGE_CSP
    page.headers["X-Content-Type-Options"] = "nosniff"
    return page


def _url(request: Request, path: str) -> str:
    """A same-origin URL for `path`, under the root path a proxy serves the app at."""
    return f"{request.scope.get('root_path', '')}{path}"


@router.api_route("/docs", methods=["GET", "HEAD"])
async def swagger_ui(request: Request) -> HTMLResponse:
    """Swagger UI for the OpenAPI schema, with nothing loaded from another origin."""
    return _page(get_swagger_ui_html(
        openapi_url=_url(request, request.app.openapi_url),
        title=f"{request.app.title} - Swagger UI",
        oauth2_redirect_url=_url(request, OAUTH2_REDIRECT),
        swagger_js_url=_url(request, ASSET_PREFIX + "swagger-ui-bundle.js"),
        swagger_css_url=_url(request, ASSET_PREFIX + "swagger-ui.css"),
        swagger_favicon_url=_url(request, ASSET_PREFIX + "favicon.png"),
        # The default validator is swagger.io's: a request to a third party on every load.
        swagger_ui_parameters={"validatorUrl": None}))


@router.api_route(OAUTH2_REDIRECT, methods=["GET", "HEAD"])
async def swagger_ui_redirect() -> HTMLResponse:
    """Swagger UI's OAuth2 redirect page."""
    return _page(get_swagger_ui_oauth2_redirect_html())


@router.api_route("/redoc", methods=["GET", "HEAD"])
async def redoc(request: Request) -> HTMLResponse:
    """ReDoc for the OpenAPI schema, without Google Fonts or a CDN."""
    return _page(get_redoc_html(
        openapi_url=_url(request, request.app.openapi_url),
        title=f"{request.app.title} - ReDoc",
        redoc_js_url=_url(request, ASSET_PREFIX + "redoc.standalone.js"),
        redoc_favicon_url=_url(request, ASSET_PREFIX + "favicon.png"),
        with_google_fonts=False))


def _route(name: str) -> None:
    def endpoint(request: Request) -> Response:
        return serve(load(name), request)

    endpoint.__name__ = "docs_" + name.replace(".", "_").replace("-", "_")
    router.add_api_route(ASSET_PREFIX + name, endpoint, methods=["GET", "HEAD"])


for _name in DOC_ASSETS:
    _route(_name)
