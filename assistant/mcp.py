"""The MCP server: `search`, `ask` and `check` as Model Context Protocol tools, over stdio or HTTP.

A thin layer over `Service`, like the HTTP API. Library errors become MCP tool errors (`isError`)
carrying their message; anything else is logged here and reported without a traceback.
"""

from __future__ import annotations

import inspect
import logging
import os
import sys
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from functools import partial
from typing import Annotated, Any, TypeVar

import anyio
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from mcp_types import CallToolResult, TextContent, ToolAnnotations
from pydantic import Field
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocketClose

from assistant import __version__
from assistant.auth import Authenticator, bearer_value, client_address
from assistant.config import Settings
from assistant.errors import AssistantError
from assistant.models import Answer, Filters, SearchResults, Verdict
from assistant.service import Service

log = logging.getLogger("assistant")
T = TypeVar("T")

INSTRUCTIONS = (
    "Answers questions only from the indexed source documents. Every quote is a verbatim slice "
    "of a stored document, cited with its doc_id and character offsets (char_start:char_end); "
    "when the sources do not answer, `ask` abstains instead of guessing."
)
READ_ONLY = ToolAnnotations(read_only_hint=True, idempotent_hint=True, open_world_hint=False)
LOCAL_HOSTS = ["127.0.0.1:*", "localhost:*", "[::1]:*", "127.0.0.1", "localhost", "[::1]"]
LOCAL_ORIGINS = ["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*",
                 "http://127.0.0.1", "http://localhost", "http://[::1]"]


# --- the tools -----------------------------------------------------------------------------------

async def _call(fn: Callable[[], T]) -> T:
    """Run a blocking library call in a worker thread; library errors become tool errors."""
    try:
        # Embedding a query runs torch for tens of milliseconds: keep the event loop free.
        return await anyio.to_thread.run_sync(fn)
    except AssistantError as exc:  # a QueryError's field is the tool argument's own name
        raise ToolError(str(exc)) from exc


def _cite(c: dict[str, Any]) -> str:
    """One human-readable citation line: what, who, when, where, then the exact span."""
    source = None if c["url"] or c["source"] == c["doc_id"] else c["source"]
    head = ", ".join(p for p in (c["title"], c["publisher"], (c["published"] or "")[:10],
                                 c["url"], source) if p)
    span = f"{c['doc_id']} [{c['char_start']}:{c['char_end']}]"
    return f"[{c['n']}] {head} | {span}" if head else f"[{c['n']}] {span}"


def answer_text(answer: dict[str, Any]) -> str:
    """The answer followed by numbered citation lines, for clients that only show text."""
    lines = [answer["answer"]]
    if answer["citations"]:
        lines += ["", *(_cite(c) for c in answer["citations"])]
    return "\n".join(lines)


def verdict_text(v: dict[str, Any]) -> str:
    """The verdict, earlier fact-checks and each piece of evidence, for clients that show text."""
    lines = [f"{fc['rating']} (already fact-checked: {fc['url'] or fc['claim']})"
             for fc in v["fact_checks"]]
    lines.append(f"Verdict: {v['verdict']} (confidence {v['confidence']:.2f}); sources "
                 f"supporting: {v['sources_supporting']}, refuting: {v['sources_refuting']}")
    for e in v["evidence"]:
        lines += ["", f"{e['stance'].upper()}: “{e['quote']}”", _cite(e["citation"])]
    return "\n".join(lines)


def create_mcp(service: Service) -> MCPServer:
    """An MCP server named "assistant" with the `search`, `ask` and `check` tools."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    mcp: MCPServer = MCPServer("assistant", version=__version__, instructions=INSTRUCTIONS)
    # MCPServer() calls logging.basicConfig (a rich handler on the root logger); the host app or
    # run_stdio owns logging, so undo that.
    root.handlers[:], root.level = handlers, level

    async def search(
        query: Annotated[str, Field(description="What to look for, in plain words.")],
        k: Annotated[int, Field(ge=1, description="How many results (at most ASSISTANT_MAX_K).")] = 5,
        publisher: Annotated[str | None, Field(description="Only this publisher.")] = None,
        since: Annotated[str | None, Field(description="Published on or after YYYY-MM-DD.")] = None,
        until: Annotated[str | None, Field(description="Published by YYYY-MM-DD.")] = None,
    ) -> SearchResults:
        """Hybrid (semantic + keyword) search over the indexed documents.

        Returns ranked passages; each `text` is verbatim from its document, located by `doc_id`
        and character offsets `char_start:char_end`, with title, publisher, date and URL.
        """
        def run() -> SearchResults:
            filters = Filters.create(publishers=[publisher] if publisher else None,
                                     since=since, until=until)
            return SearchResults(query=query, results=service.search(query, k=k, filters=filters))

        return await _call(run)

    async def ask(
        question: Annotated[str, Field(description="One question, in plain words.")],
    ) -> Annotated[CallToolResult, Answer]:
        """Answer a question with verbatim quotes from the indexed documents, or abstain.

        `answer` joins the quotes with [n] markers; each quote and citation is a verbatim slice of
        document `doc_id` at character offsets `char_start:char_end`. `abstained` is true (and
        `related` lists nearby passages) when the sources do not answer the question.
        """
        answer = (await _call(partial(service.ask, question))).to_dict()
        return CallToolResult(content=[TextContent(type="text", text=answer_text(answer))],
                              structured_content=answer)

    async def check(
        claim: Annotated[str, Field(description="One factual statement to check.")],
    ) -> Annotated[CallToolResult, Verdict]:
        """Check a claim against the indexed documents: which sources support it, which refute it.

        `verdict` is supported, refuted, conflicting or not_enough_info; `evidence` lists verbatim
        sentences with their stance and citation (doc_id, char_start:char_end); near-duplicate
        documents count once in `sources_supporting`/`sources_refuting`. `fact_checks` lists the
        newsroom's earlier published checks of the same claim.
        """
        verdict = (await _call(partial(service.check, claim))).to_dict()
        return CallToolResult(content=[TextContent(type="text", text=verdict_text(verdict))],
                              structured_content=verdict)

    for tool in (search, ask, check):
        # getdoc, not __doc__ (what the SDK takes): the description without the indentation.
        mcp.add_tool(tool, description=inspect.getdoc(tool), annotations=READ_ONLY)
    return mcp


# --- stdio ---------------------------------------------------------------------------------------

@contextmanager
def _stdout_to_stderr() -> Iterator[None]:
    """Send anything written to stdout (fd 1, so C libraries too) to stderr for a while."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        os.dup2(2, 1)
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def run_stdio(settings: Settings) -> None:
    """Load the model and index, then serve MCP over stdin/stdout until the client disconnects."""
    # stdout carries only protocol messages: logs go to stderr (ours at INFO, libraries' quieter).
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    log.setLevel(logging.INFO)
    service = Service(settings)
    with _stdout_to_stderr():  # model loading may print; the SDK diverts fd 1 only while serving
        service.load(index_required=False)
    create_mcp(service).run("stdio")


