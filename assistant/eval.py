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


def fold_quotes(text: str) -> str:
    """Curly quotes folded to straight ones, as the eval README compares answers."""
    return (text.replace("\u2019", "'").replace("\u2018", "'")
            .replace("\u201c", '"').replace("\u201d", '"'))


def quote_is_right(quote: Any, expected: dict[str, Any]) -> bool:
    """A quote answers when it contains one of the expected strings (and cites the right file)."""
    if expected.get("source") and quote.citation.source != expected["source"] \
            and quote.citation.doc_id != expected["source"]:
        return False
    text = fold_quotes(quote.text)
    return any(fold_quotes(a) in text for a in expected.get("answer_contains", []))


def run_seeds_questions(folder: Path, seeds: Path, *, settings: Settings, embedder: Embedder
                        ) -> dict[str, Any]:
    """Ask every question of seeds-questions.jsonl over an index of the seed articles."""
    from assistant.answering import Answerer
    from assistant.index import IndexReader
    from assistant.ingest import ingest
    from assistant.retrieval import Retriever

    qfile = folder / "seeds-questions.jsonl"
    if not qfile.exists():
        raise ConfigError(f"evaluation file {qfile} is missing (use --data to point at the folder)")
    questions = [json.loads(line) for line in qfile.read_text(encoding="utf-8").splitlines()
                 if line.strip()]
    report = ingest([seeds], settings=settings, embedder=embedder, progress=False)
    if report.errors:
        raise ConfigError(f"seed articles failed to ingest: {report.errors[0]}")
    reader = IndexReader(Path(settings.index))
    answerer = Answerer(Retriever(reader, embedder, settings))
    rows = []
    quotes_total = quotes_verbatim = 0
    for q in questions:
        ans = answerer.ask(q["question"])
        right = [quote_is_right(x, q) for x in ans.quotes]
        for x in [*ans.quotes, *ans.related]:
            quotes_total += 1
            doc = reader.store.get_document(x.citation.doc_id)
            c = x.citation
            quotes_verbatim += bool(doc and doc.text[c.char_start:c.char_end] == x.text == c.quote)
        rows.append({"id": q["id"], "answerable": q["answerable"], "abstained": ans.abstained,
                     "hit1": bool(right[:1] and right[0]), "hit3": any(right[:3]),
                     "confidence": ans.confidence,
                     "first_quote": ans.quotes[0].text if ans.quotes else None})
    answerable = [r for r in rows if r["answerable"]]
    unanswerable = [r for r in rows if not r["answerable"]]
    abstained = [r for r in rows if r["abstained"]]
    decided_right = [r["hit1"] for r in rows if not r["abstained"]]
    high = [r["hit1"] for r in rows if not r["abstained"] and r["confidence"] > 0.8]
    low = [r["hit1"] for r in rows if not r["abstained"] and r["confidence"] < 0.5]
    return {
        "questions": len(rows),
        "hit@1": _share(sum(r["hit1"] for r in answerable), len(answerable)),
        "hit@3": _share(sum(r["hit3"] for r in answerable), len(answerable)),
        "abstention_precision": _share(sum(not r["answerable"] for r in abstained), len(abstained)),
        "abstention_recall": _share(sum(r["abstained"] for r in unanswerable), len(unanswerable)),
        "unanswerable_answered": sum(not r["abstained"] for r in unanswerable),
        "verbatim_rate": _share(quotes_verbatim, quotes_total),
        "quotes": quotes_total,
        "answered_accuracy": _share(sum(decided_right), len(decided_right)),
        "accuracy_confidence_above_0.8": _share(sum(high), len(high)),
        "accuracy_confidence_below_0.5": _share(sum(low), len(low)),
        "misses": [r for r in rows if (r["answerable"] and not r["hit1"])
                   or (not r["answerable"] and not r["abstained"])],
    }


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def seeds_gate_failures(result: dict[str, Any]) -> list[str]:
    """Why the seeds results fail CI's bar (empty when they pass)."""
    fails = []
    if (result["hit@3"] or 0) < 1.0:
        fails.append(f"hit@3 {result['hit@3']} < 1.0")
    if (result["hit@1"] or 0) < 0.9:
        fails.append(f"hit@1 {result['hit@1']} < 0.9")
    if (result["verbatim_rate"] or 0) < 1.0:
        fails.append(f"verbatim rate {result['verbatim_rate']} < 1.0")
    if result["unanswerable_answered"]:
        fails.append(f"{result['unanswerable_answered']} unanswerable question(s) answered")
    return fails
