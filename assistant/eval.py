"""The evaluation harness: retrieval quality on SciFact (BEIR format)."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

from assistant.config import Settings
from assistant.embedding import Embedder
from assistant.errors import ConfigError


def ndcg_at(ranked: list[str], relevant: set[str], k: int) -> float:
    """Binary-relevance nDCG@k."""
    dcg = sum(1.0 / math.log2(i + 2) for i, d in enumerate(ranked[:k]) if d in relevant)
    ideal = sum(1.0 / math.log2(i + 2) for i in range(min(len(relevant), k)))
    return dcg / ideal if ideal else 0.0


def recall_at(ranked: list[str], relevant: set[str], k: int) -> float:
    """Share of relevant documents in the top k."""
    return len(set(ranked[:k]) & relevant) / len(relevant) if relevant else 0.0


def mrr_at(ranked: list[str], relevant: set[str], k: int) -> float:
    """Reciprocal rank of the first relevant document within the top k."""
    for i, d in enumerate(ranked[:k]):
        if d in relevant:
            return 1.0 / (i + 1)
    return 0.0


def load_beir(folder: Path) -> tuple[dict[str, str], dict[str, set[str]]]:
    """Queries (id → text) that have judgements, and qrels (query id → relevant doc ids)."""
    qfile, rfile = folder / "queries-train.jsonl", folder / "qrels-train.tsv"
    for f in (qfile, rfile, folder / "corpus.jsonl"):
        if not f.exists():
            raise ConfigError(f"evaluation file {f} is missing (use --data to point at the folder)")
    qrels: dict[str, set[str]] = {}
    for n, line in enumerate(rfile.read_text(encoding="utf-8").splitlines()):
        parts = line.split("\t")
        if n == 0 and not parts[-1].strip().isdigit():
            continue  # header
        if len(parts) >= 3 and int(parts[2]) > 0:
            qrels.setdefault(parts[0], set()).add(parts[1])
    queries = {}
    for line in qfile.read_text(encoding="utf-8").splitlines():
        if line.strip():
            q = json.loads(line)
            if str(q["id"]) in qrels:
                queries[str(q["id"])] = q["query"] if "query" in q else q["text"]
    return queries, qrels


def rank_documents(hits: list[Any], n: int) -> list[str]:
    """Document ids in order of their best chunk."""
    out: dict[str, None] = {}
    for h in hits:
        out.setdefault(h.doc_id, None)
    return list(out)[:n]


def run_scifact(folder: Path, *, settings: Settings, embedder: Embedder, modes: list[str],
                limit: int | None = None, progress: bool = False) -> dict[str, Any]:
    """Ingest SciFact's corpus (incrementally) and score each retrieval mode on its train queries."""
    from assistant.index import IndexReader
    from assistant.ingest import ingest
    from assistant.retrieval import Retriever

    queries, qrels = load_beir(folder)
    if limit:
        queries = dict(list(queries.items())[:limit])
    report = ingest([folder / "corpus.jsonl"], settings=settings, embedder=embedder,
                    progress=progress)
    if report.errors:
        raise ConfigError(f"{len(report.errors)} SciFact records failed: {report.errors[0]}")
    reader = IndexReader(Path(settings.index))
    # Enough chunks per retriever that 100 distinct documents survive de-duplication.
    retriever = Retriever(reader, embedder, settings.model_copy(update={"candidates": 300}))
    results: dict[str, Any] = {"queries": len(queries),
                               "documents": reader.manifest.counts.get("documents", 0),
                               "chunks": reader.manifest.counts.get("chunks", 0), "modes": {}}
    for mode in modes:
        nd, rc, mr, times = [], [], [], []
        for qid, text in queries.items():
            t = time.perf_counter()
            hits = retriever.search(text, k=300, mode=mode)  # type: ignore[arg-type]
            times.append((time.perf_counter() - t) * 1000)
            ranked = rank_documents(hits, 100)
            rel = qrels[qid]
            nd.append(ndcg_at(ranked, rel, 10))
            rc.append(recall_at(ranked, rel, 100))
            mr.append(mrr_at(ranked, rel, 10))
        times.sort()
        results["modes"][mode] = {
            "ndcg@10": round(sum(nd) / len(nd), 4),
            "recall@100": round(sum(rc) / len(rc), 4),
            "mrr@10": round(sum(mr) / len(mr), 4),
            "p50_ms": round(times[len(times) // 2], 2),
            "p99_ms": round(times[min(len(times) - 1, int(len(times) * 0.99))], 2),
        }
    return results
