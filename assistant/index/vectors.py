"""The FAISS vector index over normalised vectors, keyed by chunk id.

Kinds (ASSISTANT_VECTOR_INDEX): `flat` (exact inner product, 1,536 bytes a chunk), `fp16`
(16-bit floats, exhaustive, 768 bytes a chunk: scores within 1e-4 of flat's, and a search scans
half the memory), `sq8` (8-bit scalar quantised, exhaustive, ~4x smaller), `ivf-sq8` (inverted
lists over SQ8: probes a fraction of the lists, much faster at millions of chunks, recall
measured by bench/large.py). `auto` keeps `fp16` up to COMPRESS_ABOVE chunks and switches a
generation to `ivf-sq8` above it. A live generation of flat or fp16 vectors picks its searches'
candidates with an 8-bit sieve (`assistant.index.sieve`) and scores them exactly, once its
exhaustive searches have cost as long as building the sieve takes.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from assistant.errors import IndexCorruptError
from assistant.index.sieve import SIEVE_ABOVE, Sieve


def _faiss() -> Any:
    import faiss

    return faiss


KINDS = ("flat", "fp16", "sq8", "ivf-sq8")
COMPRESS_ABOVE = 1_000_000  # chunks; `auto` switches to ivf-sq8 above this (see bench/large.py)
NPROBE_SHARE = 1 / 64  # share of inverted lists probed per query
EXACT_FILTERED = 20_000  # filtered IVF searches over at most this many chunks score each one
# Building a sieve: 31-180 ms for 36,000 fp16 vectors here (the slower with the index's pages
# not yet touched). A live generation builds one, in the background, once its exhaustive
# searches have cost as long: about a hundred searches; never for a one-off command.
SIEVE_SECONDS_PER_VECTOR = 4e-6

log = logging.getLogger(__name__)


def ivf_lists(n: int) -> int:
    """Inverted lists for n vectors: about 4·sqrt(n), at least 1."""
    # k-means wants ~39 training points a list; fewer lists beat a warning and a poor split.
    return max(1, min(65536, int(4 * n**0.5), n // 39))


class VectorIndex:
    """Chunk-id keyed vectors; inner product of unit vectors is their cosine."""

    def __init__(self, dim: int, index: Any | None = None, *, kind: str = "flat",
                 train: np.ndarray | None = None) -> None:
        faiss = _faiss()
        self.dim = dim
        self._sieve: Sieve | None = None  # kept by `keep_sieve`, for a live generation only
        self._sieve_budget: float | None = None  # seconds of exhaustive search, once wanted
        self._sieve_lock = threading.Lock()
        if index is not None:
            self._index = index
        elif kind == "flat":
            self._index = faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
        elif kind == "fp16":  # needs no training: each float is stored at half precision
            half = faiss.IndexScalarQuantizer(dim, faiss.ScalarQuantizer.QT_fp16,
                                              faiss.METRIC_INNER_PRODUCT)
            self._index = faiss.IndexIDMap2(half)
        elif kind == "sq8":
            sq = faiss.IndexScalarQuantizer(dim, faiss.ScalarQuantizer.QT_8bit,
                                            faiss.METRIC_INNER_PRODUCT)
            sq.train(_training_sample(train, dim))
            self._index = faiss.IndexIDMap2(sq)  # SQ renumbers on removal, as IDMap2 needs
        elif kind == "ivf-sq8":
            sample = _training_sample(train, dim)
            nlist = ivf_lists(len(sample) if train is None else len(train))
            ivf = faiss.index_factory(dim, f"IVF{nlist},SQ8", faiss.METRIC_INNER_PRODUCT)
            ivf.train(sample)
            # IVF keeps our ids itself (an IDMap would break on removal); the hash table
            # direct map makes reconstruct and remove work by id.
            ivf.set_direct_map_type(faiss.DirectMap.Hashtable)
            ivf.nprobe = max(1, int(nlist * NPROBE_SHARE))
            self._index = ivf
        else:
            raise ValueError(f"vector index kind must be one of {', '.join(KINDS)}, got {kind!r}")

    @property
    def kind(self) -> str:
        """flat, fp16, sq8 or ivf-sq8."""
        faiss = _faiss()
        inner = self._index.index if hasattr(self._index, "id_map") else self._index
        inner = faiss.downcast_index(inner)
        if isinstance(inner, faiss.IndexIVF):
            return "ivf-sq8"
        if isinstance(inner, faiss.IndexScalarQuantizer):
            return "fp16" if inner.sq.qtype == faiss.ScalarQuantizer.QT_fp16 else "sq8"
        return "flat"

    def all_vectors(self) -> tuple[np.ndarray, np.ndarray]:
        """(ids, vectors) of everything stored (decoded, for compressed kinds)."""
        faiss = _faiss()
        if hasattr(self._index, "id_map"):
            ids = faiss.vector_to_array(self._index.id_map).astype(np.int64)
            vecs = self._index.index.reconstruct_n(0, len(self)) if len(self) else \
                np.zeros((0, self.dim), np.float32)
            return ids, vecs
        ivf = faiss.extract_index_ivf(self._index)
        ids = np.concatenate([faiss.rev_swig_ptr(ivf.invlists.get_ids(i), ivf.invlists.list_size(i))
                              .copy() for i in range(ivf.nlist)]).astype(np.int64)
        return ids, np.vstack([self.reconstruct(int(i)) for i in ids]) if len(ids) else \
            np.zeros((0, self.dim), np.float32)

    def converted(self, kind: str) -> VectorIndex:
        """The same vectors in an index of another kind (trained on them)."""
        ids, vecs = self.all_vectors()
        out = VectorIndex(self.dim, kind=kind, train=vecs if len(vecs) else None)
        out.add(list(ids), vecs)
        return out

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def close(self) -> None:
        """Free the index's memory now; any later use raises IndexCorruptError."""
        self._index = _Closed()
        self._sieve = None
        self._sieve_budget = None

    def _sieve_fits(self) -> bool:
        """A sieve pays off for exhaustive kinds (flat, fp16) of at least SIEVE_ABOVE vectors."""
        return len(self) >= SIEVE_ABOVE and self.kind in ("flat", "fp16")

    def sieve_when_worth_it(self) -> None:
        """Build a `Sieve` in the background once exhaustive searches have cost as long as that
        takes (SIEVE_SECONDS_PER_VECTOR); for a live generation, whose vectors no longer change."""
        if self._sieve_fits():
            self._sieve_budget = len(self) * SIEVE_SECONDS_PER_VECTOR

    def keep_sieve(self) -> bool:
        """Pick unfiltered searches' candidates with an 8-bit `Sieve` from now on (when
        `_sieve_fits`); True when one is kept."""
        if self._sieve is None and self._sieve_fits():
            index = self._index
            sieve = Sieve(index)
            if self._index is index:  # not closed while it was built
                self._sieve = sieve
        return self._sieve is not None

    def _spent_exhaustive(self, seconds: float) -> None:
        """Count an exhaustive search towards the sieve's budget; start building it once spent."""
        with self._sieve_lock:
            if self._sieve_budget is None:
                return
            self._sieve_budget -= seconds
            if self._sieve_budget > 0:
                return
            self._sieve_budget = None  # spent: build it once, and count no more
        threading.Thread(target=self._build_sieve, daemon=True, name="assistant-sieve").start()

    def _build_sieve(self) -> None:
        try:
            self.keep_sieve()
        except IndexCorruptError:  # closed meanwhile: a newer generation is live
            pass
        except Exception:  # searches stay exhaustive, and correct
            log.exception("building the vector sieve failed")

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
        self._sieve = None  # it holds the vectors as they were
        vecs = np.ascontiguousarray(vectors, dtype=np.float32)
        if vecs.shape != (len(ids), self.dim):
            raise ValueError(f"expected vectors of shape ({len(ids)}, {self.dim}), got {vecs.shape}")
        self._index.add_with_ids(vecs, np.asarray(ids, dtype=np.int64))

    def remove(self, ids: list[int]) -> int:
        """Remove the given chunk ids; returns how many were removed."""
        if not ids:
            return 0
        self._sieve = None
        return int(self._index.remove_ids(np.asarray(ids, dtype=np.int64)))

    def reconstruct(self, chunk_id: int) -> np.ndarray:
        """The stored vector of one chunk id."""
        return self._index.reconstruct(int(chunk_id))

    def search(self, query: np.ndarray, k: int, allowed: Sequence[int] | None = None
               ) -> list[tuple[int, float]]:
        """The k nearest chunk ids with cosine scores, optionally only among `allowed` ids."""
        faiss = _faiss()
        if len(self) == 0 or k <= 0:
            return []
        q = np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32)
        params = None
        ivf = not hasattr(self._index, "id_map")
        if allowed is not None:
            if not allowed:
                return []
            if ivf and len(allowed) <= EXACT_FILTERED:
                # A filter's few chunks may sit in lists the probe skips: score them all directly.
                vecs = np.vstack([self.reconstruct(i) for i in allowed])
                scores = vecs @ q[0]
                top = np.argsort(-scores)[:k]
                return [(int(allowed[i]), float(scores[i])) for i in top]
            sel = faiss.IDSelectorBatch(np.asarray(allowed, dtype=np.int64))
            # Probing every list keeps a filtered IVF search exhaustive (over 8-bit codes).
            params = (faiss.SearchParametersIVF(sel=sel, nprobe=self._index.nlist) if ivf
                      else faiss.SearchParameters(sel=sel))
        _apply_search_threads()
        sieve = self._sieve
        got = sieve.search(q, min(k, len(sieve))) if sieve is not None and params is None \
            else None
        if got is None:
            started = time.perf_counter()
            got = self._index.search(q, min(k, len(self)), params=params)
            if params is None and self._sieve_budget is not None:
                self._spent_exhaustive(time.perf_counter() - started)
        scores, ids = got
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i != -1]


