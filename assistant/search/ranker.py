"""The sentence ranker: a LightGBM model over `features.NAMES`, trained by
scripts/train_ranker.py, that scores how likely a sentence states a question's answer."""

from __future__ import annotations

from pathlib import Path

from assistant.search.boosted import BoostedModel
from assistant.search.features import NAMES

DEFAULT_PATH = Path(__file__).resolve().parent.parent / "data" / "sentence_ranker.txt"


class SentenceRanker(BoostedModel):
    """P(a sentence states the answer), from a trained gradient-boosted model."""

    WHAT = "sentence ranker"
    SCRIPT = "scripts/train_ranker.py"
    NAMES = NAMES
    DEFAULT_PATH = DEFAULT_PATH
