"""Do old index generations get released while reads and writes run together?

    .venv/bin/python bench/generations.py [--bursts 3] [--seconds 45] [--concurrency 6]
        [--corpus ../shared/eval/scifact/corpus.jsonl] [--docs N] [--index DIR]

Builds an index of --corpus (SciFact when it is there, else corpus/; --docs keeps the first N
JSONL records; --index copies a ready index instead) and serves it with `assistant serve`. Each
burst runs N clients mixing POST /v1/search and /v1/ask while one writer adds documents through
POST /v1/documents, every write a new generation. After each burst, once the server is idle,
it reads the server's resident memory and the store files it holds open from /proc: the live
generation (plus one being retired) is all a server should hold. Prints a table to stderr and
one JSON line to stdout; exits 1 if a request failed or more than two store files stay open.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from load import (  # noqa: E402 - bench/ is on sys.path as the script's folder
    KEY,
    free_port,
    load_questions,
    reader,
    start_server,
    stop_server,
    summarize,
    wait_ready,
    writer,
)

from assistant.config import load_settings  # noqa: E402
from assistant.embedding import load_embedder  # noqa: E402
from assistant.ingest import ingest  # noqa: E402

SCIFACT = REPO.parent / "shared" / "eval" / "scifact" / "corpus.jsonl"


def process_state(pid: int) -> dict:
    """Resident memory (MB) and the index store files a process holds open, from /proc."""
    rss_kb = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss_kb = int(line.split()[1])
    stores, deleted = set(), set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        name = Path(target.removesuffix(" (deleted)")).name
        if name.startswith("store.") and ".sqlite" in name:
            stores.add(name)
            if target.endswith("(deleted)"):
                deleted.add(name)
    return {"rss_mb": round(rss_kb / 1024, 1), "open_store_files": len(stores),
            "deleted_store_files": len(deleted)}


async def burst(url: str, args: argparse.Namespace, questions: list[str], seed: int) -> dict:
    """One burst of mixed reads with a writer; returns its request stats."""
    samples: list = []
    failures: list[str] = []
    added: list = []
    rng = random.Random(seed)
    limits = httpx.Limits(max_connections=args.concurrency + 2)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits,
                                 headers={"Authorization": f"Bearer {KEY}"}) as client:
        start = time.monotonic()
        deadline = start + args.seconds
        tasks = [reader(client, questions, 0.5, deadline, random.Random(rng.random()), samples,
                        failures) for _ in range(args.concurrency)]
        tasks.append(writer(client, deadline, random.Random(rng.random()), samples, failures,
                            added))
        await asyncio.gather(*tasks)
        stats = summarize(samples, time.monotonic() - start)
    stats["documents_added"] = len(added)
    stats["failure_samples"] = failures[:5]
    return stats


def corpus_for(args: argparse.Namespace, tmp: Path) -> Path:
    """The corpus to index: --corpus, cut to its first --docs JSONL records if asked."""
    if args.docs is None or args.corpus.suffix != ".jsonl":
        return args.corpus
    out = tmp / "corpus.jsonl"
    with args.corpus.open(encoding="utf-8") as src, out.open("w", encoding="utf-8") as dst:
        for n, line in enumerate(src):
            if n >= args.docs:
                break
            dst.write(line)
    return out


def main() -> None:
    """Build or copy the index, serve it, run the bursts and report."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--bursts", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=45, help="length of each burst")
    ap.add_argument("--concurrency", type=int, default=6, help="reading clients")
    ap.add_argument("--idle", type=float, default=3.0, help="idle seconds before each reading")
    ap.add_argument("--corpus", type=Path, default=SCIFACT if SCIFACT.is_file() else REPO / "corpus")
    ap.add_argument("--docs", type=int, default=None, help="only the first N JSONL records")
    ap.add_argument("--index", type=Path, default=None, help="copy this built index instead")
    ap.add_argument("--questions", type=Path,
                    default=REPO.parent / "shared" / "eval" / "seeds-questions.jsonl")
    args = ap.parse_args()

    questions = load_questions(args.questions)
    tmp = Path(tempfile.mkdtemp(prefix="assistant-generations-"))
    index = tmp / "index"
    proc = None
    log_file = (tmp / "server.log").open("w")
    failed = False
    try:
        if args.index is not None:
            shutil.copytree(args.index, index)
            source = str(args.index)
        else:
            settings = load_settings(index=index)
            corpus = corpus_for(args, tmp)
            ingest([corpus], settings=settings, embedder=load_embedder(settings), progress=False)
            source = str(args.corpus)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        proc = start_server(index, port, log_file)
        wait_ready(proc, url)
        with httpx.Client(base_url=url, timeout=120) as c:  # warm-up
            c.post("/v1/search", json={"query": questions[0]})
            c.post("/v1/ask", json={"question": questions[0]})
        time.sleep(args.idle)
        readings = [{"after": "warm-up", **process_state(proc.pid)}]
        peak = readings[0]["rss_mb"]
        results = []
        for b in range(1, args.bursts + 1):
            stats = asyncio.run(burst(url, args, questions, b))
            peak = max(peak, process_state(proc.pid)["rss_mb"])
            time.sleep(args.idle)
            results.append(stats)
            readings.append({"after": f"burst {b}", **process_state(proc.pid),
                             "requests": stats["requests"], "writes": stats["documents_added"],
                             "failures": stats["failures"]})
            failed |= stats["failures"] > 0
        counts = httpx.get(f"{url}/readyz", timeout=30).json().get("counts", {})
        print(f"index: {source} → {counts}; {args.concurrency} clients + 1 writer, "
              f"{args.bursts} bursts of {args.seconds:g} s", file=sys.stderr)
        print(f"{'after':<10} {'RSS MB':>8} {'store files open':>17} {'deleted':>8} "
              f"{'reads':>6} {'writes':>6}", file=sys.stderr)
        for r in readings:
            print(f"{r['after']:<10} {r['rss_mb']:>8} {r['open_store_files']:>17} "
                  f"{r['deleted_store_files']:>8} {r.get('requests', ''):>6} "
                  f"{r.get('writes', ''):>6}", file=sys.stderr)
        print(f"peak RSS during bursts: {peak} MB", file=sys.stderr)
        held = readings[-1]["open_store_files"]
        failed |= held > 2
        print(json.dumps({"index": source, "counts": counts, "concurrency": args.concurrency,
                          "seconds": args.seconds, "readings": readings, "peak_rss_mb": peak,
                          "failures": [s["failure_samples"] for s in results if s["failures"]]}))
    finally:
        stop_server(proc)
        log_file.close()
        shutil.rmtree(tmp, ignore_errors=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
