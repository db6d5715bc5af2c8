"""The MCP server end to end, through the SDK's own client: over stdio and over streamable HTTP."""

from __future__ import annotations

import json
import re
import socket
import sys
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
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
from assistant.mcp import TOOLS, create_mcp, mcp_http
from assistant.service import Service

from .conftest import REPO, run_cli

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
                assert await tool_names(client) == set(TOOLS)
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


# --- the tools over an index of the tests' own texts ---------------------------------------------

NEWS = [
    {"id": "marlow-ferry-2023", "title": "Marlow opens a ferry terminal",
     "publisher": "Coast Courier", "published": "2023-04-02",
     "text": "The town of Marlow opened a ferry terminal on its east harbour on 2 April 2023. "
             "The terminal cost 40 million euros and was built by Halden Works. Mayor Ines Varga "
             "said the ferries would carry 2,000 passengers a day to the island of Stenholm."},
    {"id": "marlow-ferry-2024", "title": "A second terminal for Marlow",
     "publisher": "Valley Times", "published": "2024-06-10",
     "text": "Halden Works finished a second ferry terminal in Marlow in June 2024. The new "
             "terminal cost 55 million euros, the town council said. Ferries from Marlow now "
             "sail to Stenholm every hour."},
    {"id": "brenn-apples", "title": "Record apple harvest", "publisher": "Valley Times",
     "published": "2024-01-15",
     "text": "Apple growers in the Brenn valley picked a record 90,000 tonnes of fruit in 2023. "
             "The growers' cooperative said a dry spring had kept the apples small."},
]
OLD = "marlow-ferry-2023"
PARAGRAPH = ("Halden Works built the ferry terminal in Marlow. The Marlow ferry terminal cost 40 "
             "million euros. Do ferries pollute the harbour? I think ferries are wonderful.")


@pytest.fixture(scope="module")
def news(tmp_path_factory: pytest.TempPathFactory, embedder: Any) -> Any:
    """Settings of an index of NEWS (three dated articles from two publishers)."""
    from assistant.config import load_settings
    from assistant.ingest import ingest

    root = tmp_path_factory.mktemp("news")
    (root / "news.jsonl").write_text("\n".join(json.dumps(d) for d in NEWS), encoding="utf-8")
    settings = load_settings(index=root / "index")
    report = ingest([root / "news.jsonl"], settings=settings, embedder=embedder, progress=False)
    assert report.documents == len(NEWS) and not report.errors
    return settings


def stored_text(settings: Any, doc_id: str) -> str:
    """The stored text of a document, read from the index itself."""
    reader = IndexReader(settings.index)
    try:
        doc = reader.store.get_document(doc_id)
    finally:
        reader.close()
    assert doc is not None
    return doc.text


def run_client(settings: Any, embedder: Any, body: Callable[[Client], Awaitable[None]]) -> None:
    """Serve an index's MCP app over HTTP and run `body` with an SDK client connected to it."""
    async def main(base: str) -> None:
        with anyio.fail_after(TIMEOUT):
            async with Client(f"{base}/mcp") as client:
                await body(client)

    with serve(mcp_app(Service(settings, embedder=embedder), exact_route=True)) as base:
        anyio.run(main, base)


def error_text(result: CallToolResult) -> str:
    """The message of an error result: one plain line, no traceback or pydantic dump."""
    assert result.is_error and result.structured_content is None
    text = result.content[0].text  # type: ignore[union-attr]
    assert "\n" not in text and "Traceback" not in text and "pydantic" not in text, text
    return text


def assert_cited(settings: Any, citation: dict[str, Any], quote: str) -> None:
    """The quote is the stored document's text at the citation's offsets."""
    text = stored_text(settings, citation["doc_id"])
    assert text[citation["char_start"]:citation["char_end"]] == quote == citation["quote"]


def test_check_splits_a_paragraph(news: Any, embedder: Any) -> None:
    """A paragraph is checked claim by claim (its question and opinion left out); one sentence
    still gets one Verdict."""
    async def body(client: Client) -> None:
        result = await client.call_tool("check", {"claim": PARAGRAPH})
        assert not result.is_error, result.content
        out = result.structured_content
        assert out is not None and out["text"] == PARAGRAPH
        assert [v["claim"] for v in out["claims"]] == [
            "Halden Works built the ferry terminal in Marlow.",
            "The Marlow ferry terminal cost 40 million euros."]
        for v in out["claims"]:
            assert v["verdict"] in ("supported", "refuted", "conflicting", "not_enough_info")
            assert v["evidence"], v
            for e in v["evidence"]:
                assert_cited(news, e["citation"], e["quote"])
        shown = result.content[0].text  # type: ignore[union-attr]
        assert shown.startswith("2 check-worthy claims") and "Claim 2: The Marlow" in shown
        assert "Verdict: " in shown and f"{OLD} [" in shown

        one = await client.call_tool("check", {"claim": "Halden Works built the terminal."})
        verdict = one.structured_content
        assert not one.is_error and verdict is not None and "claims" not in verdict
        assert verdict["claim"] == "Halden Works built the terminal." and "verdict" in verdict

    run_client(news, embedder, body)


