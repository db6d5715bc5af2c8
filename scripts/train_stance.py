"""Train the default stance model; writes assistant/data/stance_model.json (3 kB).

    .venv/bin/python scripts/train_stance.py [--eval ../shared/eval] [--sentences 2000]

Pairs (claim, sentence, stance):
- SciFact train claims (../shared/eval/scifact) except the held-out fifth (claim id divisible by
  5, which `assistant eval scifact-check` and `scifact-verify` score): rationale sentences →
  supports / refutes by the claim's label; two other sentences of each cited abstract → neutral;
- made from real sentences of the news archive (realtimeqa-2023q1) and of SciFact's abstracts
  by `scripts/perturb.py`: each false perturbation (number, date, name, negation, modality,
  direction) against its source → refutes; each true paraphrase, and the sentence itself,
  against it → supports; a claim against the closest sentence of another story, or another
  sentence of its own → neutral;
- scripts/stance-news.jsonl: news claims written against sentences of the seed articles.
Features are `assistant.claims.stance.pair_features`. A multinomial logistic regression
(scikit-learn, balanced classes) is fitted. Cross-validated by source (an article, an abstract,
a claim: never one source on both sides), it prints macro-F1 and the expected calibration
error after the verifier's rules, and fits a temperature on held-out predictions.
Deterministic: the same data gives the same file.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

from perturb import (  # noqa: E402
    checkable,
    entity_pools,
    load_nlp,
    paraphrases,
    perturbations,
    sentences_of,
)

from assistant.claims.checking import constrain  # noqa: E402
from assistant.claims.details import Aligner  # noqa: E402
from assistant.claims.stance import (  # noqa: E402
    FEATURES,
    MODEL_PATH,
    STANCES,
    FeatureVerifier,
    held_out,
    pair_features,
)
from assistant.config import load_settings  # noqa: E402
from assistant.embedding import load_embedder  # noqa: E402
from assistant.eval import expected_calibration_error, reliability  # noqa: E402

SCIFACT_LABEL = {"SUPPORT": "supports", "CONTRADICT": "refutes"}
Pair = tuple[str, str, str, str]  # claim, sentence, stance, source group


def scifact_pairs(folder: Path) -> list[Pair]:
    """(claim, sentence, stance, group) from SciFact's train claims."""
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
        group = f"scifact-claim-{c['id']}"
        used: dict[str, set[int]] = {}
        for doc_id, groups in c["evidence"].items():
            for g in groups:
                for i in g["sentences"]:
                    pairs.append((c["claim"], abstracts[doc_id][i], SCIFACT_LABEL[g["label"]], group))
                    used.setdefault(doc_id, set()).add(i)
        for doc_id in map(str, c["cited_doc_ids"]):
            sents = abstracts.get(doc_id, [])
            others = [i for i in range(len(sents)) if i not in used.get(doc_id, set())]
            for i in rng.sample(others, min(2, len(others))):
                pairs.append((c["claim"], sents[i], "neutral", group))
    return pairs


def archive_sentences(eval_dir: Path, n: int, rng: random.Random) -> list[tuple[str, str, str]]:
    """(sentence, its document's text, group) sampled from the news archive and SciFact."""
    out = []
    news = [json.loads(x) for x in (eval_dir / "realtimeqa-2023q1" / "articles.jsonl")
            .read_text(encoding="utf-8").splitlines() if x.strip()]
    rng.shuffle(news)
    for a in news:
        sents = [s for s in sentences_of(a["text"]) if checkable(s)]
        for s in rng.sample(sents, min(2, len(sents))):
            out.append((s, a["text"], f"news-{a['id']}"))
        if len(out) >= n * 3 // 4:
            break
    science = [json.loads(x) for x in (eval_dir / "scifact" / "corpus-sentences.jsonl")
               .read_text(encoding="utf-8").splitlines() if x.strip()]
    rng.shuffle(science)
    for d in science:
        sents = [s for s in d["abstract"] if checkable(s)]
        for s in rng.sample(sents, min(1, len(sents))):
            out.append((s, " ".join(d["abstract"]), f"scifact-doc-{d['doc_id']}"))
        if len(out) >= n:
            break
    return out


