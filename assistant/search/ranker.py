"""The sentence ranker: a LightGBM model over `features.NAMES`, trained by
scripts/train_ranker.py, that scores how likely a sentence states a question's answer."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import numpy as np

from assistant.errors import ConfigError
from assistant.search.features import NAMES

DEFAULT_PATH = Path(__file__).resolve().parent.parent / "data" / "sentence_ranker.txt"


class SentenceRanker:
    """P(a sentence states the answer), from a trained gradient-boosted model."""

    def __init__(self, booster: Any, names: tuple[str, ...]) -> None:
        if tuple(names) != NAMES:
            raise ConfigError(
                "the sentence ranker was trained on other features than this version computes: "
                "retrain it with scripts/train_ranker.py")
        self.booster = booster
        self.names = tuple(names)
        self._lock = threading.Lock()

    def score(self, rows: np.ndarray) -> np.ndarray:
        """One probability per feature row."""
        if not len(rows):
            return np.zeros(0, np.float32)
        # LightGBM's predictor is not documented as thread-safe; a prediction takes ~0.1 ms.
        with self._lock:
            return np.asarray(self.booster.predict(rows, num_threads=1), np.float32)

    @classmethod
    def load(cls, path: Path = DEFAULT_PATH) -> SentenceRanker:
        """Read a model written by scripts/train_ranker.py."""
        import lightgbm

        if not path.exists():
            raise ConfigError(f"sentence ranker {path} is missing: reinstall the package or run "
                              "scripts/train_ranker.py")
        booster = lightgbm.Booster(model_file=str(path))
        meta = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
        return cls(booster, tuple(meta["features"]))
