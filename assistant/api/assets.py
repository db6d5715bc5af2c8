"""The browser side's files, served by the service itself (no CDN, no build step): the chat
widget (`/widget.js`, one script tag on any page), its demo page (`/`) and the newsroom desk
(`/desk`). Only the files named in ASSETS are served; no part of a request is ever a path."""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from functools import cache
from importlib.resources import files

from starlette.requests import Request
from starlette.responses import Response

# Pages: revalidated on every load (cheap 304s); no inline script or style, no third parties.
_PAGE_HEADERS = {
    "Cache-Control": "no-cache",
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; "
                               "img-src 'self' data:; connect-src 'self'; object-src 'none'; "
                               "base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    "Referrer-Policy": "same-origin",
}
# The widget is loaded by other sites at a fixed URL: cached for an hour, loadable cross-origin.
_WIDGET_HEADERS = {
    "Cache-Control": "public, max-age=3600, stale-while-revalidate=86400",
    "Cross-Origin-Resource-Policy": "cross-origin",
}
_ASSET_HEADERS = {"Cache-Control": "no-cache"}

HTML = "text/html; charset=utf-8"
JS = "text/javascript; charset=utf-8"
CSS = "text/css; charset=utf-8"
SVG = "image/svg+xml"

# URL path → (file in assistant/web/, content type, extra headers)
ASSETS: dict[str, tuple[str, str, dict[str, str]]] = {
    "/": ("index.html", HTML, _PAGE_HEADERS),
    "/desk": ("desk.html", HTML, _PAGE_HEADERS),
    "/widget.js": ("widget.js", JS, _WIDGET_HEADERS),
    "/demo.js": ("demo.js", JS, _ASSET_HEADERS),
    "/desk.js": ("desk.js", JS, _ASSET_HEADERS),
    "/desk.css": ("desk.css", CSS, _ASSET_HEADERS),
    "/site.css": ("site.css", CSS, _ASSET_HEADERS),
    "/favicon.svg": ("favicon.svg", SVG, _WIDGET_HEADERS),
}


@dataclass(frozen=True, slots=True)
class Asset:
    """A file's bytes (and gzipped bytes), its ETag, type and response headers."""

    body: bytes
    gzipped: bytes | None  # None when compression would not pay
    etag: str
    content_type: str
    headers: dict[str, str]


def make_asset(body: bytes, content_type: str, headers: dict[str, str]) -> Asset:
    """An asset of these bytes: gzipped when that pays, with an ETag of its content."""
    packed = gzip.compress(body, compresslevel=9, mtime=0) if len(body) > 1024 else None
    return Asset(body, packed, hashlib.sha256(body).hexdigest()[:20], content_type, headers)


def serve(asset: Asset, request: Request) -> Response:
    """The asset as a response: gzipped when the client takes it, 304 when its ETag matches."""
    zipped = asset.gzipped is not None and "gzip" in request.headers.get("accept-encoding", "")
    etag = f'"{asset.etag}{"-gz" if zipped else ""}"'
    headers = {**asset.headers, "ETag": etag, "Vary": "Accept-Encoding",
               "X-Content-Type-Options": "nosniff"}
    wanted = request.headers.get("if-none-match", "")
    if etag in {t.strip() for t in wanted.split(",")} or wanted.strip() == "*":
        return Response(status_code=304, headers=headers)
    if zipped:
        headers["Content-Encoding"] = "gzip"
    # For HEAD the server sends the headers only.
    return Response(asset.gzipped if zipped else asset.body, headers=headers,
                    media_type=asset.content_type)


@cache
def load(path: str) -> Asset:
    """One asset from the package, read and compressed once per process."""
    name, content_type, headers = ASSETS[path]
    return make_asset((files("assistant") / "web" / name).read_bytes(), content_type, headers)