def test_filters_exclude_documents(news: Any, embedder: Any) -> None:
    """publisher, since and until keep documents out of search, ask and check."""
    question = "How much did the ferry terminal in Marlow cost?"

    def docs(items: list[dict[str, Any]]) -> set[str]:
        return {i["doc_id"] for i in items}

    async def body(client: Client) -> None:
        found = await client.call_tool("search", {"query": "Marlow ferry terminal", "k": 5})
        assert OLD in docs(found.structured_content["results"])  # type: ignore[index]
        only = await client.call_tool("search", {"query": "Marlow ferry terminal", "k": 5,
                                                 "publisher": "Valley Times"})
        assert not only.is_error, only.content
        hits = only.structured_content["results"]  # type: ignore[index]
        assert hits and OLD not in docs(hits)

        answer = (await client.call_tool("ask", {"question": question})).structured_content
        assert answer is not None and OLD in docs(answer["citations"]), answer
        for args in ({"since": "2024-01-01"}, {"publisher": "Valley Times"}):
            filtered = await client.call_tool("ask", {"question": question, **args})
            assert not filtered.is_error, filtered.content
            answer = filtered.structured_content
            assert answer is not None and not answer["abstained"], answer
            assert answer["citations"] and OLD not in docs(answer["citations"]), args
        early = (await client.call_tool("ask", {"question": question, "until": "2023-12-31"}))
        assert docs(early.structured_content["citations"]) == {OLD}  # type: ignore[index]

        claim = "The Marlow ferry terminal cost 40 million euros."
        verdict = (await client.call_tool("check", {"claim": claim})).structured_content
        assert OLD in {e["citation"]["doc_id"] for e in verdict["evidence"]}  # type: ignore[index]
        later = await client.call_tool("check", {"claim": claim, "since": "2024-01-01"})
        assert not later.is_error, later.content
        evidence = later.structured_content["evidence"]  # type: ignore[index]
        assert OLD not in {e["citation"]["doc_id"] for e in evidence}

    run_client(news, embedder, body)


def test_document_and_passage(news: Any, embedder: Any) -> None:
    """get_document gives the stored text (cut after a sentence when asked for less);
    get_passage gives exactly text[start:end] and the text around it."""
    text = stored_text(news, OLD)

    async def body(client: Client) -> None:
        whole = await client.call_tool("get_document", {"doc_id": OLD})
        assert not whole.is_error, whole.content
        doc = whole.structured_content
        assert doc is not None and doc["text"] == text and not doc["truncated"]
        assert (doc["title"], doc["publisher"], doc["published"]) == (
            "Marlow opens a ferry terminal", "Coast Courier", "2023-04-02")
        assert doc["chars"] == doc["char_end"] == len(text) and doc["source"]

        cut = (await client.call_tool("get_document", {"doc_id": OLD, "max_chars": 100}))
        short = cut.structured_content
        assert short is not None and short["truncated"] and short["text"].endswith("2023.")
        assert short["text"] == text[:short["char_end"]] and short["char_end"] <= 100
        assert f"start={short['char_end']}" in short["note"]
        assert "get_passage" in cut.content[0].text  # type: ignore[union-attr]

        hit = (await client.call_tool("search", {"query": "Ines Varga passengers", "k": 1})
               ).structured_content["results"][0]  # type: ignore[index]
        start = text.index("Mayor Ines Varga")
        end = text.index(" a day") + len(" a day")
        got = await client.call_tool("get_passage", {"doc_id": hit["doc_id"], "start": start,
                                                     "end": end, "context_chars": 30})
        assert not got.is_error, got.content
        p = got.structured_content
        assert p is not None and hit["doc_id"] == OLD
        assert p["text"] == text[start:end] and (p["char_start"], p["char_end"]) == (start, end)
        assert p["before"] == text[p["context_start"]:start]
        assert 0 < start - p["context_start"] <= 30
        assert p["after"] == text[end:p["context_end"]] and 0 < p["context_end"] - end <= 30
        assert p["before"][0] != " " and text[p["context_start"] - 1] == " "  # whole words
        shown = got.content[0].text  # type: ignore[union-attr]
        assert f"{OLD} [{start}:{end}]" in shown and f"“{text[start:end]}”" in shown

    run_client(news, embedder, body)


def test_bad_arguments_are_one_plain_line(news: Any, embedder: Any) -> None:
    """Each bad argument comes back as an error result naming it and what to change."""
    cases: list[tuple[str, dict[str, Any], str]] = [
        ("ask", {"question": "  "}, "the question is empty"),
        ("ask", {}, "question is required"),
        ("ask", {"question": "Who built it?", "since": "2024-13-45"},
         "since must be a date like 2024-03-05, got '2024-13-45'"),
        ("check", {"claim": "Halden Works built it.", "since": "2024-06-01",
                   "until": "2024-01-01"}, "since (2024-06-01) is after the end date"),
        ("search", {"query": "ferry", "k": 0}, "k must be at least 1, got 0"),
        ("get_document", {"doc_id": "no-such-doc"}, "doc_id 'no-such-doc' is not in the index"),
        ("get_document", {"doc_id": ""}, "doc_id must not be empty"),
        ("get_passage", {"doc_id": OLD, "start": 50, "end": 10},
         "start must be less than end (10), got 50"),
        ("get_passage", {"doc_id": OLD, "start": "ten", "end": 10},
         "start must be a whole number, got 'ten'"),
        ("get_passage", {"doc_id": OLD, "start": 0, "end": 10**6}, "end must be at most"),
    ]

    async def body(client: Client) -> None:
        for tool, args, message in cases:
            assert message in error_text(await client.call_tool(tool, args)), (tool, args)

    run_client(news, embedder, body)


def test_cli_help_lists_every_tool(seeds_index: Any) -> None:
    """`assistant mcp --help` names each registered tool with its description's first line."""
    registered = anyio.run(create_mcp(Service(seeds_index)).list_tools)
    names = {t.name for t in registered}
    assert names == set(TOOLS) and len(names) == 5
    out = run_cli("mcp", "--help", env={"COLUMNS": "120"}, timeout=120)
    assert out.returncode == 0, out.stderr
    for tool in registered:
        summary = (tool.description or "").splitlines()[0]
        line = rf"^\W*{tool.name}\s+{re.escape(summary)}"
        assert re.search(line, out.stdout, re.MULTILINE), (tool.name, out.stdout)
