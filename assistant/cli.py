"""The command line: `assistant ingest|remove|search|status|serve|eval`."""

from __future__ import annotations

import json
import logging
import os
import sys
import textwrap
from collections.abc import Callable, Iterator
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import click
import typer
from typer.core import HAS_RICH, TyperCommand

from assistant.config import Settings, load_settings
from assistant.errors import AssistantError, QueryError

if TYPE_CHECKING:
    from assistant.service import Service

app = typer.Typer(
    name="assistant",
    help="Question answering and fact-checking over your own source texts, with verbatim quotes.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

IndexOpt = Annotated[
    Path | None,
    typer.Option("--index", help="Index directory [env ASSISTANT_INDEX, default: index]"),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable JSON output.")]
PublisherOpt = Annotated[list[str] | None, typer.Option(help="Only this publisher (repeatable).")]
SinceOpt = Annotated[str | None, typer.Option(help="Published on or after (YYYY-MM-DD).")]
UntilOpt = Annotated[str | None, typer.Option(help="Published on or before (YYYY-MM-DD).")]
F = TypeVar("F", bound=Callable[..., Any])
# The library's notes on stderr; a worker process of `serve --workers N` marks its own.
LOG_FORMAT = "assistant: %(message)s"
WORKER_LOG_FORMAT = "assistant[%(process)d]: %(message)s"
# What the library calls an input, as this command line names it.
FLAGS = {"since": "--since", "until": "--until", "k": "-k", "mode": "--mode", "url": "--url"}


def _fail(message: str, code: int) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def handle_errors(fn: F) -> F:
    """Library errors become one line on stderr and exit 2; anything else exit 1."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except typer.Exit:
            raise
        except QueryError as exc:
            _fail(exc.worded(FLAGS), 2)
        except AssistantError as exc:
            _fail(str(exc), 2)
        except KeyboardInterrupt:
            typer.echo("interrupted: the index is unchanged", err=True)
            raise typer.Exit(130) from None
        except BrokenPipeError:  # e.g. piped into `head`
            sys.stderr.close()
            raise typer.Exit(0) from None
        except Exception as exc:
            if os.environ.get("ASSISTANT_DEBUG"):
                raise
            _fail(f"internal error: {type(exc).__name__}: {exc} (set ASSISTANT_DEBUG=1 for a "
                  "traceback)", 1)

    return wrapper  # type: ignore[return-value]


def _settings(index: Path | None, **extra: Any) -> Settings:
    return load_settings(index=index, **extra)


def _eval_settings(root: Path, name: str) -> Settings:
    """An evaluation set's own index: a folder under `root`, or (with ASSISTANT_DATABASE_URL)
    its own schema."""
    return _settings(root / name, database_schema=f"eval_{name}")


def _service(settings: Settings) -> Service:
    """The service over the settings' index (the model is loaded when first needed)."""
    from assistant.service import Service

    return Service(settings)


def _filters(**given: Any) -> Any:
    from assistant.models import Filters

    return Filters.create(**given)


def _bad_line(exc: QueryError) -> dict[str, str]:
    return {"code": "bad_query", "message": exc.worded(FLAGS)}


@app.command()
@handle_errors
def ingest(
    paths: Annotated[list[str] | None, typer.Argument(
        help="Files or folders (.txt .md .html .jsonl .pdf .docx), or http(s) URLs of article "
        "pages, RSS/Atom feeds and sitemaps [default: ASSISTANT_CORPUS or corpus/]",
        show_default=False)] = None,
    index: IndexOpt = None,
    chunk_size: Annotated[int | None, typer.Option(help="Most words per chunk (new index).")] = None,
    chunk_overlap: Annotated[int | None, typer.Option(help="Sentences shared by chunks.")] = None,
    chunk_vectors: Annotated[str | None, typer.Option(
        metavar="sentences|model", help="How chunk vectors are made (new index): from their "
        "sentences' vectors, or by embedding each chunk whole (slower).")] = None,
    as_json: JsonOpt = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
    ray: Annotated[str | None, typer.Option(
        "--ray", metavar="ADDRESS",
        help="Embed on this Ray cluster (host:port, or auto); needs assistant[ray].")] = None,
    ray_workers: Annotated[int | None, typer.Option(
        help="Embedding actors on the Ray cluster [default: one per CPU].")] = None,
) -> None:
    """Add new and changed documents to the index (unchanged ones are skipped)."""
    settings = _settings(index, chunk_size=chunk_size, chunk_overlap=chunk_overlap,
                         chunk_vectors=chunk_vectors)
    service = _service(settings)
    service.check_chunking()  # fail before loading the model
    report = service.ingest(paths or [settings.corpus], progress=not quiet and sys.stderr.isatty(),
                            ray_address=ray, ray_workers=ray_workers)
    for err in report.errors:
        typer.echo(f"error: {err}", err=True)
    for item in report.not_ingested:
        typer.echo(f"skipped: {item.source}: {item.reason}", err=True)
    if as_json:
        typer.echo(json.dumps(report.to_json(), ensure_ascii=False))
    else:
        reused = f", {report.reused_vectors} vectors reused" if report.reused_vectors else ""
        typer.echo(
            f"ingested {report.documents} document(s), {report.chunks} chunk(s){reused}"
            + (f", {report.fact_checks} fact-check(s)" if report.fact_checks else "")
            + f"; {report.skipped} unchanged; {len(report.errors)} error(s); "
            + (f"{len(report.not_ingested)} file(s) of other types skipped; "
               if report.not_ingested else "")
            + f"{report.seconds:.1f} s → {service.location}"
            + (f" (generation {report.generation})" if report.generation else "")
        )
    if report.errors:
        raise typer.Exit(2)


@app.command()
@handle_errors
def remove(
    doc_ids: Annotated[list[str], typer.Argument(help="Document ids to delete.")],
    index: IndexOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Delete documents (and their chunks and vectors) from the index."""
    removed, missing = _service(_settings(index)).delete_documents(doc_ids)
    if as_json:
        typer.echo(json.dumps({"removed": removed, "not_found": missing}, ensure_ascii=False))
    else:
        typer.echo(f"removed {len(removed)} document(s)")
    for doc_id in missing:
        typer.echo(f"error: no document with id {doc_id!r}", err=True)
    if missing:
        raise typer.Exit(2)


def _read_batch(stream: Any) -> Iterator[tuple[Any, str]]:
    """(id, query) pairs from stdin: a plain line, or an object with id and query/question/claim."""
    for n, line in enumerate(stream, start=1):
        line = line.strip()
        if not line:
            continue
        if line.startswith("{"):
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise QueryError(f"stdin line {n}: invalid JSON ({exc.msg})") from None
            text = obj.get("query") or obj.get("question") or obj.get("claim")
            if not isinstance(text, str):
                raise QueryError(f"stdin line {n}: expected a 'query' string")
            yield obj.get("id", n), text
        else:
            yield n, line


@app.command()
@handle_errors
def search(
    query: Annotated[str, typer.Argument(help="The query, or - to read queries from stdin (--json).")],
    index: IndexOpt = None,
    k: Annotated[int | None, typer.Option("-k", help="Number of results [default: 10].")] = None,
    publisher: Annotated[list[str] | None, typer.Option(help="Only this publisher (repeatable).")] = None,
    source: Annotated[list[str] | None, typer.Option(
        help="Only this source; a trailing / or * matches a prefix (repeatable).")] = None,
    since: Annotated[str | None, typer.Option(help="Published on or after (YYYY-MM-DD).")] = None,
    until: Annotated[str | None, typer.Option(help="Published on or before (YYYY-MM-DD).")] = None,
    mode: Annotated[str, typer.Option(help="hybrid, dense or bm25.")] = "hybrid",
    as_json: JsonOpt = False,
) -> None:
    """Hybrid (dense + BM25) search over the index's chunks."""
    settings = _settings(index)
    filters = _filters(publishers=publisher, sources=source, since=since, until=until)
    if query == "-" and not as_json:
        raise QueryError("reading queries from stdin (-) needs --json")
    if query != "-":
        query = query.strip()
        if not query:
            raise QueryError("the query is empty")
    service = _service(settings).load()

    if query == "-":
        for qid, text in _read_batch(sys.stdin):
            try:
                hits = service.search(text, k=k, filters=filters, mode=mode)  # type: ignore[arg-type]
                out: dict[str, Any] = {"id": qid, "query": text,
                                       "results": [h.to_dict() for h in hits]}
            except QueryError as exc:
                out = {"id": qid, "query": text, "error": _bad_line(exc)}
            typer.echo(json.dumps(out, ensure_ascii=False))
            sys.stdout.flush()
        return
    hits = service.search(query, k=k, filters=filters, mode=mode)  # type: ignore[arg-type]
    if as_json:
        typer.echo(json.dumps({"id": None, "query": query, "results": [h.to_dict() for h in hits]},
                              ensure_ascii=False))
        return
    if not hits:
        typer.echo("no results")
    width = min(100, max(60, _terminal_width() - 4))
    for h in hits:
        where = " › ".join(x for x in (h.title or h.source, h.section) if x)
        typer.secho(f"{h.rank:>2}. {where}", bold=True)
        typer.echo(f"    {h.doc_id} [{h.char_start}:{h.char_end}]  score {h.score:.4f}")
        typer.echo(textwrap.indent(textwrap.fill(_snippet(h.text, query), width), "    "))


def _snippet(text: str, query: str, size: int = 400) -> str:
    """About `size` characters of text around the first query word it contains."""
    if len(text) <= size:
        return text
    import re

    from assistant.text import STOPWORDS

    words = [w for w in re.findall(r"\w+", query.lower()) if w not in STOPWORDS and len(w) > 2]
    low = text.lower()
    at = min((i for i in (low.find(w) for w in words) if i >= 0), default=0)
    start = max(0, min(at - size // 3, len(text) - size))
    end = start + size
    if start > 0:
        start = text.find(" ", start) + 1
    if end < len(text):
        end = text.rfind(" ", start, end)
    return ("… " if start > 0 else "") + text[start:end] + (" …" if end < len(text) else "")


def _terminal_width() -> int:
    import shutil

    return shutil.get_terminal_size((100, 20)).columns


@app.command()
@handle_errors
def ask(
    question: Annotated[str, typer.Argument(help="The question, or - to read questions from stdin (--json).")],
    index: IndexOpt = None,
    publisher: PublisherOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Answer a question with verbatim quotes and citations, or say the sources do not answer."""
    service = _service(_settings(index))
    filters = _filters(publishers=publisher, since=since, until=until)
    if question == "-" and not as_json:
        raise QueryError("reading questions from stdin (-) needs --json")
    if question != "-":
        question = service.check_question(question)  # fail before loading the model
    service.load()
    if question == "-":
        for qid, text in _read_batch(sys.stdin):
            try:
                out: dict[str, Any] = {"id": qid, **service.ask(text, filters=filters).to_dict()}
            except QueryError as exc:
                out = {"id": qid, "question": text, "error": _bad_line(exc)}
            typer.echo(json.dumps(out, ensure_ascii=False))
            sys.stdout.flush()
        return
    answer = service.ask(question, filters=filters)
    if as_json:
        typer.echo(json.dumps({"id": None, **answer.to_dict()}, ensure_ascii=False))
        return
    _print_answer(answer)


def _print_answer(answer: Any) -> None:
    width = min(100, max(60, _terminal_width() - 4))
    if answer.abstained:
        typer.secho(answer.answer, bold=True)
        if answer.related:
            typer.echo("\nNearest passages (they do not answer it):")
            for q in answer.related:
                typer.echo(textwrap.indent(textwrap.fill(f"“{q.text}”", width), "  "))
                typer.echo(f"    — {_cite_line(q.citation)}")
        return
    typer.secho(f"Answer (confidence {answer.confidence:.2f})", bold=True)
    typer.echo(textwrap.indent(textwrap.fill(answer.answer, width), "  "))
    typer.echo("")
    for c in answer.citations:
        typer.secho(f"[{c.n}] {_cite_line(c)}", bold=True)
        typer.echo(textwrap.indent(textwrap.fill(f"“{c.quote}”", width), "    "))
        typer.echo(f"    {c.source} [{c.char_start}:{c.char_end}]")


def _cite_line(c: Any) -> str:
    parts = [c.title or c.source, c.publisher, c.published[:10] if c.published else "undated",
             c.url or c.source]
    return ", ".join(dict.fromkeys(p for p in parts if p))


@app.command()
@handle_errors
def check(
    claim: Annotated[str, typer.Argument(help="The claim, or - to read claims from stdin (--json).")],
    index: IndexOpt = None,
    text: Annotated[bool, typer.Option(
        "--text", help="CLAIM is a paragraph: check each check-worthy sentence.")] = False,
    claimreview: Annotated[bool, typer.Option(
        "--claimreview", help="Print the check as schema.org ClaimReview JSON-LD.")] = False,
    url: Annotated[str, typer.Option(help="With --claimreview: where it will be published.")] = "",
    publisher: PublisherOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Check a claim against the sources: evidence for and against, quoted, and a verdict."""
    service = _service(_settings(index))
    filters = _filters(publishers=publisher, since=since, until=until)
    if claim == "-" and not as_json:
        raise QueryError("reading claims from stdin (-) needs --json")
    if claimreview and (text or claim == "-"):
        raise QueryError("--claimreview exports one claim: it does not combine with --text or -")
    if claim != "-":
        claim = claim.strip() if text else service.check_claim(claim)  # before loading the model
    service.load()
    if claim == "-":
        for cid, line in _read_batch(sys.stdin):
            try:
                out: dict[str, Any] = {"id": cid, **service.check(line, filters=filters).to_dict()}
            except QueryError as exc:
                out = {"id": cid, "claim": line, "error": _bad_line(exc)}
            typer.echo(json.dumps(out, ensure_ascii=False))
            sys.stdout.flush()
        return
    if text:
        checked = service.check_text(claim, filters=filters)
        verdicts = checked.claims
        if as_json:
            typer.echo(json.dumps(checked.to_dict(), ensure_ascii=False))
            return
        if not verdicts:
            typer.echo("No check-worthy sentences (facts with names, numbers or events) found.")
        for n, v in enumerate(verdicts, start=1):
            typer.secho(f"Claim {n} of {len(verdicts)}: {v.claim}", bold=True, underline=True)
            _print_verdict(v)
            typer.echo("")
        return
    if claimreview:
        review = service.claimreview(claim, url=url, filters=filters)
        typer.echo(json.dumps(review, ensure_ascii=False, indent=None if as_json else 2))
        return
    verdict = service.check(claim, filters=filters)
    if as_json:
        typer.echo(json.dumps({"id": None, **verdict.to_dict()}, ensure_ascii=False))
    else:
        _print_verdict(verdict)


_VERDICT_COLOUR = {"supported": "green", "refuted": "red", "conflicting": "yellow",
                   "not_enough_info": "blue"}


def _print_verdict(v: Any) -> None:
    width = min(100, max(60, _terminal_width() - 4))
    for fc in v.fact_checks:
        typer.secho(f"Already fact-checked: {fc.rating}", bold=True)
        typer.echo(f"  “{fc.claim}” — {', '.join(p for p in (fc.author, fc.published, fc.url) if p)}")
    label = v.verdict.replace("_", " ")
    typer.secho(f"Verdict: {label} (confidence {v.confidence:.2f})", bold=True,
                fg=_VERDICT_COLOUR.get(v.verdict))
    typer.echo(f"  sources supporting: {v.sources_supporting}, refuting: {v.sources_refuting}"
               + (f"; counted once: {', '.join(' = '.join(g) for g in v.merged)}" if v.merged else ""))
    for e in v.evidence:
        c = e.citation
        typer.secho(f"[{c.n}] {e.stance.upper()} — {_cite_line(c)}", bold=e.stance != "neutral")
        typer.echo(textwrap.indent(textwrap.fill(f"“{e.quote}”", width), "    "))
        typer.echo(f"    {c.source} [{c.char_start}:{c.char_end}]")


@app.command()
@handle_errors
def status(index: IndexOpt = None, as_json: JsonOpt = False) -> None:
    """Show what the index holds and how it was built."""
    service = _service(_settings(index))
    data = service.manifest()
    if as_json:
        typer.echo(json.dumps(data))
        return
    c = data["counts"]
    typer.echo(f"index      {service.location} (generation {data['generation']}, built "
               f"{data['built_at']})")
    typer.echo(f"contents   {c.get('documents', 0)} documents, {c.get('chunks', 0)} chunks")
    typer.echo(f"embedder   {data['embedder']['model']} (dim {data['embedder']['dim']})")
    typer.echo(f"chunker    {data['chunker']}")


@app.command()
@handle_errors
def feedback(
    index: IndexOpt = None,
    since: Annotated[str | None, typer.Option(help="Only ratings from this day on (YYYY-MM-DD, "
                                              "UTC).")] = None,
    rating: Annotated[str | None, typer.Option(help="Only 'up' or only 'down'.")] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write to this file "
                                                "instead of standard output.")] = None,
) -> None:
    """Export readers' thumbs up/down on answers as JSON Lines, one rating per line (question,
    answer, citations), for evaluation."""
    if rating not in (None, "up", "down"):
        _fail(f"--rating must be 'up' or 'down', not {rating!r}", 2)
    day = _filters(since=since).since[:10] if since else None  # validated: YYYY-MM-DD
    items = _service(_settings(index)).feedback(since=day, rating=rating)
    out = output.open("w", encoding="utf-8") if output else sys.stdout
    try:
        n = 0
        for item in items:
            out.write(item.model_dump_json() + "\n")
            n += 1
    finally:
        if output:
            out.close()
    if output:
        typer.echo(f"{n} rating{'s' if n != 1 else ''} written to {output}", err=True)


@app.command()
@handle_errors
def serve(
    index: IndexOpt = None,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    workers: Annotated[int, typer.Option(
        min=1, max=64, help="Server processes, each with its own model and index reader (one "
        "per core pays when requests are CPU-bound: Python work holds one core per process).")
    ] = 1,
) -> None:
    """Serve the HTTP API (OpenAPI docs at /docs)."""
    import uvicorn

    from assistant.server import app as server_app

    settings = _settings(index)
    # X-Forwarded-For is honoured only from ASSISTANT_TRUSTED_PROXIES, by the app itself;
    # uvicorn's own handling would trust it from 127.0.0.1, letting any local client pick its IP.
    log_config = _server_log_config(workers)
    if workers == 1:
        uvicorn.run(server_app(settings), host=host, port=port, log_level="info",
                    proxy_headers=False, log_config=log_config)
        return
    # Each worker process builds its app from the environment: hand it the index chosen here,
    # and one widget-token secret, or a token from one worker would be refused by the next.
    os.environ["ASSISTANT_INDEX"] = str(settings.index)
    if not settings.token_secret:
        import secrets

        os.environ["ASSISTANT_TOKEN_SECRET"] = secrets.token_urlsafe(32)
    # The workers accept from one socket: without this, connections opened together can all
    # stay on one worker (see assistant.api.spread). A user's explicit setting stands.
    os.environ.setdefault("ASSISTANT_SPREAD_CONNECTIONS", "1")
    from assistant.api.spread import Board

    board = Board.create()
    os.environ["ASSISTANT_SPREAD_BOARD"] = str(board)
    try:
        uvicorn.run("assistant.server:app", factory=True, workers=workers, host=host, port=port,
                    log_level="info", proxy_headers=False, log_config=log_config)
    finally:
        board.unlink(missing_ok=True)


def _server_log_config(workers: int) -> dict:
    """Uvicorn's logging with the library's notes added: worker processes start with bare
    logging and apply only this, so without it their notes (index reloads, warnings) are lost."""
    import copy

    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    fmt = LOG_FORMAT if workers == 1 else WORKER_LOG_FORMAT
    config["formatters"]["assistant"] = {"format": fmt}
    config["handlers"]["assistant"] = {"class": "logging.StreamHandler", "formatter": "assistant",
                                       "stream": "ext://sys.stderr"}
    level = logging.getLevelName(logging.getLogger("assistant").getEffectiveLevel())
    config["loggers"]["assistant"] = {"handlers": ["assistant"], "level": level,
                                      "propagate": False}
    return config


class _McpHelp(TyperCommand):
    """The `mcp` command, whose help ends with the tools it serves."""

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The help, with the tool list read from assistant.mcp (imported only for the help)."""
        from assistant.mcp import tool_summaries

        lines = [f"  {name:<13} {summary}" for name, summary in tool_summaries()]
        # Plain click rewraps an epilog unless it starts with "\b"; rich keeps line breaks.
        plain = not HAS_RICH or self.rich_markup_mode is None
        self.epilog = ("\b\n" if plain else "") + "\n".join(["Tools:", *lines])
        super().format_help(ctx, formatter)


@app.command(cls=_McpHelp)
@handle_errors
def mcp(index: IndexOpt = None) -> None:
    """Serve the MCP tools over stdio, for MCP clients such as desktop assistants."""
    from assistant.mcp import run_stdio

    run_stdio(_settings(index))


@app.command("eval")
@handle_errors
def evaluate(
    dataset: Annotated[str, typer.Argument(
        help="seeds (questions, claims and perturbed claims), perturbed, scifact (retrieval), scifact-verify (claim "
             "verification on the cited abstracts), scifact-check (open claim checking against "
             "the whole corpus), realtimeqa (answers on a news archive) or all (all but "
             "realtimeqa).")] = "all",
    data: Annotated[Path, typer.Option(help="Folder of the evaluation files.")] = Path("../shared/eval"),
    seeds: Annotated[Path, typer.Option(help="The seed articles.")] = Path("../shared/seeds"),
    index: Annotated[Path | None, typer.Option(
        "--index", help="Where to build evaluation indexes [default: index-eval/]")] = None,
    perturbed: Annotated[Path, typer.Option(
        help="The perturbed claims of the seed articles (scripts/perturb.py writes them).")
    ] = Path("eval/seeds-perturbed.jsonl"),
    modes: Annotated[str, typer.Option(help="SciFact retrieval modes.")] = "hybrid,dense,bm25",
    limit: Annotated[int | None, typer.Option(
        help="SciFact and RealTimeQA: use only the first N queries (RealTimeQA: over the "
             "articles of their weeks).")] = None,
    check: Annotated[bool, typer.Option(
        "--check", help="Exit 1 when the seeds (or RealTimeQA) results fall below CI's bar.")
    ] = False,
    as_of_date: Annotated[bool, typer.Option(
        "--as-of-date", help="RealTimeQA: ask each question as of its quiz's date (stories "
                             "published later filtered out, as the archive stood that day).")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Measure answers and claim checks (seeds), retrieval and claim verification (SciFact)."""
    from assistant.eval import (
        claims_gate_failures,
        realtimeqa_gate_failures,
        run_realtimeqa,
        run_scifact,
        perturbed_gate_failures,
        run_perturbed,
        run_scifact_check,
        run_scifact_verify,
        run_seeds_claims,
        run_seeds_questions,
        seeds_gate_failures,
    )

    if dataset not in ("seeds", "perturbed", "scifact", "scifact-verify", "scifact-check",
                       "realtimeqa", "all"):
        raise QueryError(f"unknown evaluation set {dataset!r}: expected seeds, perturbed, "
                         "scifact, scifact-verify, scifact-check, realtimeqa or all")
    from assistant.service import Service

    root = index or Path("index-eval")
    # No embedding cache and no kept results: evaluations time each query, and a cached one
    # would not be timed.
    seeds_service = Service(_eval_settings(root, "seeds"), cache=False)
    results: dict[str, Any] = {}
    if dataset in ("seeds", "all"):
        results["seeds"] = run_seeds_questions(data, seeds, seeds_service)
        results["seeds_claims"] = run_seeds_claims(data, seeds, seeds_service)
    if dataset in ("seeds", "perturbed", "all"):
        results["perturbed"] = run_perturbed(perturbed, seeds, seeds_service)
    if dataset in ("scifact", "all"):
        # The same loaded model, another index.
        scifact = Service(_eval_settings(root, "scifact"), seeds_service.model(), cache=False)
        results["scifact"] = run_scifact(
            data / "scifact", scifact, modes=[m.strip() for m in modes.split(",") if m.strip()],
            limit=limit, progress=sys.stderr.isatty())
    if dataset in ("scifact-verify", "all"):
        results["scifact_verify"] = run_scifact_verify(data / "scifact", seeds_service,
                                                       limit=limit)
    if dataset == "scifact-check":
        scifact = Service(_eval_settings(root, "scifact"), seeds_service.model(), cache=False)
        results["scifact_check"] = run_scifact_check(data / "scifact", scifact, limit=limit,
                                                     progress=sys.stderr.isatty())
    if dataset == "realtimeqa":
        news = Service(_eval_settings(root, "realtimeqa" if not limit else f"realtimeqa_{limit}"),
                       seeds_service.model(), cache=False)
        results["realtimeqa"] = run_realtimeqa(data / "realtimeqa-2023q1", news, limit=limit,
                                               as_of_date=as_of_date,
                                               progress=sys.stderr.isatty())
    failures = seeds_gate_failures(results["seeds"]) if "seeds" in results else []
    if "seeds_claims" in results:
        failures += claims_gate_failures(results["seeds_claims"])
    if "perturbed" in results:
        failures += perturbed_gate_failures(results["perturbed"])
    if "realtimeqa" in results:
        failures += realtimeqa_gate_failures(results["realtimeqa"])
    if as_json:
        typer.echo(json.dumps(results, ensure_ascii=False))
    else:
        _print_eval(results)
    if check and failures:
        _fail("evaluation below the bar: " + "; ".join(failures), 1)


def _print_eval(results: dict[str, Any]) -> None:
    if "seeds" in results:
        r = results["seeds"]
        typer.echo(f"Seeds questions ({r['questions']})")
        for key in ("hit@1", "hit@3", "abstention_precision", "abstention_recall", "verbatim_rate",
                    "answered_accuracy", "accuracy_confidence_above_0.8",
                    "accuracy_confidence_below_0.5"):
            typer.echo(f"  {key:<32} {r[key]}")
        for miss in r["misses"]:
            typer.echo(f"  miss: {miss['id']} (abstained={miss['abstained']}): {miss['first_quote']}")
    if "seeds_claims" in results:
        r = results["seeds_claims"]
        typer.echo(f"Seeds claims ({r['claims']}, verifier {r['verifier']})")
        for key in ("right", "accuracy", "macro_f1", "source_cited", "verbatim_rate"):
            typer.echo(f"  {key:<32} {r[key]}")
        for miss in r["misses"]:
            typer.echo(f"  miss: {miss['id']} expected {miss['expected']}, got {miss['verdict']}")
    if "perturbed" in results:
        r = results["perturbed"]
        typer.echo(f"Perturbed claims of the seeds ({r['false_claims']} false, "
                   f"{r['true_claims']} true paraphrases, verifier {r['verifier']})")
        for key in ("false_called_supported", "false_refuted", "true_supported",
                    "verbatim_rate"):
            typer.echo(f"  {key:<32} {r[key]}")
        for row in r["false_supported"][:10]:
            typer.echo(f"  false, supported: {row['id']} ({row['kind']}): {row['claim']}")
    if "scifact_verify" in results:
        r = results["scifact_verify"]
        typer.echo(f"SciFact verification ({r['claims']} held-out claims, {r['pairs']} "
                   f"claim-abstract pairs, verifier {r['verifier']})")
        for key in ("label_macro_f1", "f1_by_label", "label_accuracy", "rationale_recall"):
            typer.echo(f"  {key:<32} {r[key]}")
    if "scifact_check" in results:
        r = results["scifact_check"]
        typer.echo(f"SciFact open checking ({r['claims']} held-out claims against the whole "
                   f"corpus, verifier {r['verifier']})")
        for key in ("label_macro_f1", "f1_by_label", "label_accuracy", "predicted",
                    "gold_source_cited", "verdict_ece"):
            typer.echo(f"  {key:<32} {r[key]}")
    if "realtimeqa" in results:
        r = results["realtimeqa"]
        typer.echo(f"RealTimeQA answers ({r['questions']} questions with the answer in the "
                   f"archive, {r['documents']} articles, {r['chunks']} chunks"
                   + (", each asked as of its quiz's date)" if r.get("as_of_date") else ")"))
        for key in ("chunk@3", "quote@1", "quote@3", "abstained", "answered_precision",
                    "abstained_chunk_had_it", "answered_missed_chunk_had_it", "verbatim_rate",
                    "ask_p50_ms", "ask_p90_ms"):
            typer.echo(f"  {key:<32} {r[key]}")
    if "scifact" in results:
        r = results["scifact"]
        typer.echo(f"SciFact retrieval ({r['queries']} queries, {r['documents']} documents)")
        typer.echo(f"  {'mode':<8} {'nDCG@10':>8} {'recall@100':>10} {'MRR@10':>8} {'p50 ms':>8}")
        for mode, m in r["modes"].items():
            typer.echo(f"  {mode:<8} {m['ndcg@10']:>8.4f} {m['recall@100']:>10.4f} "
                       f"{m['mrr@10']:>8.4f} {m['p50_ms']:>8.1f}")


def main() -> None:
    """Console-script entry point."""
    # The library's notes (a one-time model build, an index reload) go to stderr as plain lines.
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    logger = logging.getLogger("assistant")
    logger.addHandler(handler)
    logger.setLevel(logging.WARNING if {"-q", "--quiet"} & set(sys.argv[1:]) else logging.INFO)
    app()


if __name__ == "__main__":
    main()
