"""How cost grows with the archive: build time, search and ask latency, memory and disk at 10k,
100k and 1M chunks, so a user can see what a larger archive will cost.

    .venv/bin/python bench/growth.py [--sizes 10000,100000,1000000] [--queries 200]
        [--articles ../shared/eval/realtimeqa-2023q1/articles.jsonl]
        [--questions ../shared/eval/realtimeqa-2023q1/questions.jsonl] [--json-only]

Text: the 2023 news archive's articles, read at run time (never stored here). The smallest size
takes the first articles as they are; larger sizes take every article again and again, each
copy with its paragraphs in another order and an id and title of its own, so that words keep
news frequencies and the FTS5 and BM25 work grows as it would.

Build: embedding costs the same per chunk at any size, and at 1M chunks it alone would take
hours here. So the smallest size is ingested twice, end to end with the real model and again
with a stand-in embedder (random unit vectors, no model); the difference gives the embedding
seconds per chunk. The larger sizes are ingested with the stand-in, and their build seconds are
the measured rest plus that rate times their chunks (`build_s` says which part is which).
Exhaustive FAISS search costs the same whatever the vectors hold, which is what the default
index kind (fp16) does up to 1M chunks.

Queries: the archive's questions, embedded by the real model without a cache, one at a time
through a `Service`, after the keyword postings are read (a server's steady state; above
ASSISTANT_BM25_MEMORY_CHUNKS they stay on FTS5) and 5 warm-up questions. Each ingest and each
query run is a process of its own, so peak RSS is that step's. Prints a table on stderr and one
JSON line on stdout. About 25 minutes for the three default sizes on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from _common import peak_rss_mb, percentile  # noqa: E402

ARCHIVE = REPO.parent / "shared" / "eval" / "realtimeqa-2023q1"
# Chunks per article of the 2023 archive at the default chunk settings (35,982 / 2,388): how
# many articles to write for a size; the table gives the chunk count the ingest really made.
CHUNKS_PER_ARTICLE = 35_982 / 2_388


class StandIn:
    """Random unit vectors in the real model's shape: the ingest's every other cost, no model."""

    def __init__(self, real) -> None:
        self.model_id, self.dim, self.vocabulary = real.model_id, real.dim, real.vocabulary
        self.rng = np.random.default_rng(0)

    def embed(self, texts: list[str]) -> np.ndarray:
        """One random unit vector a text."""
        v = self.rng.standard_normal((len(texts), self.dim), dtype=np.float32)
        return v / np.linalg.norm(v, axis=1, keepdims=True)


def write_corpus(source: list[dict], chunks: int, out: Path) -> int:
    """JSONL of about `chunks` chunks' worth of the articles; how many articles it holds."""
    want = max(1, round(chunks / CHUNKS_PER_ARTICLE))
    rng = random.Random(0)
    with out.open("w", encoding="utf-8") as f:
        for i in range(want):
            copy, art = divmod(i, len(source))
            record = dict(source[art])
            if copy:  # the same article again, paragraphs in another order
                paragraphs = record["text"].split("\n\n")
                rng.shuffle(paragraphs)
                record["text"] = "\n\n".join(paragraphs)
                record["id"] = f"{record['id']}-copy{copy}"
                record["title"] = f"{record.get('title') or ''} ({copy})".strip()
            f.write(json.dumps(record) + "\n")
    return want


def disk_mb(folder: Path) -> float:
    return round(sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 2**20, 1)


def child_ingest(corpus: Path, index: Path, real: bool) -> dict:
    """Ingest the corpus into a new index (real model or stand-in)."""
    from assistant.config import load_settings
    from assistant.embedding import load_embedder
    from assistant.ingest import ingest

    settings = load_settings(index=index)
    model = load_embedder(settings)
    model.embed(["warm the model up"])
    t = time.perf_counter()
    report = ingest([corpus], settings=settings, embedder=model if real else StandIn(model),
                    progress=False)
    seconds = time.perf_counter() - t
    if report.errors:
        raise SystemExit(f"ingest failed: {report.errors[:3]}")
    return {"documents": report.documents, "chunks": report.chunks, "seconds": round(seconds, 1),
            "peak_rss_mb": peak_rss_mb(), "disk_mb": disk_mb(index)}


def child_query(index: Path, questions: Path, n: int) -> dict:
    """Search and ask each question once, one at a time, as bench/ask.py does."""
    from ask import steady_service, time_questions

    asked = [json.loads(line)["question"] for line in
             questions.read_text(encoding="utf-8").splitlines() if line.strip()][:n]
    service, memory = steady_service(index)
    with service.index.lease(service.model()) as gen:
        kind = gen.reader.vectors.kind
    search, ask, _ = time_questions(service, asked)
    service.close()

    def ms(values: list[float], q: float) -> float:
        return round(percentile(values, q), 1)

    return {"queries": len(asked), "keyword_memory": memory, "vector_index": kind,
            "search_p50_ms": ms(search, 50), "search_p99_ms": ms(search, 99),
            "ask_p50_ms": ms(ask, 50), "ask_p99_ms": ms(ask, 99), "peak_rss_mb": peak_rss_mb()}


