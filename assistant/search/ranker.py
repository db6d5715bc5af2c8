"""The sentence ranker: a LightGBM model over `features.NAMES`, trained by
scripts/train_ranker.py, that scores how likely a sentence states a question's answer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from assistant.search.boosted import BoostedModel
from assistant.search.features import NAMES

DEFAULT_PATH = Path(__file__).resolve().parent.parent / "data" / "sentence_ranker.txt"


class SentenceRanker(BoostedModel):
    """P(a sentence states the answer): the bag's mean raw score through a logistic fitted on
    held-out questions (`scale`, `shift`; Platt scaling). The model is trained to rank one
    question's sentences, so its raw scores order them but are no probabilities; the quote
    choice compares them as probabilities ("nearly as likely as the best")."""

    WHAT = "sentence ranker"
    SCRIPT = "scripts/train_ranker.py"
    NAMES = NAMES
    DEFAULT_PATH = DEFAULT_PATH

    def __init__(self, boosters: list[Any], names: tuple[str, ...], *, scale: float = 1.0,
                 shift: float = 0.0) -> None:
        super().__init__(boosters, names)
        self.scale = scale
        self.shift = shift

    def score(self, rows: np.ndarray, *, head: int | None = None) -> np.ndarray:
        """One probability per feature row (`head`: as in `raw_scores`)."""
        return self.probability(self.raw_scores(rows, head=head))

    def probability(self, raw: np.ndarray) -> np.ndarray:
        """Raw scores of this model made probabilities by its logistic."""
        z = self.scale * np.asarray(raw) + self.shift
        return np.asarray(1.0 / (1.0 + np.exp(-np.clip(z, -50, 50))), np.float32)

    @classmethod
    def from_meta(cls, boosters: list[Any], meta: dict[str, Any]) -> SentenceRanker:
        """The model and its logistic (`calibration` in its `.json`; none: the identity)."""
        scale, shift = meta.get("calibration", (1.0, 0.0))
        return cls(boosters, tuple(meta["features"]), scale=scale, shift=shift)
