"""The MCP server: `search`, `ask`, `check`, `get_document` and `get_passage` as Model Context
Protocol tools, over stdio or HTTP.

A thin layer over `Service`, like the HTTP API. Library errors become MCP tool errors (`isError`)
carrying their message, and bad arguments one plain line naming each; anything else is logged
here and reported without a traceback.
"""

from __future__ import annotations

import inspect
import logging
import os
import sys
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from typing import Annotated, Any, TypeVar

import anyio
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError, UnexpectedToolError
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from mcp_types import CallToolResult, InputRequiredResult, TextContent, ToolAnnotations
from pydantic import BaseModel, ConfigDict, Field, RootModel, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocketClose

from assistant import __version__
from assistant.auth import Authenticator, bearer_value, client_address
from assistant.config import Settings
from assistant.errors import AssistantError, QueryError
from assistant.models import (
    Answer,
    Document,
    DocumentText,
    Filters,
    Passage,
    SearchResults,
    TextVerdicts,
    Verdict,
)
from assistant.service import Service
from assistant.text import normalize_text, sentence_spans

log = logging.getLogger("assistant")
T = TypeVar("T")

INSTRUCTIONS = (
    "Answers questions only from the indexed source documents. Every quote is a verbatim slice "
    "of a stored document, cited with its doc_id and character offsets (char_start:char_end); "
    "when the sources do not answer, `ask` abstains instead of guessing. `get_passage` reads a "
    "cited span with the text around it; `get_document` reads a whole document."
)
READ_ONLY = ToolAnnotations(read_only_hint=True, idempotent_hint=True, open_world_hint=False)
LOCAL_HOSTS = ["127.0.0.1:*", "localhost:*", "[::1]:*", "127.0.0.1", "localhost", "[::1]"]
LOCAL_ORIGINS = ["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*",
                 "http://127.0.0.1", "http://localhost", "http://[::1]"]


# --- the tools -----------------------------------------------------------------------------------

TOOLS = ("search", "ask", "check", "get_document", "get_passage")  # in the order they are listed
MAX_TEXT_CHARS = 20_000  # most characters of document text one call returns (a model's context)
MAX_CONTEXT_CHARS = 5_000

Publisher = Annotated[str | None, Field(description="Only documents from this publisher.")]
Since = Annotated[str | None, Field(description="Only documents published on or after YYYY-MM-DD.")]
Until = Annotated[str | None, Field(description="Only documents published by YYYY-MM-DD.")]
DocId = Annotated[str, Field(min_length=1, description="A doc_id, as search, ask or check cite.")]
K = Annotated[int, Field(ge=1, description="How many results (at most ASSISTANT_MAX_K).")]
Start = Annotated[int, Field(ge=0, description="First character (a citation's char_start).")]
End = Annotated[int, Field(ge=0, description="The character after the last (its char_end).")]
ContextChars = Annotated[int, Field(ge=0, le=MAX_CONTEXT_CHARS, description=(
    "Characters of the surrounding text to include on each side."))]
MaxChars = Annotated[int, Field(ge=1, le=MAX_TEXT_CHARS, description=(
    "Return at most this many characters of text (cut after a whole sentence)."))]


class CheckResult(RootModel[Verdict | TextVerdicts]):
    """A Verdict for one claim; for a paragraph, the text and a Verdict per check-worthy claim."""

    # MCP wants an object schema; without this the SDK would wrap the union in {"result": ...}.
    model_config = ConfigDict(json_schema_extra={"type": "object"})


async def _call(fn: Callable[[], T]) -> T:
    """Run a blocking library call in a worker thread; library errors become tool errors."""
    try:
        # Embedding a query runs torch for tens of milliseconds: keep the event loop free.
        return await anyio.to_thread.run_sync(fn)
    except AssistantError as exc:  # a QueryError's field is the tool argument's own name
        raise ToolError(str(exc)) from exc


def _filters(publisher: str | None, since: str | None, until: str | None) -> Filters:
    """The library's validated filters (a QueryError names a bad `since` or `until`)."""
    return Filters.create(publishers=[publisher] if publisher else None, since=since, until=until)


