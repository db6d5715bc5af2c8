"""Train the claim-level verdict model; writes assistant/data/verdict_model.json (about 3 kB).

    .venv/bin/python scripts/train_verdict.py --scifact-index index-eval/scifact \\
        [--news-index DIR] [--eval ../shared/eval]

Claims, each checked against a whole archive by the real checker (retrieval, stance model,
detail constraint), labelled by what is true:
- SciFact train claims except the held-out fifth (`assistant eval scifact-check` scores those),
  against an index of SciFact's corpus (`assistant eval scifact --index DIR` builds it):
  SUPPORT → supported, CONTRADICT → refuted, no evidence → not enough info;
- news claims made by `scripts/perturb.py` from sentences of 400 archive articles
  (realtimeqa-2023q1), against an index of those articles (built here when --news-index is not
  given): a true paraphrase → supported, a false perturbation → refuted; a sentence of 300
  articles left out of that index → not enough info.
Features are `assistant.claims.verdict.claim_features`; a multinomial logistic regression with
balanced classes, cross-validated by source (a claim, an article) with the module's rules
applied, is fitted and written, with a Platt calibration per verdict fitted on the held-out
verdicts (so that a confidence reads as how often such a verdict is right). Deterministic for
the same data.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import zlib
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

from perturb import checkable, load_nlp, paraphrases, perturbations, sentences_of  # noqa: E402
from perturb import entity_pools  # noqa: E402

from assistant.claims import Checker, held_out  # noqa: E402
from assistant.claims.stance import load_verifier  # noqa: E402
from assistant.claims.verdict import (  # noqa: E402
    FEATURES,
    MODEL_PATH,
    VERDICTS,
    VerdictModel,
    calibrated,
    claim_features,
    logit,
)
from assistant.config import load_settings  # noqa: E402
from assistant.embedding import load_embedder  # noqa: E402
from assistant.eval import (  # noqa: E402
    expected_calibration_error,
    reliability,
    scifact_claim_label,
)
from assistant.index import IndexReader  # noqa: E402
from assistant.ingest import ingest  # noqa: E402
from assistant.search import Retriever  # noqa: E402

REGULARIZATION = 0.1  # the logistic regression's C: of 0.1-100, cross-validated best on SciFact
LABEL = {"SUPPORT": "supported", "CONTRADICT": "refuted", "NEI": "not_enough_info"}


def checker_for(index: Path, embedder: object) -> Checker:
    """A checker over an index, deciding by the plain rule (the model is what we train)."""
    settings = load_settings(index=index)
    reader = IndexReader(index)
    retriever = Retriever(reader, embedder, settings)  # type: ignore[arg-type]
    return Checker(retriever, load_verifier(settings, embedder), verdicts=False)  # type: ignore[arg-type]


def news_claims(articles: list[dict], left_out: list[dict], rng: random.Random
                ) -> list[tuple[str, str, str]]:
    """(claim, label, group) from archive sentences: in the index (true and false), or not."""
    nlp = load_nlp()
    picked = []
    for a in articles:
        sents = [s for s in sentences_of(a["text"]) if checkable(s)]
        if sents:
            picked.append((rng.choice(sents), a))
    docs = list(nlp.pipe([s for s, _ in picked], batch_size=64))
    pools = entity_pools(docs)
    out = []
    for (sent, a), doc in zip(picked, docs, strict=True):
        true = [c for c, k in paraphrases(doc, rng) if k != "same"] or [sent]
        out.append((rng.choice(true), "supported", f"news-{a['id']}"))
        false = perturbations(doc, rng, pools, a["text"])
        if false:
            out.append((rng.choice(false)[0], "refuted", f"news-{a['id']}"))
    for a in left_out:
        sents = [s for s in sentences_of(a["text"]) if checkable(s)]
        if sents:
            out.append((rng.choice(sents), "not_enough_info", f"news-out-{a['id']}"))
    return out


def main() -> None:
    """Check the claims (or read them from --cache), then train."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--eval", type=Path, default=REPO.parent / "shared" / "eval")
    ap.add_argument("--scifact-index", type=Path, required=True)
    ap.add_argument("--news-index", type=Path, help="an index of the 400 articles (built if absent)")
    ap.add_argument("--out", type=Path, default=MODEL_PATH)
    ap.add_argument("--cache", type=Path, help="keep the checked claims' features here (.npz)")
    args = ap.parse_args()
    if args.cache and args.cache.exists():
        with np.load(args.cache, allow_pickle=False) as z:
            rows = list(zip(z["x"], z["label"].tolist(), z["group"].tolist(), z["kind"].tolist()))
        return train(rows, args.out)

    rng = random.Random(5)
    articles = [json.loads(x) for x in (args.eval / "realtimeqa-2023q1" / "articles.jsonl")
                .read_text(encoding="utf-8").splitlines() if x.strip()]
    rng.shuffle(articles)
    indexed, left_out = articles[:400], articles[400:700]
    embedder = load_embedder(load_settings())
    news_index = args.news_index
    if news_index is None or not (news_index / "manifest.json").exists():
        news_index = news_index or Path(tempfile.mkdtemp(prefix="assistant-verdict-"))
        news_index.parent.mkdir(parents=True, exist_ok=True)
        src = news_index.parent / "verdict-news.jsonl"
        src.write_text("".join(json.dumps(a) + "\n" for a in indexed), encoding="utf-8")
        ingest([src], settings=load_settings(index=news_index), embedder=embedder,  # type: ignore[arg-type]
               progress=sys.stderr.isatty())

    rows: list[tuple[np.ndarray, str, str, str]] = []  # features, label, group, kind
    sci = checker_for(args.scifact_index, embedder)
    for line in (args.eval / "scifact" / "claims-train.jsonl").read_text(encoding="utf-8").splitlines():
        c = json.loads(line)
        if held_out(c["id"]):
            continue
        v = sci.check(c["claim"])
        rows.append((claim_features(v.evidence, v.sources_supporting, v.sources_refuting),
                     LABEL[scifact_claim_label(c)], f"scifact-{c['id']}", "scifact"))
    news = checker_for(news_index, embedder)
    for claim, label, group in news_claims(indexed, left_out, rng):
        v = news.check(claim)
        rows.append((claim_features(v.evidence, v.sources_supporting, v.sources_refuting),
                     label, group, "news"))

    if args.cache:
        np.savez(args.cache, x=np.vstack([r[0] for r in rows]), label=np.array([r[1] for r in rows]),
                 group=np.array([r[2] for r in rows]), kind=np.array([r[3] for r in rows]))
    train(rows, args.out)