def run_child(*args: str) -> dict:
    """One step in a process of its own; its JSON line."""
    out = subprocess.run([sys.executable, __file__, *args], check=True, capture_output=True,
                         text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def table(rows: list[dict]) -> str:
    lines = ["| chunks | build s (embedding + rest) | search p50 / p99 ms | ask p50 / p99 ms "
             "| RSS serving MB | RSS building MB | disk MB |", "|" + " --- |" * 7]
    for r in rows:
        b, q = r["build"], r["query"]
        lines.append(f"| {r['chunks']:,} ({q['vector_index']}) | {b['total_s']:,.0f} ({b['embedding_s']:,.0f} "
                     f"{'measured' if b['embedding_measured'] else 'computed'} + "
                     f"{b['rest_s']:,.0f}) | {q['search_p50_ms']} / {q['search_p99_ms']} "
                     f"| {q['ask_p50_ms']} / {q['ask_p99_ms']} | {q['peak_rss_mb']:,.0f} "
                     f"| {b['peak_rss_mb']:,.0f} | {b['disk_mb']:,.0f} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--sizes", default="10000,100000,1000000",
                    help="chunk counts, comma-separated, smallest first")
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--articles", type=Path, default=ARCHIVE / "articles.jsonl")
    ap.add_argument("--questions", type=Path, default=ARCHIVE / "questions.jsonl")
    ap.add_argument("--json-only", action="store_true")
    ap.add_argument("--child", choices=["ingest", "ingest-real", "query"], help=argparse.SUPPRESS)
    ap.add_argument("--corpus", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--index", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child == "query":
        print(json.dumps(child_query(args.index, args.questions, args.queries)))
        return
    if args.child:
        print(json.dumps(child_ingest(args.corpus, args.index, args.child == "ingest-real")))
        return
    try:
        sizes = sorted(int(s.replace("_", "")) for s in args.sizes.split(","))
    except ValueError:
        raise SystemExit(f"--sizes takes chunk counts such as 10000,100000, got {args.sizes!r}")
    for path in (args.articles, args.questions):
        if not path.is_file():
            raise SystemExit(f"{path} not found: pass --articles/--questions")
    articles = [json.loads(line) for line in args.articles.read_text(encoding="utf-8").splitlines()
                if line.strip()]
    tmp = Path(tempfile.mkdtemp(prefix="assistant-growth-"))
    rows, per_chunk = [], None
    try:
        for size in sizes:
            corpus = tmp / f"corpus-{size}.jsonl"
            write_corpus(articles, size, corpus)
            index = tmp / f"index-{size}"
            if per_chunk is None:  # the smallest size: the real model, end to end
                real = run_child("--child", "ingest-real", "--corpus", str(corpus),
                                 "--index", str(index))
                shutil.rmtree(index)
            built = run_child("--child", "ingest", "--corpus", str(corpus), "--index", str(index))
            if per_chunk is None:
                per_chunk = max(0.0, real["seconds"] - built["seconds"]) / real["chunks"]
                build = {"total_s": real["seconds"], "embedding_measured": True,
                         "embedding_s": real["seconds"] - built["seconds"],
                         "rest_s": built["seconds"], "peak_rss_mb": real["peak_rss_mb"],
                         "disk_mb": real["disk_mb"]}
            else:
                embedding = per_chunk * built["chunks"]
                build = {"total_s": built["seconds"] + embedding, "embedding_measured": False,
                         "embedding_s": embedding, "rest_s": built["seconds"],
                         "peak_rss_mb": built["peak_rss_mb"], "disk_mb": built["disk_mb"]}
            query = run_child("--child", "query", "--index", str(index), "--questions",
                              str(args.questions), "--queries", str(args.queries))
            rows.append({"chunks": built["chunks"], "documents": built["documents"],
                         "build": {k: round(v, 1) if isinstance(v, float) else v
                                   for k, v in build.items()}, "query": query})
            if not args.json_only:
                print(f"{built['chunks']:,} chunks done", file=sys.stderr)
            shutil.rmtree(index)
            corpus.unlink()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if not args.json_only:
        print(table(rows), file=sys.stderr)
    print(json.dumps({"embedding_s_per_chunk": round(per_chunk or 0, 5), "sizes": rows}))


if __name__ == "__main__":
    main()
