"""Large corpora: memory per chunk, single-query latency and recall of each FAISS index kind.

    .venv/bin/python bench/large.py [--n 1000000] [--queries 200] [--json-only]

Synthetic vectors stand in for chunk embeddings (384 dimensions, unit length, drawn around 2,000
random topic centres so that neighbourhoods look like real text's rather than uniform noise).
For each kind the project can build (`flat`: exact; `fp16`: half precision, exhaustive; `sq8`:
8-bit scalar quantised, exhaustive; `ivf-sq8`: inverted lists over SQ8, probing a fraction of
them) it reports the bytes per chunk of the saved index, p50/p99 latency of single queries on
one thread (as the service runs them), and recall@10 against exact search. One JSON line on stdout; about 5 minutes at 1M on 2 cores.
--sieve: the flat and fp16 kinds are also timed with the 8-bit sieve a served generation keeps
(`sieve_*` in their rows: its build seconds, megabytes, latency and recall@10).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from _common import percentile  # noqa: E402 - bench/ is on sys.path as the script's folder

from assistant.index import KINDS, VectorIndex, set_search_threads  # noqa: E402

DIM = 384


def synthetic(n: int, rng: np.random.Generator, centres: np.ndarray) -> np.ndarray:
    """Unit vectors scattered around random topic centres."""
    out = np.empty((n, DIM), dtype=np.float32)
    for at in range(0, n, 100_000):  # in slices: the temporary arrays stay small
        m = min(100_000, n - at)
        picks = centres[rng.integers(0, len(centres), m)]
        v = picks + rng.standard_normal((m, DIM), dtype=np.float32) * 0.06
        out[at : at + m] = v / np.linalg.norm(v, axis=1, keepdims=True)
    return out


def timed(index: VectorIndex, queries: np.ndarray) -> tuple[list[float], list[set[int]]]:
    """Each query's milliseconds and its top 10 ids."""
    times, found = [], []
    for q in queries:
        t = time.perf_counter()
        hits = index.search(q, 10)
        times.append((time.perf_counter() - t) * 1000)
        found.append({i for i, _ in hits})
    return times, found


def recall(found: list[set[int]], truth: list[set[int]]) -> float | None:
    """Mean recall@10 against exact search's hits (None before those are known)."""
    if not truth:
        return None
    return round(float(np.mean([len(f & t) / 10 for f, t in zip(found, truth, strict=True)])), 4)


def main() -> None:
    """Build each kind over the same vectors; time and score single queries."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--kinds", default=",".join(KINDS))
    ap.add_argument("--sieve", action="store_true", help="also time flat and fp16 with the sieve")
    ap.add_argument("--json-only", action="store_true")
    args = ap.parse_args()

    def say(msg: str) -> None:
        if not args.json_only:
            print(msg, file=sys.stderr, flush=True)

    rng = np.random.default_rng(0)
    centres = rng.standard_normal((2000, DIM), dtype=np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    vecs = synthetic(args.n, rng, centres)
    queries = synthetic(args.queries, rng, centres)
    ids = np.arange(args.n, dtype=np.int64)
    result: dict[str, object] = {"n": args.n, "dim": DIM, "queries": args.queries, "kinds": {}}
    truth: list[set[int]] = []
    with tempfile.TemporaryDirectory(prefix="assistant-large-") as tmp:
        for kind in [k.strip() for k in args.kinds.split(",") if k.strip()]:
            say(f"{kind}: building over {args.n:,} vectors")
            started = time.perf_counter()
            set_search_threads(0)  # building may use every core
            index = VectorIndex(DIM, kind=kind, train=vecs)
            for at in range(0, args.n, 200_000):
                index.add(list(ids[at : at + 200_000]), vecs[at : at + 200_000])
            build = time.perf_counter() - started
            path = Path(tmp) / f"{kind}.faiss"
            index.save(path)
            size = path.stat().st_size
            set_search_threads(1)  # as the service queries: one at a time, one thread
            times, found = timed(index, queries)
            if kind == "flat":
                truth = found
            row = {"build_s": round(build, 1), "bytes_per_chunk": round(size / args.n, 1),
                   "index_mb": round(size / 2**20, 1),
                   "p50_ms": round(percentile(times, 50), 2),
                   "p99_ms": round(percentile(times, 99), 2),
                   "recall@10": recall(found, truth)}
            if args.sieve and kind in ("flat", "fp16"):
                started = time.perf_counter()
                index.keep_sieve()
                sieve_build = time.perf_counter() - started
                times, found = timed(index, queries)
                row.update({"sieve_build_s": round(sieve_build, 1),
                            "sieve_mb": round(index._sieve.nbytes / 2**20, 1),  # type: ignore[union-attr]
                            "sieve_p50_ms": round(percentile(times, 50), 2),
                            "sieve_p99_ms": round(percentile(times, 99), 2),
                            "sieve_recall@10": recall(found, truth)})
            result["kinds"][kind] = row  # type: ignore[index]
            say(f"  {row}")
            del index
            path.unlink()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
