"""A claim's verdict from its evidence: a small trained model over what the evidence says
(`scripts/train_verdict.py` writes assistant/data/verdict_model.json), inside rules that no
model may break:
- "supported" needs a sentence that supports the claim with every detail agreeing, and
  "refuted" a sentence that refutes it;
- a claim that a sentence contradicts by a detail (a number, name, date, negation, modality or
  direction stated differently) is never "supported": with support elsewhere it is
  "conflicting" (the one way to that verdict; otherwise the model weighs both sides);
- the confidence is the model's probability for the verdict, calibrated on held-out claims
  (Platt scaling per verdict), so "not enough info" has one too.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from assistant.errors import ModelError
from assistant.models import Evidence

MODEL_PATH = Path(__file__).resolve().parent.parent / "data" / "verdict_model.json"
VERDICTS = ("supported", "refuted", "not_enough_info")
FEATURES = ("bias", "supports_max", "refutes_max", "supports_relevance", "refutes_relevance",
            "sources_supporting", "sources_refuting", "evidence", "relevance_max",
            "detail_refutes", "supports_x_relevance", "refutes_x_relevance")
MAX_SOURCES = 3


def detail_refutes(e: Evidence) -> bool:
    """Evidence that refutes because a detail is stated differently (not just left out)."""
    return e.stance == "refutes" and any(not r.startswith("not stated") for r in e.reasons)


def claim_features(evidence: list[Evidence], supporting: int, refuting: int) -> np.ndarray:
    """The signals of one claim's evidence, in FEATURES order."""
    def best(stance: str) -> tuple[float, float]:
        rows = [(e.probabilities.get(stance, 0.0), e.relevance) for e in evidence]
        return max(rows, default=(0.0, 0.0))

    s_max, s_rel = best("supports")
    r_max, r_rel = best("refutes")
    return np.array([1.0, s_max, r_max, s_rel, r_rel, min(supporting, MAX_SOURCES) / MAX_SOURCES,
                     min(refuting, MAX_SOURCES) / MAX_SOURCES, min(len(evidence), 8) / 8,
                     max((e.relevance for e in evidence), default=0.0),
                     float(any(detail_refutes(e) for e in evidence)), s_max * s_rel, r_max * r_rel])


class VerdictModel:
    """Multinomial logistic weights over FEATURES and a calibration per verdict (the JSON file)."""

    def __init__(self, weights: np.ndarray,
                 calibration: dict[str, tuple[float, float]] | None = None) -> None:
        self.weights = weights  # (len(VERDICTS), len(FEATURES))
        # Platt scaling per verdict, fitted on held-out claims: maps the model's probability for
        # the verdict it gives to how often that verdict was right there.
        self.calibration = calibration or {}

    @classmethod
    def load(cls, path: Path = MODEL_PATH) -> VerdictModel:
        """Read the model; a ModelError says how to rebuild it."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ModelError(f"cannot read the verdict model {path}: {exc} (run "
                             "scripts/train_verdict.py)") from None
        if tuple(data["features"]) != FEATURES or tuple(data["classes"]) != VERDICTS:
            raise ModelError(f"{path} was trained on other features; rerun "
                             "scripts/train_verdict.py")
        calibration = {v: (float(a), float(b)) for v, (a, b) in data.get("calibration", {}).items()}
        return cls(np.array(data["weights"], dtype=np.float64), calibration)

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        """P(supported, refuted, not enough info) before the rules."""
        z = self.weights @ x
        e = np.exp(z - z.max())
        return e / e.sum()

    def decide(self, evidence: list[Evidence], supporting: int, refuting: int
               ) -> tuple[str, float]:
        """The verdict and its confidence, within the rules of this module."""
        return self.decide_features(claim_features(evidence, supporting, refuting))

    def decide_features(self, x: np.ndarray) -> tuple[str, float]:
        """`decide` from a feature row (FEATURES order)."""
        verdict, p = self.choose(x)
        return verdict, round(self.confidence(verdict, p), 3)

    def choose(self, x: np.ndarray) -> tuple[str, float]:
        """The verdict the rules allow and the model's probability for it, before calibration."""
        p = self.probabilities(x)
        supporting, refuting = x[FEATURES.index("sources_supporting")] > 0, \
            x[FEATURES.index("sources_refuting")] > 0
        allowed = np.array([supporting, refuting, True])
        # The choice is among the verdicts the evidence allows; the probability is the model's
        # unrestricted belief in it (no support found is not proof that there is none, so a
        # "not enough info" is not 100% sure just because nothing else was allowed).
        # With sentences on both sides the model weighs them: a near tie is no reason to call
        # the sources conflicting (SciFact's held-out claims: a tie rule cost 0.02-0.03 F1).
        q = np.where(allowed, p, 0.0)
        verdict = VERDICTS[int(np.argmax(q))]
        if verdict == "supported" and x[FEATURES.index("detail_refutes")] > 0:
            return "conflicting", float(1.0 - p[0])  # that the claim is not established
        return verdict, float(p[VERDICTS.index(verdict)])

    def confidence(self, verdict: str, p: float) -> float:
        """How often such a verdict was right, from the model's probability for it."""
        return calibrated(p, self.calibration.get(verdict))


def logit(p: np.ndarray | float) -> np.ndarray | float:
    """log(p / (1 - p)), with p kept off 0 and 1."""
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def calibrated(p: float, ab: tuple[float, float] | None) -> float:
    """Platt scaling, sigmoid(a * logit(p) + b); without (a, b) (a verdict never given on
    held-out claims) the raw probability."""
    if ab is None:
        return float(p)
    a, b = ab
    return float(1.0 / (1.0 + np.exp(-(a * logit(p) + b))))
