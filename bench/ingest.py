"""Ingest throughput and search latency on a corpus of at least 20,000 chunks.

    .venv/bin/python bench/ingest.py [--corpus ../shared/eval/scifact/corpus.jsonl]
        [--chunk-size 40] [--queries 300] [--index /tmp/bench-index]

Builds a fresh index (small chunks so SciFact's 5,183 abstracts give 20k+ chunks), then times
single queries one at a time in each retrieval mode, and prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import percentile  # noqa: E402 - bench/ is on sys.path as the script's folder

from assistant.config import load_settings  # noqa: E402
from assistant.embedding import load_embedder  # noqa: E402
from assistant.index import IndexReader  # noqa: E402
from assistant.ingest import ingest  # noqa: E402
from assistant.search import Retriever  # noqa: E402


def main() -> None:
    """Run the benchmark and print its JSON line."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--corpus", type=Path, default=Path("../shared/eval/scifact/corpus.jsonl"))
    ap.add_argument("--queries", type=Path, default=None,
                    help="JSONL of {query}; default: queries-train.jsonl beside the corpus")
    ap.add_argument("--chunk-size", type=int, default=40)
    ap.add_argument("--n-queries", type=int, default=300)
    ap.add_argument("--index", type=Path, default=None)
    args = ap.parse_args()

    root = args.index or Path(tempfile.mkdtemp(prefix="assistant-bench-"))
    shutil.rmtree(root, ignore_errors=True)
    settings = load_settings(index=root, chunk_size=args.chunk_size, chunk_overlap=1)
    t = time.perf_counter()
    embedder = load_embedder(settings)
    load_s = time.perf_counter() - t
    report = ingest([args.corpus], settings=settings, embedder=embedder,
                    progress=sys.stderr.isatty())
    if report.errors:
        raise SystemExit(f"ingest errors: {report.errors[0]}")

    qfile = args.queries or args.corpus.parent / "queries-train.jsonl"
    queries = [json.loads(line)["query"] for line in qfile.read_text().splitlines() if line.strip()]
    queries = queries[: args.n_queries]
    retriever = Retriever(IndexReader(root), embedder, settings)
    latency: dict[str, dict[str, float]] = {}
    for mode in ("hybrid", "dense", "bm25"):
        retriever.search(queries[0], mode=mode)  # warm-up
        times = []
        for q in queries:
            t = time.perf_counter()
            retriever.search(q, k=10, mode=mode)
            times.append((time.perf_counter() - t) * 1000)
        latency[mode] = {"p50_ms": round(percentile(times, 50), 2),
                         "p99_ms": round(percentile(times, 99), 2)}
    print(json.dumps({
        "documents": report.documents, "chunks": report.chunks,
        "model_load_s": round(load_s, 2), "ingest_s": round(report.seconds, 1),
        "chunks_per_s": round(report.chunks / report.seconds, 1),
        "queries": len(queries), "search": latency,
    }))
    if args.index is None:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
