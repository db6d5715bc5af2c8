"""A trained LightGBM model shipped in assistant/data (the sentence ranker, the chunk
reranker): loaded once, checked against the features this version computes, scored safely
from many request threads. A file may hold a bag of models (the same data, other seeds),
separated by BAG_SEPARATOR lines; their scores are averaged."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import numpy as np

from assistant.errors import ConfigError

M = TypeVar("M", bound="BoostedModel")
BAG_SEPARATOR = "# --- next model of the bag ---"


class BoostedModel:
    """Scores for rows of `NAMES` features, from a model written by `SCRIPT`."""

    WHAT: ClassVar[str] = "model"
    SCRIPT: ClassVar[str] = "scripts/train_ranker.py"
    NAMES: ClassVar[tuple[str, ...]] = ()
    DEFAULT_PATH: ClassVar[Path]

    def __init__(self, boosters: list[Any], names: tuple[str, ...]) -> None:
        if tuple(names) != self.NAMES:
            raise ConfigError(f"the {self.WHAT} was trained on other features than this version "
                              f"computes: retrain it with {self.SCRIPT}")
        self.boosters = boosters
        self._lock = threading.Lock()

    def score(self, rows: np.ndarray) -> np.ndarray:
        """One score per feature row (the mean over a bag)."""
        return self._mean(rows, raw=False)

    def raw_scores(self, rows: np.ndarray, *, head: int | None = None) -> np.ndarray:
        """The mean over a bag of each row's raw score (before a binary model's logistic).
        `head`: only the rows the bag's first model scores highest, this many, get the whole
        bag's mean; the others keep that first model's score."""
        return self._mean(rows, raw=True, head=head)

    def _mean(self, rows: np.ndarray, *, raw: bool, head: int | None = None) -> np.ndarray:
        if not len(rows):
            return np.zeros(0, np.float32)
        if head is not None and head < 1:
            raise ValueError(f"head must be at least 1, got {head}")
        # LightGBM's predictor is not documented as thread-safe.
        with self._lock:
            if head is None or head >= len(rows) or len(self.boosters) == 1:
                scores = [b.predict(rows, num_threads=1, raw_score=raw) for b in self.boosters]
                return np.asarray(np.mean(scores, axis=0), np.float32)
            # A cascade: the rows are scored tree by tree (about 30 ns a tree a row), so the
            # rest of the bag only sees the rows that can still come out on top.
            first = self.boosters[0].predict(rows, num_threads=1, raw_score=raw)
            top = np.argsort(-first, kind="stable")[:head]
            rest = [b.predict(rows[top], num_threads=1, raw_score=raw) for b in self.boosters[1:]]
        out = np.array(first, np.float64)
        out[top] = np.mean([first[top], *rest], axis=0)  # as the whole bag's mean sums them
        return np.asarray(out, np.float32)

    @classmethod
    def load(cls: type[M], path: Path | None = None) -> M:
        """Read the model (and its `.json` list of features) written by SCRIPT."""
        import lightgbm

        path = path or cls.DEFAULT_PATH
        if not path.exists():
            raise ConfigError(f"{cls.WHAT} {path} is missing: reinstall the package or run "
                              f"{cls.SCRIPT}")
        meta = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
        parts = path.read_text(encoding="utf-8").split(f"\n{BAG_SEPARATOR}\n")
        return cls.from_meta([lightgbm.Booster(model_str=p) for p in parts], meta)

    @classmethod
    def from_meta(cls: type[M], boosters: list[Any], meta: dict[str, Any]) -> M:
        """The model from its boosters and its `.json` (a subclass reads more of it)."""
        return cls(boosters, tuple(meta["features"]))


def bag_text(boosters: list[Any]) -> str:
    """The text of a model file holding a bag of boosters (what `BoostedModel.load` reads)."""
    return f"\n{BAG_SEPARATOR}\n".join(b.model_to_string() for b in boosters)