def train(rows: list[tuple[np.ndarray, str, str, str]], out_path: Path) -> None:
    """Cross-validate, fit and write the model from checked claims."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score
    from sklearn.model_selection import GroupKFold

    x = np.vstack([r[0] for r in rows])
    y = np.array([VERDICTS.index(r[1]) for r in rows])
    groups = np.array([r[2] for r in rows])
    kind = np.array([r[3] for r in rows])
    n_sci, n_news = int((kind == "scifact").sum()), int((kind == "news").sum())
    weights = np.where(kind == "news", n_sci / max(n_news, 1), 1.0)

    def fit(idx: np.ndarray) -> VerdictModel:
        m = LogisticRegression(C=REGULARIZATION, max_iter=4000, class_weight="balanced",
                               fit_intercept=False)
        m.fit(x[idx], y[idx], sample_weight=weights[idx])
        order = [list(m.classes_).index(i) for i in range(len(VERDICTS))]
        return VerdictModel(m.coef_[order])

    # Held out by source, with the module's rules; for F1 "conflicting" counts as not deciding.
    folds = [(fit(train), test) for train, test in GroupKFold(5).split(x, y, groups)]
    chosen: list[tuple[str, float]] = [("", 0.0)] * len(y)
    for model, test in folds:
        for i in test:
            chosen[i] = model.choose(x[i])
    pred = np.array([VERDICTS.index(v) if v in VERDICTS else 2 for v, _ in chosen])
    # "conflicting" is right for a claim that is not true: it keeps a false claim from green.
    right = np.array([y[i] != 0 if v == "conflicting" else pred[i] == y[i]
                      for i, (v, _) in enumerate(chosen)])

    # Calibration fitted on one half of the sources and read on the other: every confidence
    # below is held out.
    half = np.array([zlib.crc32(g.encode()) % 2 for g in groups])
    by_half = [platt(chosen, right, np.where(half == h)[0], weights=weights) for h in (0, 1)]
    conf = np.array([calibrated(p, by_half[1 - half[i]].get(v))
                     for i, (v, p) in enumerate(chosen)])

    def ece(rows: np.ndarray) -> float:
        return expected_calibration_error(list(zip(conf[rows].tolist(), right[rows].tolist())))

    calibration = platt(chosen, right, np.arange(len(y)), weights=weights)
    model = fit(np.arange(len(y)))
    model.calibration = calibration

    def f1(mask: np.ndarray) -> float:
        return round(float(f1_score(y[mask], pred[mask], average="macro")), 4)

    out = {"features": list(FEATURES), "classes": list(VERDICTS),
           "weights": [[round(float(w), 5) for w in row] for row in model.weights],
           "calibration": {v: [round(a, 5), round(b, 5)] for v, (a, b) in calibration.items()},
           "trained_on": {"claims": len(y), "scifact": n_sci, "news": n_news,
                          "by_label": {v: int((y == i).sum()) for i, v in enumerate(VERDICTS)}},
           "cross_validated": {"macro_f1": f1(np.ones(len(y), bool)),
                               "scifact_macro_f1": f1(kind == "scifact"),
                               "news_macro_f1": f1(kind == "news"),
                               "news_false_called_supported": int(
                                   ((kind == "news") & (y == 1) & (pred == 0)).sum()),
                               "confidence_ece": ece(np.arange(len(y))),
                               "scifact_confidence_ece": ece(np.where(kind == "scifact")[0]),
                               "news_confidence_ece": ece(np.where(kind == "news")[0]),
                               "reliability": reliability(
                                   list(zip(conf.tolist(), right.tolist())), what="claims")}}
    out_path.write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps({k: out[k] for k in ("trained_on", "cross_validated")}))


def platt(chosen: list[tuple[str, float]], right: np.ndarray, rows: np.ndarray, *,
          weights: np.ndarray) -> dict[str, tuple[float, float]]:
    """Per verdict, (a, b) with P(right) = sigmoid(a * logit(p) + b), fitted on weighted rows."""
    from sklearn.linear_model import LogisticRegression

    out = {}
    for verdict in sorted({chosen[i][0] for i in rows}):
        idx = [i for i in rows if chosen[i][0] == verdict]
        z = logit(np.array([chosen[i][1] for i in idx])).reshape(-1, 1)
        # The model's own weights (each archive counts alike), scaled to average 1 so that
        # they move the balance between archives, not the prior's or the penalty's strength.
        r, w = right[idx], weights[idx] * len(idx) / weights[idx].sum()
        if len(idx) < 10 or r.all() or not r.any():  # too few to fit: the share that was right
            share = (float((w * r).sum()) + 1) / (float(w.sum()) + 2)
            out[verdict] = (0.0, float(logit(share)))
            continue
        m = LogisticRegression(C=1.0).fit(z, r, sample_weight=w)
        out[verdict] = (float(m.coef_[0, 0]), float(m.intercept_[0]))
    return out


if __name__ == "__main__":
    main()