def made_pairs(sources: list[tuple[str, str, str]], nlp: object, embedder: object,
               rng: random.Random) -> list[Pair]:
    """Perturbation, paraphrase and other-story pairs from real sentences."""
    texts = [s for s, _, _ in sources]
    docs = list(nlp.pipe(texts, batch_size=64))  # type: ignore[attr-defined]
    pools = entity_pools(docs)
    vecs = embedder.embed(texts)  # type: ignore[attr-defined]
    groups = [g for _, _, g in sources]
    pairs: list[Pair] = []
    for i, ((sent, doc_text, group), doc) in enumerate(zip(sources, docs, strict=True)):
        true = paraphrases(doc, rng)
        false = perturbations(doc, rng, pools, doc_text)
        pairs += [(c, sent, "supports", group) for c, _ in true]
        pairs += [(c, sent, "refutes", group) for c, _ in false]
        # The closest sentence of another story: topical, but it does not decide the claim.
        sims = vecs @ vecs[i]
        order = np.argsort(-sims)
        other = next((j for j in order[1:40] if groups[j] != group and sims[j] < 0.9), None)
        claims = [c for c, _ in (true + false)] or [sent]
        if other is not None:
            pairs.append((rng.choice(claims), texts[other], "neutral", group))
        own = [s for s in sentences_of(doc_text) if s != sent and len(s.split()) >= 6]
        if own:
            pairs.append((rng.choice(claims), rng.choice(own), "neutral", group))
    return pairs


def features(pairs: list[Pair], embedder: object, aligner: Aligner) -> np.ndarray:
    """Feature rows for the pairs (embedding and parsing each text once)."""
    texts = sorted({t for c, s, _, _ in pairs for t in (c, s)})
    vec = dict(zip(texts, embedder.embed(texts), strict=True))  # type: ignore[attr-defined]
    aligner.parse_many(texts)
    return np.vstack([pair_features(c, s, float(vec[c] @ vec[s]), aligner.align(c, s))
                      for c, s, _, _ in pairs])


def final_probs(verifier: FeatureVerifier, x: np.ndarray, aligns: list) -> np.ndarray:
    """What the checker sees: the model, its rules, and the detail constraint."""
    stances = [constrain(st, al) for st, al in zip(verifier.stances(x), aligns, strict=True)]
    return np.array([[getattr(st, s) for s in STANCES] for st in stances])