# --- streamable HTTP -----------------------------------------------------------------------------

def _security(settings: Settings, allowed_hosts: Sequence[str]) -> TransportSecuritySettings:
    """DNS-rebinding protection that admits local hosts, `allowed_hosts` and the CORS origins."""
    if "*" in allowed_hosts:  # served on a public name behind a proxy: any Host header
        return TransportSecuritySettings(enable_dns_rebinding_protection=False)
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=[*LOCAL_HOSTS, *allowed_hosts],
        allowed_origins=[*LOCAL_ORIGINS, *settings.origins()],
    )


class _Endpoint:
    """The ASGI app: checks the request, then hands it to the running session manager.

    It answers at whatever path it is given, so it works both mounted (`/mcp/`) and as the
    endpoint of an exact route (`/mcp`, which spares clients the mount's trailing-slash redirect).
    """

    def __init__(self, settings: Settings, auth: Authenticator) -> None:
        self.settings = settings
        self.auth = auth
        self.manager: StreamableHTTPSessionManager | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # a mount also passes websockets on
            await WebSocketClose()(scope, receive, send)
            return
        response = self._refusal(scope)
        if response is not None:
            await response(scope, receive, send)
        else:
            assert self.manager is not None
            await self.manager.handle_request(scope, receive, send)

    def _refusal(self, scope: Scope) -> JSONResponse | None:
        """Why this request may not go on, as a response; None when it may."""
        if self.manager is None:
            return JSONResponse({"code": "not_ready", "message": "the MCP endpoint is not running"},
                                status_code=503)
        if scope["method"] == "GET":
            # Stateless: the server never pushes messages, and the SDK would otherwise hold an idle
            # event stream open for every GET; 405 is the spec's "no SSE stream here".
            return JSONResponse({"code": "method_not_allowed", "message": "POST JSON-RPC here"},
                                status_code=405, headers={"Allow": "POST"})
        if self.settings.read_auth == "open":
            return None
        # ASSISTANT_READ_AUTH=key: the API's read check does not reach a mounted app, so repeat it.
        credential = bearer_value(Request(scope).headers.get("authorization"))
        if self.auth.is_api_key(credential):
            return None
        if credential is not None:  # a wrong key counts towards the address's lock-out
            self.auth.record_failure(client_address(scope.get("client")))
        return JSONResponse({"code": "unauthorized", "message": "this service needs an API key: "
                             "send Authorization: Bearer KEY"}, status_code=401,
                            headers={"WWW-Authenticate": "Bearer"})


def mcp_http(service: Service, auth: Authenticator, *, allowed_hosts: Sequence[str] = ()
             ) -> tuple[ASGIApp, Callable[[], AbstractAsyncContextManager[None]]]:
    """(ASGI app to mount at /mcp, factory of the context manager to enter in the app's lifespan).

    Stateless streamable HTTP with JSON responses: no session state, so any worker can answer.
    Mounted, a POST to /mcp is redirected (307) to /mcp/; also routing /mcp exactly to the same
    app (`app.add_route("/mcp", app)`) answers it directly.
    `allowed_hosts` adds Host header values (e.g. "assistant.example:*") to the local ones;
    "*" turns the Host/Origin checks off.
    """
    mcp = create_mcp(service)
    security = _security(service.settings, allowed_hosts)
    endpoint = _Endpoint(service.settings, auth)

    @asynccontextmanager
    async def lifespan() -> AsyncIterator[None]:
        # A session manager runs only once, so every entry (e.g. every TestClient) builds a new
        # one; streamable_http_app() is the public way to build it (its Starlette app is unused).
        mcp.streamable_http_app(stateless_http=True, json_response=True,
                                transport_security=security)
        manager = mcp.session_manager
        async with manager.run():
            endpoint.manager = manager
            try:
                yield
            finally:
                endpoint.manager = None

    return endpoint, lifespan
