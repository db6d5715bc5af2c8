"""The FAISS vector index: exact inner product over normalised vectors, keyed by chunk id."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from assistant.errors import IndexCorruptError


def _faiss() -> Any:
    import faiss

    return faiss


class VectorIndex:
    """Chunk-id keyed vectors (IndexIDMap2 over IndexFlatIP: exact cosine on unit vectors)."""

    def __init__(self, dim: int, index: Any | None = None) -> None:
        faiss = _faiss()
        self.dim = dim
        self._index = index if index is not None else faiss.IndexIDMap2(faiss.IndexFlatIP(dim))

    def __len__(self) -> int:
        return int(self._index.ntotal)

    @classmethod
    def load(cls, path: Path) -> VectorIndex:
        """Read an index file written by `save`."""
        faiss = _faiss()
        try:
            index = faiss.read_index(str(path))
        except RuntimeError as exc:
            raise IndexCorruptError(f"cannot read vector index {path}: {str(exc).splitlines()[0]}") \
                from None
        return cls(index.d, index)

    def save(self, path: Path) -> None:
        """Write the index to `path` and flush it to disk."""
        _faiss().write_index(self._index, str(path))
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def add(self, ids: list[int], vectors: np.ndarray) -> None:
        """Add vectors under the given chunk ids."""
        if len(ids) == 0:
            return
        vecs = np.ascontiguousarray(vectors, dtype=np.float32)
        if vecs.shape != (len(ids), self.dim):
            raise ValueError(f"expected vectors of shape ({len(ids)}, {self.dim}), got {vecs.shape}")
        self._index.add_with_ids(vecs, np.asarray(ids, dtype=np.int64))

    def remove(self, ids: list[int]) -> int:
        """Remove the given chunk ids; returns how many were removed."""
        if not ids:
            return 0
        return int(self._index.remove_ids(np.asarray(ids, dtype=np.int64)))

    def reconstruct(self, chunk_id: int) -> np.ndarray:
        """The stored vector of one chunk id."""
        return self._index.reconstruct(int(chunk_id))

    def search(self, query: np.ndarray, k: int, allowed: list[int] | None = None
               ) -> list[tuple[int, float]]:
        """The k nearest chunk ids with cosine scores, optionally only among `allowed` ids."""
        faiss = _faiss()
        if len(self) == 0 or k <= 0:
            return []
        q = np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32)
        params = None
        if allowed is not None:
            if not allowed:
                return []
            params = faiss.SearchParameters(sel=faiss.IDSelectorBatch(np.asarray(allowed, dtype=np.int64)))
        scores, ids = self._index.search(q, min(k, len(self)), params=params)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i != -1]


def set_search_threads(n: int) -> None:
    """Limit FAISS's OpenMP threads; one is fastest for single queries on small machines."""
    _faiss().omp_set_num_threads(n)
