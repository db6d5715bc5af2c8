"""The one protocol every embedding backend implements."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors; `model_id` names the vector space.

    `vocabulary` is the whole lower-case words the model's tokenizer knows (empty when it has
    none): spelling correction and evidence scoring take them as real words.
    """

    model_id: str
    dim: int
    vocabulary: frozenset[str]

    def embed(self, texts: list[str]) -> np.ndarray:
        """One normalised row per text, shape (len(texts), dim), dtype float32."""
        ...
