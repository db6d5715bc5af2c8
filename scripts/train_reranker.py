"""Train the chunk reranker; report cross-validated figures beside plain fusion.

    .venv/bin/python scripts/train_reranker.py [--eval ../shared/eval] [--work /tmp/assistant-train]

Writes assistant/data/chunk_reranker.txt (+ .json: features, parameters, CV figures). Indexes
are built under --work once and reused (the same as scripts/train_ranker.py builds).

Data: the top 50 fused hybrid chunks (`search.rerank.DEPTH`) of
- SciFact's 809 train queries over its 5,183 abstracts, a chunk relevant when its abstract is
  cited (BEIR qrels);
- RealTimeQA 2023Q1's questions whose answer is in the archive, a chunk relevant when it holds
  the answer string.
A LightGBM LambdaRank model over `search.rerank.NAMES`, one model for both. Cross-validation:
5 folds (RealTimeQA by quiz week, SciFact by query), each fold scored by a model trained on the
other four; figures: SciFact nDCG@10 over documents, RealTimeQA answer in the top-3 chunks.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from assistant.config import load_settings
from assistant.embedding import load_embedder
from assistant.eval import fold_answer, load_beir, ndcg_at
from assistant.index import IndexReader
from assistant.ingest import ingest
from assistant.models import Filters
from assistant.search import Retriever
from assistant.search.rerank import DEFAULT_PATH, DEPTH, NAMES, chunk_features

PARAMS = {
    "objective": "lambdarank", "learning_rate": 0.05, "num_leaves": 15, "min_data_in_leaf": 30,
    "feature_fraction": 0.8, "bagging_fraction": 0.8, "bagging_freq": 1, "lambda_l2": 1.0,
    "lambdarank_truncation_level": 20, "verbose": -1, "seed": 7, "num_threads": 2,
    "deterministic": True,
}
ROUNDS = 300
FOLDS = 5


def retriever(root: Path, source: Path, embedder) -> Retriever:
    settings = load_settings(index=root, rerank=False, candidates=100, max_k=300)
    ingest([source], settings=settings, embedder=embedder, progress=sys.stderr.isatty())
    return Retriever(IndexReader(root), embedder, settings)


def rows_for(r: Retriever, query: str, filters: Filters | None = None
             ) -> tuple[list, np.ndarray]:
    qvec = r.embedder.embed([query])[0]
    hits = r.search(query, k=DEPTH, query_vector=qvec, filters=filters)
    stored = r.reader.store.sentences([(h.doc_id, h.char_start, h.char_end) for h in hits])
    return hits, chunk_features(hits, qvec, stored, r.query_weights(query))


def metric(q: dict, scores: np.ndarray) -> float:
    order = np.argsort(-scores, kind="stable")
    if q["relevant"] is not None:
        return ndcg_at(list(dict.fromkeys(q["docs"][i] for i in order)), q["relevant"], 10)
    return float(q["labels"][order[:3]].any())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--eval", type=Path, default=REPO.parent / "shared" / "eval")
    ap.add_argument("--work", type=Path, default=Path("/tmp/assistant-train"))
    ap.add_argument("--as-of-date", action="store_true",
                    help="search for each news question as of its quiz's date (stories "
                         "published later filtered out)")
    args = ap.parse_args()
    import lightgbm

    started = time.perf_counter()
    embedder = load_embedder(load_settings())
    queries: list[dict] = []
    sci = retriever(args.work / "scifact", args.eval / "scifact" / "corpus.jsonl", embedder)
    texts, qrels = load_beir(args.eval / "scifact")
    for n, (qid, text) in enumerate(texts.items()):
        hits, rows = rows_for(sci, text)
        queries.append({"set": "scifact", "fold": n % FOLDS, "rows": rows,
                        "docs": [h.doc_id for h in hits], "relevant": qrels[qid],
                        "labels": np.array([h.doc_id in qrels[qid] for h in hits], np.float32)})
    rtqa = args.eval / "realtimeqa-2023q1"
    news = retriever(args.work / "news", rtqa / "articles.jsonl", embedder)
    questions = [json.loads(x) for x in (rtqa / "questions.jsonl").read_text().splitlines() if x]
    weeks = sorted({q["id"].split("_")[0] for q in questions})
    for q in questions:
        if not q["answer_in_corpus"]:
            continue
        # --as-of-date: as a reader asked it on the quiz's date, when no later story existed.
        hits, rows = rows_for(news, q["question"], Filters.create(until=q["date"][:10])
                              if args.as_of_date else None)
        want = fold_answer(q["answer"])
        queries.append({"set": "realtimeqa", "fold": weeks.index(q["id"].split("_")[0]) % FOLDS,
                        "rows": rows, "docs": [h.doc_id for h in hits], "relevant": None,
                        "labels": np.array([want in fold_answer(h.text) for h in hits],
                                           np.float32)})
    print(f"collected {len(queries)} queries in {time.perf_counter() - started:.0f} s",
          file=sys.stderr)

    def fit(train: list[dict]):
        train = [q for q in train if q["labels"].any()]
        data = lightgbm.Dataset(np.vstack([q["rows"] for q in train]),
                                np.concatenate([q["labels"] for q in train]),
                                group=[len(q["labels"]) for q in train], feature_name=list(NAMES))
        return lightgbm.train(PARAMS, data, num_boost_round=ROUNDS)

    held: dict[int, np.ndarray] = {}
    for k in range(FOLDS):
        model = fit([q for q in queries if q["fold"] != k])
        for i, q in enumerate(queries):
            if q["fold"] == k:
                held[i] = model.predict(q["rows"])
    report = {}
    for name in ("scifact", "realtimeqa"):
        idx = [i for i, q in enumerate(queries) if q["set"] == name]
        fused = np.mean([metric(queries[i], -queries[i]["rows"][:, 1]) for i in idx])
        reranked = np.mean([metric(queries[i], held[i]) for i in idx])
        key = "ndcg@10" if name == "scifact" else "chunk@3"
        report[name] = {"queries": len(idx), f"fused_{key}": round(float(fused), 4),
                        f"reranked_{key}_cv": round(float(reranked), 4)}
    print(json.dumps(report, indent=2))
    final = fit(queries)
    final.save_model(str(DEFAULT_PATH))
    DEFAULT_PATH.with_suffix(".json").write_text(json.dumps(
        {"features": list(NAMES), "params": PARAMS, "rounds": ROUNDS, "depth": DEPTH,
         "as_of_date": args.as_of_date, "cross_validated": report}, indent=2) + "\n")
    print(f"wrote {DEFAULT_PATH} in {time.perf_counter() - started:.0f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
