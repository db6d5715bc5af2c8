"""Confidence: a small logistic model over evidence features, fitted by scripts/calibrate.py."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parent.parent / "data"
# Sentence relevance for the claim checker: P(a sentence bears on the claim) from its topical
# features (score, cosine, coverage); fitted by scripts/calibrate.py.
DEFAULT_PATH = DATA / "relevance_calibration.json"
FEATURES = ("score", "cos", "coverage")
# Answer confidence: P(the quotes hold the answer) from the ranked sentences; fitted by
# scripts/train_ranker.py.
ANSWER_PATH = DATA / "answer_confidence.json"


@dataclass(frozen=True)
class Calibration:
    """P(the best quote answers the question) = sigmoid(w · features + b); abstain below threshold."""

    weights: tuple[float, ...]
    bias: float
    threshold: float
    features: tuple[str, ...] = FEATURES

    def confidence(self, values: dict[str, float]) -> float:
        """Probability in 0..1 that the answer is right, given the best sentence's features."""
        z = self.bias + sum(w * values[f] for w, f in zip(self.weights, self.features, strict=True))
        return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))

    @classmethod
    @lru_cache(maxsize=4)
    def load(cls, path: Path = DEFAULT_PATH) -> Calibration:
        """Read a calibration file (written by scripts/calibrate.py or scripts/train_ranker.py)."""
        data = json.loads(path.read_text(encoding="utf-8"))
        return cls(weights=tuple(data["weights"]), bias=float(data["bias"]),
                   threshold=float(data["threshold"]), features=tuple(data["features"]))


def fit_logistic(x: np.ndarray, y: np.ndarray, *, l2: float = 1e-2, iters: int = 50
                 ) -> tuple[np.ndarray, float]:
    """Weights and bias of an L2-regularised logistic regression, by Newton's method."""
    n, d = x.shape
    xb = np.hstack([x, np.ones((n, 1))])
    w = np.zeros(d + 1)
    reg = l2 * np.eye(d + 1)
    reg[d, d] = 0.0  # the bias is not shrunk
    for _ in range(iters):
        p = 1.0 / (1.0 + np.exp(-np.clip(xb @ w, -50, 50)))
        grad = xb.T @ (p - y) + reg @ w
        hess = xb.T @ (xb * (p * (1 - p))[:, None]) + reg
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return w[:d], float(w[d])
