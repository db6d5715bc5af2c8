"""Keyword search (BM25) two ways on one built index, side by side: FTS5's bm25() and the same
scores from postings held in memory (`assistant/index/lexical.py`).

    .venv/bin/python bench/keyword_search.py --index INDEX --questions QUESTIONS.jsonl [--limit 300]

Each question is searched as the retriever searches it (its common words left out, 100 hits),
both ways, three rounds, alternating; prints one JSON line: the postings' read time and memory,
p50/p99 ms of each way, their ratio, and the share of questions with the same hits and scores.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from _common import percentile  # noqa: E402

from assistant.config import load_settings  # noqa: E402
from assistant.embedding import load_embedder  # noqa: E402
from assistant.index.generations import IndexReader  # noqa: E402
from assistant.index.lexical import LexicalIndex  # noqa: E402
from assistant.index.store import BM25_WEIGHTS, query_words  # noqa: E402
from assistant.search import Retriever  # noqa: E402


def main() -> None:
    """Time both ways over the questions and print the summary."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--index", type=Path, required=True)
    ap.add_argument("--questions", type=Path, required=True)
    ap.add_argument("--limit", type=int, default=300)
    ap.add_argument("--hits", type=int, default=100)
    args = ap.parse_args()
    questions = [json.loads(line)["question"] for line in
                 args.questions.read_text(encoding="utf-8").splitlines() if line.strip()]
    questions = questions[: args.limit]
    settings = load_settings(index=args.index)
    reader = IndexReader(args.index, lexical_max_chunks=0)  # the store itself stays on FTS5
    retriever = Retriever(reader, load_embedder(settings), settings)
    store = reader.store
    path = store.path
    conn = sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True)
    t = time.perf_counter()
    lexical = LexicalIndex.read(conn, weights=BM25_WEIGHTS)
    read_s = time.perf_counter() - t
    conn.close()
    plans = [(q, retriever.common_words(q)) for q in questions]
    fts_ms: list[float] = []
    mem_ms: list[float] = []
    same = 0
    for round_ in range(3):
        for q, common in plans:
            t = time.perf_counter()
            a = store.bm25(q, args.hits, common=common)
            fts_ms.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            b = lexical.search(query_words(q, common=common), args.hits)
            mem_ms.append((time.perf_counter() - t) * 1000)
            if round_ == 0 and b is not None and len(a) == len(b) and all(
                    abs(x[1] - y[1]) <= 1e-9 * max(1.0, abs(x[1])) for x, y in zip(a, b)):
                same += 1
    p50_fts, p50_mem = percentile(fts_ms, 50), percentile(mem_ms, 50)
    print(json.dumps({
        "index": str(args.index), "chunks": len(lexical.rowids), "terms": len(lexical.terms),
        "postings": len(lexical.rows), "questions": len(questions),
        "postings_read_s": round(read_s, 2), "postings_mb": round(lexical.nbytes / 2**20, 1),
        "fts5_ms": {"p50": round(p50_fts, 3), "p99": round(percentile(fts_ms, 99), 3)},
        "memory_ms": {"p50": round(p50_mem, 3), "p99": round(percentile(mem_ms, 99), 3)},
        "speedup_p50": round(p50_fts / max(p50_mem, 1e-9), 1),
        "same_scores_share": round(same / max(1, len(questions)), 3),
    }))
    reader.close()


if __name__ == "__main__":
    main()
