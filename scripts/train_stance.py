"""Train the default stance model; writes assistant/data/stance_model.json (a few hundred bytes).

    .venv/bin/python scripts/train_stance.py [--eval ../shared/eval]

Pairs (claim, sentence, stance), all labelled by people:
- SciFact train claims (../shared/eval/scifact) except the held-out fifth (claim id divisible by
  5, which `assistant eval scifact-verify` scores): rationale sentences → supports / refutes by
  the claim's label; two other sentences of each cited abstract → neutral (fixed random seed);
- scripts/stance-news.jsonl: news claims written against sentences of the seed articles, with
  supported, refuted (negated, wrong number, wrong direction) and neutral pairs.
Features are `assistant.claims.stance.pair_features` (meaning, coverage, negation, antonyms, numbers,
names). A multinomial logistic regression (scikit-learn, balanced classes) is fitted; its
cross-validated macro-F1 is printed. Deterministic: the same data gives the same file.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from assistant.claims.stance import FEATURES, MODEL_PATH, STANCES, held_out, pair_features  # noqa: E402
from assistant.config import load_settings  # noqa: E402
from assistant.embedding import load_embedder  # noqa: E402

SCIFACT_LABEL = {"SUPPORT": "supports", "CONTRADICT": "refutes"}


def scifact_pairs(folder: Path) -> list[tuple[str, str, str]]:
    """(claim, sentence, stance) from SciFact's train claims."""
    abstracts = {}
    for line in (folder / "corpus-sentences.jsonl").read_text(encoding="utf-8").splitlines():
        d = json.loads(line)
        abstracts[str(d["doc_id"])] = d["abstract"]
    rng = random.Random(7)
    pairs = []
    for line in (folder / "claims-train.jsonl").read_text(encoding="utf-8").splitlines():
        c = json.loads(line)
        if held_out(c["id"]):
            continue
        used: dict[str, set[int]] = {}
        for doc_id, groups in c["evidence"].items():
            for g in groups:
                for i in g["sentences"]:
                    pairs.append((c["claim"], abstracts[doc_id][i], SCIFACT_LABEL[g["label"]]))
                    used.setdefault(doc_id, set()).add(i)
        for doc_id in map(str, c["cited_doc_ids"]):
            sents = abstracts.get(doc_id, [])
            others = [i for i in range(len(sents)) if i not in used.get(doc_id, set())]
            for i in rng.sample(others, min(2, len(others))):
                pairs.append((c["claim"], sents[i], "neutral"))
    return pairs


def main() -> None:
    """Build the pairs, fit, report, write the model."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--eval", type=Path, default=REPO.parent / "shared" / "eval")
    ap.add_argument("--out", type=Path, default=MODEL_PATH)
    args = ap.parse_args()

    news = [json.loads(x) for x in (REPO / "scripts" / "stance-news.jsonl").read_text().splitlines() if x]
    pairs = scifact_pairs(args.eval / "scifact") + [(p["claim"], p["sentence"], p["stance"]) for p in news]
    # News pairs are few and are the domain we serve: count each of them five times.
    weights = np.array([1.0] * (len(pairs) - len(news)) + [5.0] * len(news))
    embedder = load_embedder(load_settings())
    texts = sorted({t for c, s, _ in pairs for t in (c, s)})
    vec = dict(zip(texts, embedder.embed(texts), strict=True))
    x = np.vstack([pair_features(c, s, float(vec[c] @ vec[s])) for c, s, _ in pairs])
    y = np.array([STANCES.index(lab) for _, _, lab in pairs])

    model = LogisticRegression(C=1.0, max_iter=2000, class_weight="balanced", fit_intercept=False)
    folds = StratifiedKFold(5, shuffle=True, random_state=0)
    pred = cross_val_predict(model, x, y, cv=folds, params={"sample_weight": weights})
    news_idx = np.arange(len(pairs) - len(news), len(pairs))
    model.fit(x, y, sample_weight=weights)
    out = {
        "features": list(FEATURES), "classes": [STANCES[i] for i in model.classes_],
        "weights": [[round(float(w), 5) for w in row] for row in model.coef_],
        "trained_on": {"pairs": len(pairs), "news_pairs": len(news),
                       "by_stance": {s: int((y == i).sum()) for i, s in enumerate(STANCES)}},
        "cross_validated": {
            "macro_f1": round(float(f1_score(y, pred, average="macro")), 4),
            "news_macro_f1": round(float(f1_score(y[news_idx], pred[news_idx], average="macro")), 4),
        },
    }
    args.out.write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps({k: out[k] for k in ("trained_on", "cross_validated")}))


if __name__ == "__main__":
    main()
