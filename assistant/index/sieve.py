"""An 8-bit copy of an exhaustive index's vectors that picks a search's candidates, which the
index then scores exactly.

An exhaustive search reads every stored vector: 27.6 MB of fp16 for a 36,000-chunk archive,
about 1 ms a query bound by memory, paid again by each server process. The sieve holds the
same vectors as signed bytes under one scale (FAISS's `QT_8bit_direct_signed`: the query is
scaled to bytes too, so the scan is integer products over half the memory), takes the top
`DEPTH` x k of them, and the index scores only those (an `IDSelectorBitmap` over its rows), so
the scores and the order are the index's own. On the archive's 390 questions the top 100 were
identical to the exhaustive search's for every question already at 1.2 x k candidates.
"""

from __future__ import annotations

from typing import Any

import numpy as np

SIEVE_ABOVE = 20_000  # vectors; below this an exhaustive scan costs well under a millisecond
DEPTH = 2  # candidates the sieve passes on, as a multiple of k
BATCH = 65_536  # vectors decoded at a time while building (bounds the memory it takes)
PEAK = 127.0  # the largest magnitude a byte code holds


class Sieve:
    """Candidate rows of an `IndexIDMap2` over flat codes (flat or fp16), from byte codes."""

    def __init__(self, index: Any) -> None:
        import faiss

        self._index = index  # owns the inner index, which `_inner` only points to
        self._inner = faiss.downcast_index(index.index)
        self._ids = faiss.vector_to_array(index.id_map).astype(np.int64)
        n, dim = int(index.ntotal), int(index.d)
        peak = 0.0
        for lo in range(0, n, BATCH):
            peak = max(peak, float(np.abs(self._inner.reconstruct_n(lo, min(BATCH, n - lo))).max()))
        scale = PEAK / peak if peak > 0 else 1.0
        self._codes = faiss.IndexScalarQuantizer(
            dim, faiss.ScalarQuantizer.QT_8bit_direct_signed, faiss.METRIC_INNER_PRODUCT)
        for lo in range(0, n, BATCH):
            self._codes.add(self._inner.reconstruct_n(lo, min(BATCH, n - lo)) * scale)
        self._rows = n

    def __len__(self) -> int:
        return self._rows

    @property
    def nbytes(self) -> int:
        """Memory held: a byte per dimension per vector, and the ids."""
        return self._rows * int(self._codes.d) + self._ids.nbytes

    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray] | None:
        """(scores, ids) of the k best of one (1, dim) float32 query, as the index's own search
        gives them; None for a zero query (no scale turns it into bytes)."""
        import faiss

        peak = float(np.abs(query).max())
        if peak == 0.0 or not np.isfinite(peak):
            return None
        _, rows = self._codes.search(query * (PEAK / peak), min(self._rows, k * DEPTH))
        mask = np.zeros(self._rows, dtype=bool)
        mask[rows[0][rows[0] >= 0]] = True
        # Bit i of the map is byte i >> 3, bit i & 7: numpy's little-endian bit order.
        bitmap = np.packbits(mask, bitorder="little")
        chosen = faiss.IDSelectorBitmap(len(bitmap), faiss.swig_ptr(bitmap))
        scores, found = self._inner.search(query, k, params=faiss.SearchParameters(sel=chosen))
        return scores, np.where(found >= 0, self._ids[np.maximum(found, 0)], -1)
