"""GET the browser side: the chat widget, its demo page and the newsroom desk (`api.assets`)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from assistant.api.assets import ASSETS, load, serve

router = APIRouter(tags=["web"], include_in_schema=False)


def _route(path: str) -> None:
    def endpoint(request: Request) -> Response:
        return serve(load(path), request)

    endpoint.__name__ = "web_" + (path.strip("/").replace(".", "_") or "index")
    router.add_api_route(path, endpoint, methods=["GET", "HEAD"], include_in_schema=False)


for _path in ASSETS:
    _route(_path)