def _head(d: dict[str, Any]) -> str:
    """What, who, when, where: the parts of a citation line that are there."""
    source = None if d["url"] or d["source"] == d["doc_id"] else d["source"]
    return ", ".join(p for p in (d["title"], d["publisher"], (d["published"] or "")[:10],
                                 d["url"], source) if p)


def _cite(c: dict[str, Any]) -> str:
    """One human-readable citation line: what, who, when, where, then the exact span."""
    head = _head(c)
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


def verdicts_text(result: dict[str, Any]) -> str:
    """Each check-worthy claim of a paragraph with its verdict and evidence, for text clients."""
    claims = result["claims"]
    if not claims:
        return ("No check-worthy claims in the text: nothing that states a fact (names, numbers, "
                "events); questions and opinions are left out.")
    lines = [f"{len(claims)} check-worthy claim{'s' if len(claims) > 1 else ''} in the text."]
    for n, v in enumerate(claims, start=1):
        lines += ["", f"Claim {n}: {v['claim']}", verdict_text(v)]
    return "\n".join(lines)


def document_text(d: dict[str, Any]) -> str:
    """The document's citation line and its text, for clients that only show text."""
    head = _head(d)
    lines = [f"{head} | {d['doc_id']}" if head else d["doc_id"], "", d["text"]]
    if d["note"]:
        lines += ["", f"({d['note']})"]
    return "\n".join(lines)


def passage_text(p: dict[str, Any]) -> str:
    """The passage, its span and its context, for clients that only show text."""
    head = _head(p)
    span = f"{p['doc_id']} [{p['char_start']}:{p['char_end']}]"
    lead = "…" if p["context_start"] > 0 else ""
    tail = "…" if p["context_end"] < p["chars"] else ""
    return "\n".join([f"{head} | {span}" if head else span, "", f"“{p['text']}”", "",
                      f"In context [{p['context_start']}:{p['context_end']}]:",
                      f"{lead}{p['before']}{p['text']}{p['after']}{tail}"])


def _cut(text: str, limit: int) -> int:
    """Where to cut `text` to at most `limit` characters: after a whole sentence, else a word."""
    if len(text) <= limit:
        return len(text)
    # A sentence is looked for a little past the limit, so the one the limit falls in ends there.
    ends = [e for _, e in sentence_spans(text, 0, min(len(text), limit + 1000)) if e <= limit]
    if ends and ends[-1] >= limit // 2:
        return ends[-1]
    space = max(text.rfind(" ", 0, limit), text.rfind("\n", 0, limit))
    return space if space > 0 else limit


def _context(text: str, start: int, end: int, chars: int) -> tuple[int, int]:
    """Up to `chars` characters either side of text[start:end], not cutting a word in two."""
    lo, hi = max(0, start - chars), min(len(text), end + chars)
    if lo > 0 and not text[lo - 1].isspace():  # mid-word: begin at the next word instead
        nxt = next((i for i in range(lo, start) if text[i].isspace()), start)
        lo = min(nxt + 1, start)
    if hi < len(text) and not text[hi].isspace():
        prev = next((i for i in range(hi - 1, end - 1, -1) if text[i].isspace()), end)
        hi = max(prev, end)
    return lo, hi


