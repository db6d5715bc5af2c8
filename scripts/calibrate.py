"""Fit the answer confidence model and abstention threshold; writes assistant/data/answer_calibration.json.

    .venv/bin/python scripts/calibrate.py [--seeds ../shared/seeds] [--eval ../shared/eval]

Data, all labelled by whether the best evidence sentence really answers the question:
- scripts/calibration-questions.jsonl: news questions over the seed articles, answerable (with the
  words a right quote contains) and unanswerable ones, written for calibration;
- ../shared/eval/seeds-questions.jsonl, the same kind;
- 80 SciFact claims (fixed sample) asked of the news index: off-topic questions, never answerable.
Features of the best sentence (combined score, cosine, term coverage) go into an L2-regularised
logistic regression, so `confidence` estimates P(right); the threshold is the one that makes the
most right decisions (answer when right, abstain otherwise) on this data.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from assistant.answers.calibration import DEFAULT_PATH, FEATURES, fit_logistic  # noqa: E402
from assistant.config import load_settings  # noqa: E402
from assistant.embedding import load_embedder  # noqa: E402
from assistant.eval import fold_quotes as fold  # noqa: E402
from assistant.index import IndexReader  # noqa: E402
from assistant.ingest import ingest  # noqa: E402
from assistant.search import EvidenceFinder, Retriever, expand_dependent  # noqa: E402


def load_questions(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--seeds", type=Path, default=REPO.parent / "shared" / "seeds")
    ap.add_argument("--eval", type=Path, default=REPO.parent / "shared" / "eval")
    ap.add_argument("--out", type=Path, default=DEFAULT_PATH)
    args = ap.parse_args()

    questions = load_questions(REPO / "scripts" / "calibration-questions.jsonl")
    questions += load_questions(args.eval / "seeds-questions.jsonl")
    scifact = args.eval / "scifact" / "queries-train.jsonl"
    if scifact.exists():
        claims = load_questions(scifact)
        for c in random.Random(13).sample(claims, 80):
            questions.append({"id": f"scifact-{c['id']}", "question": c["query"], "answerable": False})

    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(index=Path(tmp) / "index")
        embedder = load_embedder(settings)
        ingest([args.seeds], settings=settings, embedder=embedder, progress=False)
        finder = EvidenceFinder(Retriever(IndexReader(settings.index), embedder, settings))
        rows, labels = [], []
        for q in questions:
            sents = finder.find(q["question"])
            best = expand_dependent(sents[0])
            right = q["answerable"] and any(fold(a) in fold(best.text) for a in q["answer_contains"])
            rows.append([sents[0].features()[f] for f in FEATURES])
            labels.append(1.0 if right else 0.0)

    x, y = np.array(rows), np.array(labels)
    w, b = fit_logistic(x, y)
    p = 1 / (1 + np.exp(-(x @ w + b)))
    candidates = np.round(np.arange(0.05, 0.951, 0.01), 2)
    acc = [float(((p >= t) == (y == 1)).mean()) for t in candidates]
    best_acc = max(acc)
    # Among equally good thresholds, the one nearest 0.5 (a calibrated "more likely right than not").
    threshold = float(min((t for t, a in zip(candidates, acc) if a == best_acc), key=lambda t: abs(t - 0.5)))
    answered = p >= threshold
    # Held-out view of the same data (5-fold cross-validation): is confidence honest?
    folds = np.arange(len(y)) % 5
    held = np.zeros(len(y))
    for k in range(5):
        wk, bk = fit_logistic(x[folds != k], y[folds != k])
        held[folds == k] = 1 / (1 + np.exp(-(x[folds == k] @ wk + bk)))
    high, low = y[held > 0.8], y[held < 0.5]
    out = {
        "features": list(FEATURES), "weights": [round(float(v), 4) for v in w],
        "bias": round(b, 4), "threshold": threshold,
        "trained_on": {"questions": len(y), "right": int(y.sum())},
        "fit": {
            "decision_accuracy": round(best_acc, 4),
            "answered": int(answered.sum()),
            "answered_right": int((answered & (y == 1)).sum()),
            "abstained_wrong_or_unanswerable": int((~answered & (y == 0)).sum()),
        },
        "cross_validated": {
            "decision_accuracy": round(float(((held >= threshold) == (y == 1)).mean()), 4),
            "right_when_confidence_above_0.8": [int(high.sum()), int(len(high))],
            "right_when_confidence_below_0.5": [int(low.sum()), int(len(low))],
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
