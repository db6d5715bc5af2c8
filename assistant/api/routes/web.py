"""GET the browser side: the chat widget, its demo page and the newsroom desk (`api.assets`)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from assistant.api.assets import ASSETS, load

router = APIRouter(tags=["web"], include_in_schema=False)


def _serve(path: str, request: Request) -> Response:
    asset = load(path)
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
    body = asset.gzipped if zipped else asset.body
    return Response(body, headers=headers, media_type=asset.content_type)


def _route(path: str) -> None:
    def endpoint(request: Request) -> Response:
        return _serve(path, request)

    endpoint.__name__ = "web_" + (path.strip("/").replace(".", "_") or "index")
    router.add_api_route(path, endpoint, methods=["GET", "HEAD"], include_in_schema=False)


for _path in ASSETS:
    _route(_path)