class Tools:
    """The tools, over one service; each method's docstring is its tool's description."""

    def __init__(self, service: Service) -> None:
        self.service = service

    def _document(self, doc_id: str) -> Document:
        """The stored document, or a QueryError naming `doc_id`."""
        doc = self.service.get_document(doc_id)
        if doc is None:
            raise QueryError(f"{doc_id!r} is not in the index: use a doc_id that search, ask or "
                             "check cited", field="doc_id")
        return doc

    async def search(
        self,
        query: Annotated[str, Field(description="What to look for, in plain words.")],
        k: K = 5,
        publisher: Publisher = None,
        since: Since = None,
        until: Until = None,
    ) -> SearchResults:
        """Hybrid (semantic + keyword) search, optionally filtered.

        Returns ranked passages; each `text` is verbatim from its document, located by `doc_id`
        and character offsets `char_start:char_end`, with title, publisher, date and URL.
        """
        def run() -> SearchResults:
            hits = self.service.search(query, k=k, filters=_filters(publisher, since, until))
            return SearchResults(query=query, results=hits)

        return await _call(run)

    async def ask(
        self,
        question: Annotated[str, Field(description="One question, in plain words.")],
        publisher: Publisher = None,
        since: Since = None,
        until: Until = None,
    ) -> Annotated[CallToolResult, Answer]:
        """Answer a question with verbatim cited quotes, or abstain.

        `answer` joins the quotes with [n] markers; each quote and citation is a verbatim slice of
        document `doc_id` at character offsets `char_start:char_end`. `abstained` is true (and
        `related` lists nearby passages) when the sources do not answer the question.
        `publisher`, `since` and `until` limit which documents may answer.
        """
        def run() -> Answer:
            filters = _filters(publisher, since, until)  # a bad date is said before any work
            return self.service.ask(question, filters=filters)

        answer = (await _call(run)).to_dict()
        return CallToolResult(content=[TextContent(type="text", text=answer_text(answer))],
                              structured_content=answer)

    async def check(
        self,
        claim: Annotated[str, Field(description="A factual statement to check, or a paragraph: "
                                    "each of its check-worthy sentences is checked.")],
        publisher: Publisher = None,
        since: Since = None,
        until: Until = None,
    ) -> Annotated[CallToolResult, CheckResult]:
        """Check a claim, or each claim of a paragraph, against sources.

        For one statement: `verdict` is supported, refuted, conflicting or not_enough_info;
        `evidence` lists verbatim sentences with their stance and citation (doc_id,
        char_start:char_end); near-duplicate documents count once in
        `sources_supporting`/`sources_refuting`; `fact_checks` lists the newsroom's earlier
        published checks of the same claim. For several sentences: `claims` holds such a verdict
        for each check-worthy one (statements of fact, not questions or opinions).
        """
        settings = self.service.settings

        def run() -> Verdict | TextVerdicts:
            filters = _filters(publisher, since, until)
            text = normalize_text(claim)
            # The HTTP API's `text` path (check_text) splits a paragraph; one sentence is one claim.
            if len(text) <= settings.max_claim_chars and len(sentence_spans(text)) <= 1:
                return self.service.check(claim, filters=filters)
            try:
                return self.service.check_text(claim, filters=filters)
            except QueryError as exc:  # the library calls a paragraph "the text"; here: `claim`
                raise QueryError(str(exc).replace("the text ", "the claim ", 1)) from exc

        result = (await _call(run)).to_dict()
        shown = verdicts_text(result) if "claims" in result else verdict_text(result)
        return CallToolResult(content=[TextContent(type="text", text=shown)],
                              structured_content=result)

    async def get_document(
        self,
        doc_id: DocId,
        max_chars: MaxChars = MAX_TEXT_CHARS,
    ) -> Annotated[CallToolResult, DocumentText]:
        """Fetch a document: title, source, publisher, date and text.

        The text is the one every cited offset refers to. A long document is cut after a whole
        sentence (`truncated`, `char_end`); `get_passage` reads on from there.
        """
        def run() -> DocumentText:
            doc = self._document(doc_id)
            cut = _cut(doc.text, max_chars)
            note = None
            if cut < len(doc.text):
                note = (f"text truncated at character {cut} of {len(doc.text)}: read on with "
                        f"get_passage(doc_id, start={cut}, end=...)")
            return DocumentText(doc_id=doc.doc_id, title=doc.title, source=doc.source,
                                publisher=doc.publisher, author=doc.author, url=doc.url,
                                published=doc.published, chars=len(doc.text), char_end=cut,
                                truncated=cut < len(doc.text), text=doc.text[:cut], note=note)

        result = (await _call(run)).model_dump()
        return CallToolResult(content=[TextContent(type="text", text=document_text(result))],
                              structured_content=result)

    async def get_passage(
        self,
        doc_id: DocId,
        start: Start,
        end: End,
        context_chars: ContextChars = 300,
    ) -> Annotated[CallToolResult, Passage]:
        """Fetch a passage by offsets, verbatim, with its context.

        `text` is exactly the stored document's text[start:end], as every citation's quote is;
        `before` and `after` are the text around it, from `context_start` to `context_end`.
        """
        def run() -> Passage:
            if start >= end:  # said before the document is looked up: it is the arguments' fault
                raise QueryError(f"must be less than end ({end}), got {start}", field="start")
            if end - start > MAX_TEXT_CHARS:
                raise QueryError(f"must be at most start + {MAX_TEXT_CHARS} "
                                 f"({start + MAX_TEXT_CHARS}), got {end}: read a long span in "
                                 "parts", field="end")
            doc = self._document(doc_id)
            if end > len(doc.text):
                raise QueryError(f"must be at most {len(doc.text)} (the length of {doc_id!r}), got "
                                 f"{end}", field="end")
            lo, hi = _context(doc.text, start, end, context_chars)
            return Passage(doc_id=doc.doc_id, title=doc.title, source=doc.source,
                           publisher=doc.publisher, url=doc.url, published=doc.published,
                           chars=len(doc.text), char_start=start, char_end=end,
                           text=doc.text[start:end], context_start=lo, context_end=hi,
                           before=doc.text[lo:start], after=doc.text[end:hi])

        result = (await _call(run)).model_dump()
        return CallToolResult(content=[TextContent(type="text", text=passage_text(result))],
                              structured_content=result)


