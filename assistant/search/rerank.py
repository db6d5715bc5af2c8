"""The chunk reranker: the fused candidates re-ordered by a LightGBM ranking model
(scripts/train_reranker.py) that also reads how close the chunk's best sentences come to the
query (their vectors are stored at ingest) and how much of the query its title covers."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

from assistant.models import ScoredHit
from assistant.search.boosted import BoostedModel
from assistant.search.features import day_number
from assistant.text import content_stems

DEFAULT_PATH = Path(__file__).resolve().parent.parent / "data" / "chunk_reranker.txt"
DEPTH = 50  # fused candidates the reranker re-orders (the rest keep their fused order)

NAMES = ("fused", "fused_rank", "dense", "dense_rank", "bm25", "bm25_rank", "sent_max_cos",
         "sent_top2_cos", "coverage", "rarest_term", "title_coverage", "doc_chunks", "age_days")


def chunk_stems(text: str, section: str | None) -> tuple[str, ...]:
    """The content stems of a chunk and its section (a tuple: a sixth of a set's memory, and a
    query's few stems are looked up in it)."""
    return tuple(content_stems(f"{text} {section or ''}"))


@lru_cache(maxsize=8192)
def title_stems(title: str) -> frozenset[str]:
    """The content stems of a title, memoised apart from the chunks': in one cache, a corpus
    whose documents each have a title of their own pushed the chunks out of it."""
    return frozenset(content_stems(title))


def chunk_features(hits: list[ScoredHit], qvec: np.ndarray,
                   stored: dict[tuple[str, int, int], tuple[list[tuple[int, int]], np.ndarray]],
                   weights: dict[str, float], *,
                   stems: Sequence[Collection[str]] | None = None) -> np.ndarray:
    """One row of NAMES per hit (`stems`: each hit's `chunk_stems`, when the caller keeps them).
    (No length: "the chunk holds the answer string" favours long chunks, and a reranker that
    learnt that put a long chunk of a small corpus above the one both retrievers ranked first.)"""
    total = sum(weights.values()) or 1.0
    rarest = max(weights, key=weights.get) if weights else None  # type: ignore[arg-type]
    per_doc: dict[str, int] = {}
    for h in hits:
        per_doc[h.doc_id] = per_doc.get(h.doc_id, 0) + 1
    # News goes stale: how much older a story is than the newest one retrieved (-1: undated).
    days = [day_number(h.published) for h in hits]
    newest = max((d for d in days if d is not None), default=None)
    rows = np.zeros((len(hits), len(NAMES)), np.float32)
    titles: dict[str | None, float] = {}
    for i, h in enumerate(hits):
        spans, vecs = stored.get((h.doc_id, h.char_start, h.char_end), ([], None))
        # A chunk's few sentences: sorted as a list, not an array (np.sort costs ~5 µs a call).
        cos = sorted((vecs @ qvec).tolist(), reverse=True) if spans and vecs is not None \
            else [0.0]
        if h.title not in titles:
            words = title_stems(h.title or "")
            titles[h.title] = sum(w for st, w in weights.items() if st in words) / total
        # The query's stems in the chunk, found by hashing the chunk's (a tuple's `in` scans it).
        present = weights.keys() & (stems[i] if stems is not None
                                    else chunk_stems(h.text, h.section))
        sc = h.scores
        rows[i] = (sc.get("fused", h.score), sc.get("fused_rank", h.rank), sc.get("dense", 0.0),
                   sc.get("dense_rank", 999), sc.get("bm25", 0.0), sc.get("bm25_rank", 999),
                   cos[0], (cos[0] + cos[1]) / 2 if len(cos) > 1 else cos[0],
                   sum(w for st, w in weights.items() if st in present) / total,
                   float(rarest in present), titles[h.title], per_doc[h.doc_id],
                   min(3650, newest - days[i]) if newest is not None and days[i] is not None
                   else -1)
    return rows


class ChunkReranker(BoostedModel):
    """Scores for re-ordering retrieved chunks (higher first)."""

    WHAT = "chunk reranker"
    SCRIPT = "scripts/train_reranker.py"
    NAMES = NAMES
    DEFAULT_PATH = DEFAULT_PATH
