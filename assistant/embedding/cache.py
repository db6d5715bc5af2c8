"""An LRU cache of recent texts' vectors in front of any embedder."""

from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np

from assistant.embedding.base import Embedder


class CachedEmbedder:
    """An LRU cache of recent texts' vectors in front of an embedder (thread-safe)."""

    def __init__(self, inner: Embedder, *, size: int = 8192) -> None:
        self.inner = inner
        self.model_id = inner.model_id
        self.dim = inner.dim
        self.vocabulary = inner.vocabulary
        self.size = size
        self.hits = self.misses = 0
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def embed(self, texts: list[str]) -> np.ndarray:
        """Cached vectors for texts seen recently; one model call for the rest."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        missing: dict[str, list[int]] = {}
        with self._lock:
            for i, t in enumerate(texts):
                vec = self._cache.get(t)
                if vec is None:
                    missing.setdefault(t, []).append(i)
                else:
                    self._cache.move_to_end(t)
                    out[i] = vec
            self.hits += len(texts) - sum(len(v) for v in missing.values())
            self.misses += len(missing)
        if missing:
            new = self.inner.embed(list(missing))
            with self._lock:
                for (t, rows), vec in zip(missing.items(), new, strict=True):
                    out[rows] = vec
                    self._cache[t] = vec
                while len(self._cache) > self.size:
                    self._cache.popitem(last=False)
        return out
