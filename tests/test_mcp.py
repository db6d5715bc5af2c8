"""The MCP server end to end, through the SDK's own client: over stdio and over streamable HTTP."""

from __future__ import annotations

import socket
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
import uvicorn
from mcp.client import Client
from mcp.client.stdio import StdioServerParameters
from mcp_types import CallToolResult
from starlette.applications import Starlette

from assistant.auth import Authenticator
from assistant.index import IndexReader
from assistant.mcp import mcp_http
from assistant.service import Service

from .conftest import REPO

pytestmark = pytest.mark.slow

QUESTION = "Who builds the Bushehr nuclear power plant?"
TIMEOUT = 240  # seconds for one whole client conversation, model loading included


def check_answer(result: CallToolResult, index: Path) -> None:
    """A grounded answer whose first quote is the stored text at its citation's offsets."""
    assert not result.is_error, result.content
    answer = result.structured_content
    assert answer is not None and not answer["abstained"], answer
    quote = answer["quotes"][0]
    assert "Bushehr" in quote["text"]
    cite = quote["citation"]
    reader = IndexReader(index)
    try:
        doc = reader.store.get_document(cite["doc_id"])
    finally:
        reader.close()
    assert doc is not None
    assert doc.text[cite["char_start"]:cite["char_end"]] == quote["text"] == cite["quote"]
    # Plain clients see the answer and numbered citation lines.
    text = result.content[0].text  # type: ignore[union-attr]
    assert text.startswith(answer["answer"]) and "\n[1] " in text and cite["doc_id"] in text


async def tool_names(client: Client) -> set[str]:
    """Names of the tools the server lists."""
    return {tool.name for tool in (await client.list_tools()).tools}


def test_stdio(seeds_index: Any) -> None:
    """A subprocess server over stdio: tools listed, grounded answer, search, empty question."""
    index = Path(seeds_index.index)
    code = ("from pathlib import Path; from assistant.config import load_settings; "
            "from assistant.mcp import run_stdio; "
            f"run_stdio(load_settings(index=Path({str(index)!r})))")
    params = StdioServerParameters(command=sys.executable, args=["-c", code],
                                   env={"HF_HUB_OFFLINE": "1"}, cwd=REPO)

    async def main() -> None:
        with anyio.fail_after(TIMEOUT):
            async with Client(params) as client:
                assert {"search", "ask", "check"} <= await tool_names(client)
                check_answer(await client.call_tool("ask", {"question": QUESTION}), index)

                found = await client.call_tool("search", {"query": "Rosatom", "k": 3})
                assert not found.is_error, found.content
                results = found.structured_content["results"]  # type: ignore[index]
                assert found.structured_content["query"] == "Rosatom"  # type: ignore[index]
                assert 1 <= len(results) <= 3 and results[0]["rank"] == 1
                assert any("Rosatom" in r["text"] for r in results)

                empty = await client.call_tool("ask", {"question": "  "})
                assert empty.is_error
                message = empty.content[0].text  # type: ignore[union-attr]
                assert "question is empty" in message and "Traceback" not in message

                bad = await client.call_tool("search", {"query": "Rosatom", "since": "May 1st"})
                assert bad.is_error and "date" in bad.content[0].text  # type: ignore[union-attr]

    anyio.run(main)


@contextmanager
def serve(app: Starlette) -> Iterator[str]:
    """Run `app` under a real uvicorn on 127.0.0.1 in a thread; yields its base URL."""
    # Bind first and hand uvicorn the socket: no window for another process to take the port.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.05)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()
        assert not thread.is_alive(), "uvicorn did not stop"


def mcp_app(service: Service, *, exact_route: bool = False) -> Starlette:
    """A minimal host app: the MCP app mounted at /mcp, its lifespan entered in the app's."""
    service.load()
    asgi_app, mcp_lifespan = mcp_http(service, Authenticator(service.settings))

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with mcp_lifespan():
            yield

    app = Starlette(lifespan=lifespan)
    app.mount("/mcp", asgi_app)
    if exact_route:
        app.add_route("/mcp", asgi_app)
    return app


def test_streamable_http(seeds_index: Any, embedder: Any) -> None:
    """Mounted at /mcp, over streamable HTTP: tools listed, grounded answer."""
    app = mcp_app(Service(seeds_index, embedder=embedder))

    async def main(base: str) -> None:
        with anyio.fail_after(TIMEOUT):
            # The mount answers /mcp with a 307 to /mcp/, which the SDK client follows.
            async with Client(f"{base}/mcp") as client:
                assert {"search", "ask", "check"} <= await tool_names(client)
                check_answer(await client.call_tool("ask", {"question": QUESTION}),
                             Path(seeds_index.index))

    with serve(app) as base:
        redirect = httpx.post(f"{base}/mcp", json={}, timeout=30)
        assert redirect.status_code == 307 and redirect.headers["location"] == f"{base}/mcp/"
        anyio.run(main, base)


def test_http_checks(seeds_index: Any, embedder: Any) -> None:
    """The exact route answers /mcp without a redirect; key, Host and method checks hold."""
    settings = seeds_index.model_copy(update={"read_auth": "key", "api_keys": "sesame"})
    app = mcp_app(Service(settings, embedder=embedder), exact_route=True)
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    headers = {"Accept": "application/json, text/event-stream", "Authorization": "Bearer sesame"}
    with serve(app) as base, httpx.Client(base_url=base, timeout=30) as http:
        listed = http.post("/mcp", json=body, headers=headers)
        assert listed.status_code == 200, listed.text
        assert {"search", "ask", "check"} <= {t["name"] for t in listed.json()["result"]["tools"]}
        assert http.post("/mcp/", json=body, headers=headers).status_code == 200

        keyless = http.post("/mcp", json=body, headers={**headers, "Authorization": ""})
        assert keyless.status_code == 401 and "API key" in keyless.json()["message"]
        wrong = http.post("/mcp", json=body, headers={**headers, "Authorization": "Bearer x"})
        assert wrong.status_code == 401
        foreign = http.post("/mcp", json=body, headers={**headers, "Host": "evil.example"})
        assert foreign.status_code == 421
        assert http.get("/mcp", headers=headers).status_code == 405