def tool_summaries() -> list[tuple[str, str]]:
    """(name, first line of its description) of each tool, in the order they are listed."""
    return [(name, (inspect.getdoc(getattr(Tools, name)) or "").splitlines()[0]) for name in TOOLS]


# --- argument errors -----------------------------------------------------------------------------

def _problem(err: Mapping[str, Any]) -> str:
    """One argument's validation error, worded as what to change."""
    name = ".".join(str(part) for part in err["loc"]) or "arguments"
    given = repr(err.get("input"))
    given = given if len(given) <= 40 else given[:37] + "..."
    ctx = err.get("ctx") or {}
    kind = err["type"]
    if kind == "missing":
        return f"{name} is required"
    if kind == "greater_than_equal":
        return f"{name} must be at least {ctx['ge']}, got {given}"
    if kind == "less_than_equal":
        return f"{name} must be at most {ctx['le']}, got {given}"
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return f"{name} must be a whole number, got {given}"
    if kind == "string_type":
        return f"{name} must be a string, got {given}"
    if kind == "string_too_short":
        return f"{name} must not be empty"
    return f"{name}: {err['msg'][:1].lower()}{err['msg'][1:]}, got {given}"


def argument_error(tool: str, exc: ValidationError) -> str:
    """A tool's argument errors as one plain line (pydantic's own text spans many lines)."""
    return f"Invalid arguments for {tool}: " + "; ".join(_problem(e) for e in exc.errors())


class _Server(MCPServer):
    """MCPServer, with argument validation errors given as one plain line."""

    async def call_tool(self, name: str, arguments: dict[str, Any],
                        context: Context[Any, Any] | None = None
                        ) -> CallToolResult | InputRequiredResult:
        """Call a tool; a ToolError caused by bad arguments is reworded, the rest pass as is."""
        try:
            return await super().call_tool(name, arguments, context)
        except ToolError as exc:
            cause = exc.__cause__
            if isinstance(exc, UnexpectedToolError) or not isinstance(cause, ValidationError):
                raise
            # Still caused by the ValidationError: the SDK then logs field names, not values.
            raise ToolError(argument_error(name, cause)) from cause


def create_mcp(service: Service) -> MCPServer:
    """An MCP server named "assistant" with the tools in TOOLS."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    mcp: MCPServer = _Server("assistant", version=__version__, instructions=INSTRUCTIONS)
    # MCPServer() calls logging.basicConfig (a rich handler on the root logger); the host app or
    # run_stdio owns logging, so undo that.
    root.handlers[:], root.level = handlers, level
    tools = Tools(service)
    for name in TOOLS:
        tool = getattr(tools, name)
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
