"""Hybrid retrieval: dense (FAISS) and BM25 (FTS5) fused by reciprocal rank, with filters."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Literal

from assistant.config import Settings
from assistant.embedding import Embedder
from assistant.errors import QueryError
from assistant.index import IndexReader, check_embedder, set_search_threads
from assistant.models import Filters, ScoredHit
from assistant.text import bounded_input

Mode = Literal["hybrid", "dense", "bm25"]
_POOL = ThreadPoolExecutor(max_workers=4, thread_name_prefix="assistant-bm25")
MODES: tuple[str, ...] = ("hybrid", "dense", "bm25")


def check_query(query: object, settings: Settings) -> str:
    """The stripped query, or a QueryError saying what is wrong with it."""
    return bounded_input(query, what="query", limit=settings.max_query_chars,
                         advice=" (ASSISTANT_MAX_QUERY_CHARS)")


def check_k(k: int, settings: Settings) -> int:
    """The number of results asked for, or a QueryError when it is out of range."""
    if not 1 <= k <= settings.max_k:
        raise QueryError(f"must be between 1 and {settings.max_k} (ASSISTANT_MAX_K), got {k}",
                         field="k")
    return k


class Retriever:
    """Answers search queries against one index generation with one loaded embedder."""

    def __init__(self, reader: IndexReader, embedder: Embedder, settings: Settings) -> None:
        check_embedder(reader.manifest, embedder.model_id, embedder.dim, reader.root)
        self.reader = reader
        self.embedder = embedder
        self.settings = settings
        # Single queries: extra OpenMP threads only contend with the encoder on small machines.
        set_search_threads(1)

    def search(self, query: str, *, k: int | None = None, filters: Filters | None = None,
               mode: Mode = "hybrid") -> list[ScoredHit]:
        """The top-k chunks for a query, best first."""
        query = check_query(query, self.settings)
        k = check_k(self.settings.k if k is None else k, self.settings)
        if mode not in MODES:
            raise QueryError(f"must be one of {', '.join(MODES)}, got {mode!r}", field="mode")
        filters = filters or Filters()
        n = max(self.settings.candidates, k)
        allowed = self.reader.store.chunk_ids(filters) if filters else None

        dense: list[tuple[int, float]] = []
        lexical: list[tuple[int, float]] = []
        # BM25 (SQLite) runs beside the encoder and FAISS: both release the GIL while they work.
        pending = (_POOL.submit(self.reader.store.bm25, query, n, filters)
                   if mode == "hybrid" else None)
        try:
            if mode in ("hybrid", "dense"):
                qvec = self.embedder.embed([query])[0]
                dense = self.reader.vectors.search(qvec, n, allowed=allowed)
        finally:
            # Wait for BM25 even when the dense side failed: the caller's lease on this
            # generation (and its SQLite connection) must outlast every query on it.
            if pending is not None:
                lexical = pending.result()
        if mode == "bm25":
            lexical = self.reader.store.bm25(query, n, filters)

        fused: dict[int, float] = {}
        parts: dict[int, dict[str, float]] = {}
        for name, ranked in (("dense", dense), ("bm25", lexical)):
            for rank, (cid, score) in enumerate(ranked, start=1):
                fused[cid] = fused.get(cid, 0.0) + 1.0 / (self.settings.rrf_k + rank)
                p = parts.setdefault(cid, {})
                p[name] = round(score, 6)
                p[f"{name}_rank"] = rank
        if mode != "hybrid":  # a single retriever keeps its own score
            fused = {cid: parts[cid][mode] for cid in fused}
        top = sorted(fused, key=lambda c: (-fused[c], c))[:k]
        rows = self.reader.store.chunks(top)
        hits = []
        for rank, cid in enumerate(top, start=1):
            r = rows[cid]
            hits.append(ScoredHit(
                rank=rank, score=round(fused[cid], 6), chunk_id=cid, doc_id=r["doc_id"],
                source=r["source"], title=r["title"], section=r["section"],
                char_start=r["char_start"], char_end=r["char_end"], text=r["text"],
                publisher=r["publisher"], published=r["published"], url=r["url"],
                scores=parts[cid],
            ))
        return hits