class _Closed:
    """Stands in for a freed FAISS index: every use is an error that says so."""

    def __getattr__(self, name: str) -> Any:
        raise IndexCorruptError("this index generation was closed; reload the index")


def _training_sample(train: np.ndarray | None, dim: int) -> np.ndarray:
    """Up to 200,000 training vectors (random unit vectors when there are none yet)."""
    if train is None or len(train) == 0:
        rng = np.random.default_rng(0)
        train = rng.standard_normal((1000, dim)).astype(np.float32)
        train /= np.linalg.norm(train, axis=1, keepdims=True)
    if len(train) > 200_000:
        train = train[np.random.default_rng(0).choice(len(train), 200_000, replace=False)]
    return np.ascontiguousarray(train, dtype=np.float32)


_SEARCH_THREADS = 0  # 0: OpenMP's default (every core)
_threads_set = threading.local()


def set_search_threads(n: int) -> None:
    """Limit FAISS's OpenMP threads for searches (0: all cores); one is fastest for single
    queries here. OpenMP keeps the setting per calling thread, so each thread that searches
    applies it before its first search (`_apply_search_threads`)."""
    global _SEARCH_THREADS
    _SEARCH_THREADS = n
    _threads_set.n = None  # this thread applies it again at its next search


def _apply_search_threads() -> None:
    # A server searches from a pool of worker threads, each with OpenMP's default team (every
    # core): their idle threads spin after each search, burning a core beside BM25 and the
    # encoder. Measured on the 36k-chunk news archive over HTTP, one client: 47 ms of CPU a
    # search against 30 ms in-process (bench/load.py; docs in the README's Performance).
    if getattr(_threads_set, "n", None) != _SEARCH_THREADS:
        _faiss().omp_set_num_threads(_SEARCH_THREADS or os.cpu_count() or 1)
        _threads_set.n = _SEARCH_THREADS