def main() -> None:
    """Build the pairs, cross-validate, fit, write the model."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score
    from sklearn.model_selection import GroupKFold

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--eval", type=Path, default=REPO.parent / "shared" / "eval")
    ap.add_argument("--sentences", type=int, default=2000,
                    help="real sentences to make claims from (news and SciFact)")
    ap.add_argument("--out", type=Path, default=MODEL_PATH)
    ap.add_argument("--cache", type=Path, help="keep the feature rows here (.npz) and reuse them")
    args = ap.parse_args()

    if args.cache and args.cache.exists():
        with np.load(args.cache, allow_pickle=False) as z:
            x, y, groups, kind = z["x"], z["y"], z["groups"], z["kind"]
            aligns = [Constraint(bool(b), bool(c)) for b, c in z["aligns"]]
    else:
        rng = random.Random(11)
        settings = load_settings()
        embedder = load_embedder(settings)
        nlp = load_nlp()
        aligner = Aligner(settings.spacy_model)
        hand = [json.loads(x) for x in (REPO / "scripts" / "stance-news.jsonl").read_text()
                .splitlines() if x]
        sci = scifact_pairs(args.eval / "scifact")
        made = made_pairs(archive_sentences(args.eval, args.sentences, rng), nlp, embedder, rng)
        pairs = sci + made + [(p["claim"], p["sentence"], p["stance"], "seeds-hand") for p in hand]
        kind = np.array(["scifact"] * len(sci) + ["made"] * len(made) + ["hand"] * len(hand))
        x = features(pairs, embedder, aligner)
        full = [aligner.align(c, s) for c, s, _, _ in pairs]
        aligns = [Constraint(a.blocks_support, a.contradicts) for a in full]
        y = np.array([STANCES.index(lab) for _, _, lab, _ in pairs])
        groups = np.array([g for _, _, _, g in pairs])
        if args.cache:
            np.savez(args.cache, x=x, y=y, groups=groups, kind=kind,
                     aligns=np.array([[a.blocks_support, a.contradicts] for a in aligns]),
                     claims=np.array([c for c, _, _, _ in pairs]),
                     sentences=np.array([s for _, s, _, _ in pairs]))
    # Each source counts as much as the others: the many made pairs must not drown SciFact's
    # claims written by people, and the few hand-written news pairs count five times each.
    n_sci, n_made = int((kind == "scifact").sum()), int((kind == "made").sum())
    weights = np.select([kind == "hand", kind == "made"], [5.0, n_sci / max(n_made, 1)], 1.0)
    n = len(y)

    def fit(rows: np.ndarray) -> LogisticRegression:
        m = LogisticRegression(C=1.0, max_iter=4000, class_weight="balanced", fit_intercept=False)
        return m.fit(x[rows], y[rows], sample_weight=weights[rows])

    def as_verifier(model: LogisticRegression, temperature: float = 1.0) -> FeatureVerifier:
        v = FeatureVerifier.__new__(FeatureVerifier)
        order = [list(model.classes_).index(i) for i in range(len(STANCES))]
        v.weights, v.classes, v.temperature = model.coef_[order], STANCES, temperature
        return v

    # Held-out predictions: no source on both sides of a split.
    held = np.zeros((n, len(STANCES)))
    raw_models = []
    for train, test in GroupKFold(5).split(x, y, groups):
        model = fit(train)
        raw_models.append((model, test))
        held[test] = final_probs(as_verifier(model), x[test], [aligns[i] for i in test])

    def ece(probs: np.ndarray, rows: np.ndarray) -> float:
        conf, pred = probs[rows].max(axis=1), probs[rows].argmax(axis=1)
        return expected_calibration_error(list(zip(conf.tolist(), (pred == y[rows]).tolist())))

    def with_temperature(t: float) -> np.ndarray:
        out = np.zeros_like(held)
        for model, test in raw_models:
            out[test] = final_probs(as_verifier(model, t), x[test], [aligns[i] for i in test])
        return out

    # The temperature is chosen on one half of the sources and its ECE read on the other.
    half = np.array([zlib.crc32(g.encode()) % 2 for g in groups])
    temps = [round(t, 2) for t in np.arange(0.5, 3.01, 0.1)]
    by_t = {t: with_temperature(t) for t in temps}
    split_ece = []
    for h in (0, 1):
        fit_rows, read_rows = np.where(half == h)[0], np.where(half != h)[0]
        best_t = min(temps, key=lambda t: ece(by_t[t], fit_rows))
        split_ece.append(ece(by_t[best_t], read_rows))
    temperature = min(temps, key=lambda t: ece(by_t[t], np.arange(n)))
    final = by_t[temperature]
    pred = final.argmax(axis=1)

    def f1(rows: np.ndarray) -> float:
        return round(float(f1_score(y[rows], pred[rows], average="macro")), 4)

    model = fit(np.arange(n))
    order = [list(model.classes_).index(i) for i in range(len(STANCES))]
    out = {
        "features": list(FEATURES), "classes": list(STANCES),
        "weights": [[round(float(w), 5) for w in model.coef_[i]] for i in order],
        "temperature": temperature,
        "trained_on": {"pairs": n, "scifact_pairs": n_sci, "made_pairs": n_made,
                       "hand_pairs": int((kind == "hand").sum()),
                       "by_stance": {s: int((y == i).sum()) for i, s in enumerate(STANCES)}},
        "cross_validated": {
            "macro_f1": f1(np.arange(n)),
            "scifact_macro_f1": f1(np.where(kind == "scifact")[0]),
            "made_macro_f1": f1(np.where(kind == "made")[0]),
            "hand_macro_f1": f1(np.where(kind == "hand")[0]),
            "ece_before_temperature": ece(held, np.arange(n)),
            "ece": round(float(np.mean(split_ece)), 4),
            "scifact_ece": ece(final, np.where(kind == "scifact")[0]),
            "made_ece": ece(final, np.where(kind == "made")[0]),
            "reliability": reliability(list(zip(final.max(axis=1).tolist(),
                                                (final.argmax(axis=1) == y).tolist()))),
        },
    }
    args.out.write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps({k: out[k] for k in ("temperature", "trained_on", "cross_validated")}))


@dataclass(frozen=True, slots=True)
class Constraint:
    """What `constrain` reads of an alignment."""

    blocks_support: bool
    contradicts: bool


if __name__ == "__main__":
    main()
