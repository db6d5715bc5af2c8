"""Throughput and latency of a real `assistant serve` under concurrent reads, then reads + writes.

    .venv/bin/python bench/load.py [--seconds 30] [--concurrency 4] [--ask-share 0.5]
        [--questions ../shared/eval/seeds-questions.jsonl] [--index INDEX] [--workers 1]
        [--warmup 30] [--warmup-max 300] [--reads-only] [--json-only]

Builds a fresh index of corpus/ in a temp dir (or copies the index given with --index, so the
writes of phase 2 leave it as it was) and starts `assistant serve --workers N` on it as a
subprocess.
Warm-up: --warmup seconds of the phase-1 load, not measured, then more of it until every worker
has noted that it read its keyword postings and its stored sentences into memory (a server does
so once reading them from SQLite has cost as long as the read: about 10 s of keyword searches
on a 36k-chunk archive, which a few requests never reach), for at most --warmup-max seconds;
`warmup_s` in the JSON says how long.
With results kept (ASSISTANT_RESULT_CACHE, the server's default) the warm-up is --warmup only:
the questions are soon all kept, and kept results are then the steady state.
Phase 1: N clients send a mix of POST /v1/search and POST /v1/ask for --seconds.
Phase 2: the same load while one writer POSTs new documents to /v1/documents one after another;
afterwards a search for a phrase unique to an added document must find it (no restart).
Prints a table to stderr and one JSON line to stdout; exits 1 if any request failed.
The clients are aiohttp's (in the test extras): the load generator shares the machine with the
server, and httpx's client took 1.3 ms of CPU a request against aiohttp's 0.4 (archive searches,
4 clients, about 10 ms of server CPU each).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO

import aiohttp
import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from _common import percentile  # noqa: E402 - bench/ is on sys.path as the script's folder

from assistant.config import load_settings  # noqa: E402
from assistant.embedding import load_embedder  # noqa: E402
from assistant.ingest import ingest  # noqa: E402

KEY = "bench-load-key"
FALLBACK_QUESTIONS = [
    "How much did bilateral trade between China and Russia reach in 2023?",
    "Which country is Russia's closest regional ally?",
    "Who builds the Bushehr nuclear power plant?",
    "What did the ministers say about oil exports?",
]
Sample = tuple[str, float, bool]  # (endpoint, latency ms, ok)


def ms_at(values: list[float], q: float) -> float | None:
    """A latency percentile rounded to 0.1 ms (None for no values)."""
    p = percentile(values, q)
    return None if p is None else round(p, 1)


def load_questions(path: Path) -> list[str]:
    """Questions from a JSONL file of {question}, or a few built-in ones if it is absent."""
    if not path.is_file():
        print(f"note: {path} not found, using {len(FALLBACK_QUESTIONS)} built-in questions",
              file=sys.stderr)
        return FALLBACK_QUESTIONS
    lines = path.read_text(encoding="utf-8").splitlines()
    rows = [json.loads(line) for line in lines if line.strip()]
    return [r["question"] for r in rows if r.get("question")] or FALLBACK_QUESTIONS


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(index: Path, port: int, log: IO[str], workers: int = 1,
                 result_cache: int | None = None) -> subprocess.Popen:
    """`assistant serve` on the index; the rate limit is lifted so it does not shape the load
    (`result_cache`: ASSISTANT_RESULT_CACHE for it, None: the server's default)."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "ASSISTANT_API_KEYS": KEY,
           "ASSISTANT_RATE_LIMIT": "1000000/minute"}
    if result_cache is not None:
        env["ASSISTANT_RESULT_CACHE"] = str(result_cache)
    return subprocess.Popen(
        [sys.executable, "-m", "assistant", "serve", "--index", str(index),
         "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)],
        cwd=REPO, stdout=log, stderr=subprocess.STDOUT, env=env)


def stop_server(proc: subprocess.Popen | None) -> None:
    """Terminate the server, killing it if it does not stop within 15 s."""
    if proc is None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()


def wait_ready(proc: subprocess.Popen, url: str, timeout: float = 180) -> None:
    """Poll GET /readyz until 200 (the model loads after the port opens)."""
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=url, timeout=10) as client:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise SystemExit(f"server exited early with code {proc.returncode}")
            try:
                if client.get("/readyz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.3)
    raise SystemExit(f"server not ready after {timeout:.0f}s")


async def timed(client: aiohttp.ClientSession, name: str, path: str, body: dict,
                out: list[Sample], failures: list[str]) -> tuple[int, bytes] | None:
    """POST once and read the reply; record latency and whether it was 2xx (a transport error
    is a failure). Returns (status, body), or None on a transport error."""
    t = time.perf_counter()
    try:
        async with client.post(path, json=body) as r:
            status, payload = r.status, await r.read()
    except (aiohttp.ClientError, TimeoutError) as exc:
        out.append((name, (time.perf_counter() - t) * 1000, False))
        failures.append(f"{name}: {type(exc).__name__}: {exc}")
        return None
    ok = 200 <= status < 300
    out.append((name, (time.perf_counter() - t) * 1000, ok))
    if not ok:
        failures.append(f"{name}: HTTP {status}: {payload[:300].decode(errors='replace')}")
    return status, payload


async def reader(client: aiohttp.ClientSession, questions: list[str], ask_share: float, deadline: float,
                 rng: random.Random, out: list[Sample], failures: list[str]) -> None:
    """One client: back-to-back search or ask requests until the deadline."""
    while time.monotonic() < deadline:
        q = rng.choice(questions)
        if rng.random() < ask_share:
            await timed(client, "ask", "/v1/ask", {"question": q}, out, failures)
        else:
            await timed(client, "search", "/v1/search", {"query": q, "k": 10}, out, failures)


def synthetic_doc(run: str, n: int, rng: random.Random) -> tuple[dict, str]:
    """A news-like document with a made-up place name no other document contains."""
    place = "".join(rng.choice("bcdfgklmnprstvz") + rng.choice("aeiou") for _ in range(4)).title()
    phrase = f"{place} harbour authority"
    text = (f"The {phrase} said on Tuesday that tanker traffic rose by {n % 40 + 3} percent in the "
            f"second quarter, citing new contracts with regional refiners.\n\n"
            f"Officials in {place} added that customs checks would be shortened from next month, "
            f"a move traders expect to cut waiting times at the outer anchorage.\n\n"
            f"Analysts cautioned that freight rates remain volatile and that the {phrase} has yet "
            f"to publish its annual budget.")
    doc = {"id": f"bench-{run}-{n:05d}", "title": f"{place} port traffic rises (item {n})",
           "text": text, "published": "2024-05-14", "publisher": "Bench Wire"}
    return doc, phrase


async def writer(client: aiohttp.ClientSession, deadline: float, rng: random.Random,
                 out: list[Sample], failures: list[str], added: list[tuple[str, str]]) -> None:
    """POST one new document after another until the deadline; remember (id, unique phrase)."""
    run, n = f"{os.getpid()}{int(time.time()) % 100000}", 0
    while time.monotonic() < deadline:
        doc, phrase = synthetic_doc(run, n, rng)
        n += 1
        r = await timed(client, "documents", "/v1/documents", doc, out, failures)
        if r is not None and r[0] == 201 and doc["id"] in json.loads(r[1]).get("added", []):
            added.append((doc["id"], phrase))


def summarize(samples: list[Sample], seconds: float) -> dict:
    """Counts, rate and p50/p99 latency, overall (reads only) and per endpoint."""
    reads = [s for s in samples if s[0] != "documents"]
    stats = {"requests": len(reads), "failures": sum(not ok for _, _, ok in reads),
             "seconds": round(seconds, 1), "rps": round(len(reads) / seconds, 2),
             "p50_ms": ms_at([ms for _, ms, _ in reads], 50),
             "p99_ms": ms_at([ms for _, ms, _ in reads], 99), "endpoints": {}}
    for name in sorted({s[0] for s in samples}):
        mine = [ms for n, ms, _ in samples if n == name]
        stats["endpoints"][name] = {
            "requests": len(mine), "failures": sum(not ok for n, _, ok in samples if n == name),
            "p50_ms": ms_at(mine, 50), "p99_ms": ms_at(mine, 99)}
    return stats


async def phase(url: str, args: argparse.Namespace, questions: list[str], seed: int,
                write: bool, seconds: float | None = None) -> tuple[dict, list[str]]:
    """Run one phase of mixed reads (and a writer if `write`) for `seconds` (default
    --seconds); return its stats and failures."""
    samples: list[Sample] = []
    failures: list[str] = []
    added: list[tuple[str, str]] = []
    rng = random.Random(seed)  # seeded so runs send the same request mix
    async with aiohttp.ClientSession(
            url, timeout=aiohttp.ClientTimeout(total=120),
            connector=aiohttp.TCPConnector(limit=args.concurrency + 2),
            headers={"Authorization": f"Bearer {KEY}"}) as client:
        start = time.monotonic()
        deadline = start + (args.seconds if seconds is None else seconds)
        tasks = [reader(client, questions, args.ask_share, deadline, random.Random(rng.random()),
                        samples, failures) for _ in range(args.concurrency)]
        if write:
            tasks.append(writer(client, deadline, random.Random(rng.random()), samples, failures,
                                added))
        await asyncio.gather(*tasks)
        stats = summarize(samples, time.monotonic() - start)
        if write:
            writes = [ms for n, ms, _ in samples if n == "documents"]
            stats.update(documents_added=len(added), documents_p50_ms=ms_at(writes, 50))
            stats["write_visible"] = await visible(client, added[-1]) if added else False
            if not stats["write_visible"]:
                failures.append("search did not find a document added during phase 2")
    return stats, failures


async def visible(client: aiohttp.ClientSession, doc: tuple[str, str]) -> bool:
    """Whether searching a document's unique phrase finds it (writes are awaited, so no wait)."""
    doc_id, phrase = doc
    async with client.post("/v1/search", json={"query": phrase, "k": 5}) as r:
        if r.status != 200:
            return False
        return any(h["doc_id"] == doc_id for h in (await r.json())["results"])


def table(name: str, s: dict) -> str:
    """A few human-readable lines for one phase."""
    lines = [f"{name}: {s['requests']} reads in {s['seconds']}s = {s['rps']} req/s, "
             f"{s['failures']} failed, p50 {s['p50_ms']} ms, p99 {s['p99_ms']} ms"]
    for ep, e in s["endpoints"].items():
        lines.append(f"  {ep:<10} n={e['requests']:<6} fail={e['failures']:<4} "
                     f"p50={e['p50_ms']} ms  p99={e['p99_ms']} ms")
    if "documents_added" in s:
        lines.append(f"  documents added: {s['documents_added']} (p50 {s['documents_p50_ms']} ms), "
                     f"visible to search afterwards: {s['write_visible']}")
    return "\n".join(lines)


def memory_reads(log: Path) -> int:
    """How many server processes have read both their keyword postings and their stored
    sentences into memory (one note each, a worker's marked with its process id)."""
    text = log.read_text()
    return min(text.count("keyword search runs from memory"),
               text.count("stored sentences read into memory"))


def main() -> None:
    """Build the index, start the server, run both phases and report."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--seconds", type=float, default=30, help="length of each phase")
    ap.add_argument("--concurrency", type=int, default=4, help="concurrent reading clients")
    ap.add_argument("--ask-share", type=float, default=0.5, help="share of reads that are /v1/ask")
    ap.add_argument("--corpus", type=Path, default=REPO / "corpus")
    ap.add_argument("--questions", type=Path,
                    default=REPO.parent / "shared" / "eval" / "seeds-questions.jsonl")
    ap.add_argument("--index", type=Path, help="serve a copy of this index instead of corpus/")
    ap.add_argument("--workers", type=int, default=1, help="server processes")
    ap.add_argument("--result-cache", type=int, default=None,
                    help="results each server process keeps (ASSISTANT_RESULT_CACHE; 0: off, so "
                         "every request is worked out, as by distinct questions); default: the "
                         "server's own (the questions repeat, so most requests are then kept ones)")
    ap.add_argument("--warmup", type=float, default=30,
                    help="seconds of unmeasured concurrent reads first, so the server is in its "
                         "steady state (model warm, keyword postings read into memory)")
    ap.add_argument("--warmup-max", type=float, default=300,
                    help="go on warming up (5 s at a time) until every worker has read its "
                         "keyword postings, for at most this many seconds in all")
    ap.add_argument("--reads-only", action="store_true", help="skip phase 2 (reads + writes)")
    ap.add_argument("--json-only", action="store_true", help="no table on stderr")
    args = ap.parse_args()

    questions = load_questions(args.questions)
    tmp = Path(tempfile.mkdtemp(prefix="assistant-load-"))
    log = tmp / "server.log"
    proc = None
    log_file = log.open("w")
    try:
        settings = load_settings(index=tmp / "index")
        if args.index:
            shutil.copytree(args.index, settings.index)
            counts = json.loads((settings.index / "manifest.json").read_text())["counts"]
            docs, chunks = counts["documents"], counts["chunks"]
        else:
            report = ingest([args.corpus], settings=settings, embedder=load_embedder(settings),
                            progress=False)
            docs, chunks = report.documents, report.chunks
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        proc = start_server(settings.index, port, log_file, args.workers, args.result_cache)
        cache_size = (args.result_cache if args.result_cache is not None
                      else load_settings().result_cache)
        wait_ready(proc, url)
        # This process imported the library (to build the index): its modules and the index
        # build's leftovers are long-lived, and each full collection walking them again stopped
        # the clients mid-request (archive answers, 8 clients: 45 against 66 a second).
        gc.collect()
        gc.freeze()
        fail0, warmed = [], 0.0
        # With results kept, the questions (a few hundred) are soon all kept, so FTS5 is never
        # run long enough for the postings to be read: the kept results are the steady state.
        want_memory = args.workers if not cache_size else 0
        while warmed < args.warmup or (  # not measured; its failures count all the same
                memory_reads(log) < want_memory and warmed < args.warmup_max):
            step = args.warmup if warmed == 0 and args.warmup > 0 else 5.0
            _, failed = asyncio.run(phase(url, args, questions, 0, write=False, seconds=step))
            fail0 += failed
            warmed += step
        if memory_reads(log) < want_memory and not args.json_only:
            print(f"note: after {warmed:.0f} s of warm-up not every worker reads its keyword "
                  "postings and stored sentences from memory (ASSISTANT_BM25_MEMORY_CHUNKS, "
                  "ASSISTANT_SENTENCE_MEMORY_MB, --warmup-max)",
                  file=sys.stderr)
        reads, fail1 = asyncio.run(phase(url, args, questions, 1, write=False))
        mixed, fail2 = ({}, []) if args.reads_only else asyncio.run(
            phase(url, args, questions, 2, write=True))
        failures = fail0 + fail1 + fail2
        memory = memory_reads(log)
        if not args.json_only:
            print(f"corpus: {docs} documents, {chunks} chunks; {args.concurrency} clients, "
                  f"ask share {args.ask_share}, {args.workers} server workers, result cache "
                  f"{cache_size}", file=sys.stderr)
            print(table("phase 1 (reads)", reads), file=sys.stderr)
            if mixed:
                print(table("phase 2 (reads + writes)", mixed), file=sys.stderr)
        if failures:  # show what failed and the server's side of it before the log is deleted
            print(f"{len(failures)} failures, first ones:", *failures[:10], sep="\n  ",
                  file=sys.stderr)
            print("--- server log (tail) ---", *log.read_text().splitlines()[-80:], sep="\n",
                  file=sys.stderr)
        print(json.dumps({"corpus_documents": docs, "corpus_chunks": chunks,
                          "concurrency": args.concurrency, "ask_share": args.ask_share,
                          "workers": args.workers, "result_cache": cache_size,
                          "memory_reads": memory,
                          "warmup_s": warmed,
                          "phase1": reads, "phase2": mixed, "failures": len(failures)}))
    finally:
        stop_server(proc)
        log_file.close()
        shutil.rmtree(tmp, ignore_errors=True)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
