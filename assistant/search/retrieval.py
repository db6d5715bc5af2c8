"""Hybrid retrieval: dense (FAISS) and BM25 (FTS5) fused by reciprocal rank, with filters."""

from __future__ import annotations

import math
import threading
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from typing import Literal

import numpy as np

from assistant.config import Settings
from assistant.embedding import Embedder
from assistant.errors import QueryError
from assistant.index import Reader, check_embedder, fts_words, set_search_threads
from assistant.models import Filters, ScoredHit
from assistant.search.rerank import DEPTH, ChunkReranker, chunk_features, chunk_stems
from assistant.text import bounded_input, content_terms, fallback_title, stems

Mode = Literal["hybrid", "dense", "bm25"]
COMMON_SHARE = 0.1  # a query word in more than this share of the chunks is left out of BM25
COMMON_MIN_CHUNKS = 500  # ... and in more than this many
_POOL = ThreadPoolExecutor(max_workers=4, thread_name_prefix="assistant-bm25")
MODES: tuple[str, ...] = ("hybrid", "dense", "bm25")
STEMS_KEPT = 200_000  # chunks whose stems a generation keeps (~120 MB at the default chunk size)


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

    def __init__(self, reader: Reader, embedder: Embedder, settings: Settings, *,
                 reranker: ChunkReranker | None = None) -> None:
        check_embedder(reader.manifest, embedder.model_id, embedder.dim, reader.root)
        self.reader = reader
        self.embedder = embedder
        self.settings = settings
        self.reranker = reranker or (default_reranker() if settings.rerank else None)
        self._df: dict[str, int] = {}
        self._df_lock = threading.Lock()
        self._recent = threading.local()
        # Each chunk's content stems, kept for this generation (its chunks never change): a
        # search stems its 50 reranked chunks, 2.7 ms a search on a 36k-chunk archive, and the
        # same chunks come back query after query. About 0.6 KB a chunk of 160 words.
        self._stems: dict[int, tuple[str, ...]] = {}
        self._chunks = max(1, reader.manifest.counts.get("chunks", 1))
        self._unseen = math.log((self._chunks + 0.5) / 0.5 + 1.0)  # the IDF of an unseen word
        # Single queries: extra OpenMP threads only contend with the encoder on small machines.
        set_search_threads(1)

    def chunk_count(self, word: str) -> int:
        """In how many chunks a (lower-case) word occurs: one primary-key read of the store's
        counts (an FTS count in a store written before they were kept), memoised for this
        generation."""
        with self._df_lock:
            df = self._df.get(word)
        if df is None:
            store = self.reader.store
            df = store.chunk_df(word)
            if df is None:
                df = store.term_chunk_count(word)
            with self._df_lock:
                self._df[word] = df
        return df

    def idf(self, word: str) -> float:
        """BM25-style inverse chunk frequency of a (lower-case) word."""
        df = self.chunk_count(word)
        return math.log((self._chunks - df + 0.5) / (df + 0.5) + 1.0)

    def common_words(self, query: str) -> set[str]:
        """The query's words found in more than COMMON_SHARE (and COMMON_MIN_CHUNKS) of the
        chunks. They weigh little in BM25 but make FTS5 score every chunk holding them: a long
        question's BM25 took 24 ms p50 with them on a 36,000-chunk archive, 14 ms without, its
        top-3 hits as good. In a small index such a word still discriminates, so none is."""
        if not self.reader.store.has_chunk_words():
            return set()
        limit = max(COMMON_MIN_CHUNKS, COMMON_SHARE * self._chunks)
        return {w for w in fts_words(query) if self.chunk_count(w) > limit}

    def _chunk_stems(self, hit: ScoredHit) -> tuple[str, ...]:
        """A chunk's `chunk_stems`, memoised by chunk id for this generation."""
        got = self._stems.get(hit.chunk_id)
        if got is None:
            if len(self._stems) >= STEMS_KEPT:  # bounded: start afresh rather than grow
                self._stems.clear()
            got = self._stems[hit.chunk_id] = chunk_stems(hit.text, hit.section)
        return got

    def sentences(self, ranges: list[tuple[str, int, int]]
                  ) -> dict[tuple[str, int, int], tuple[list[tuple[int, int]], np.ndarray]]:
        """The stored sentences of chunk ranges (`Store.sentences`), reusing those this thread's
        last reranked search read."""
        recent = getattr(self._recent, "stored", None) or {}
        self._recent.stored = None
        missing = [r for r in ranges if r not in recent]
        got = self.reader.store.sentences(missing) if missing else {}
        return {r: recent[r] if r in recent else got[r] for r in ranges}

    def query_weights(self, query: str) -> dict[str, float]:
        """The IDF of each content stem of a query. A word neither the corpus nor the model's
        vocabulary knows is a typo spelling correction could not mend ("aly"): it carries no
        evidence either way, so it is left out."""
        dictionary = self.embedder.vocabulary
        store = self.reader.store
        terms = [w for w in dict.fromkeys(content_terms(query))
                 if w in dictionary or not w.isalpha() or store.word_df(w) > 0]
        weights: dict[str, float] = {}
        for w, st in zip(terms, stems(terms), strict=True):
            weights[st] = max(weights.get(st, 0.0), self.idf(w))
        return weights

    def search(self, query: str, *, k: int | None = None, filters: Filters | None = None,
               mode: Mode = "hybrid", query_vector: np.ndarray | None = None
               ) -> list[ScoredHit]:
        """The top-k chunks for a query, best first (`query_vector`: its embedding, when the
        caller has it already)."""
        query = check_query(query, self.settings)
        k = check_k(self.settings.k if k is None else k, self.settings)
        if mode not in MODES:
            raise QueryError(f"must be one of {', '.join(MODES)}, got {mode!r}", field="mode")
        filters = filters or Filters()
        n = max(self.settings.candidates, k)
        allowed = self.reader.store.chunk_ids(filters) if filters else None

        dense: list[tuple[int, float]] = []
        lexical: list[tuple[int, float]] = []
        qvec: np.ndarray | None = None
        # BM25 (SQLite) runs beside the encoder and FAISS: both release the GIL while they work.
        common = self.common_words(query) if mode != "dense" else set()
        pending = (_POOL.submit(self.reader.store.bm25, query, n, filters, common=common)
                   if mode == "hybrid" else None)
        try:
            if mode in ("hybrid", "dense"):
                qvec = (self.embedder.embed([query])[0] if query_vector is None
                        else query_vector)
                dense = self.reader.vectors.search(qvec, n, allowed=allowed)
        finally:
            # Wait for BM25 even when the dense side failed: the caller's lease on this
            # generation (and its SQLite connection) must outlast every query on it.
            if pending is not None:
                lexical = pending.result()
        if mode == "bm25":
            lexical = self.reader.store.bm25(query, n, filters, common=common)

        fused: dict[int, float] = {}
        for ranked in (dense, lexical):
            for rank, (cid, _) in enumerate(ranked, start=1):
                fused[cid] = fused.get(cid, 0.0) + 1.0 / (self.settings.rrf_k + rank)
        if mode != "hybrid":  # a single retriever keeps its own score
            fused = {cid: round(score, 6) for cid, score in (dense or lexical)}
        rerank = mode == "hybrid" and self.reranker is not None and qvec is not None
        top = sorted(fused, key=lambda c: (-fused[c], c))[: max(k, DEPTH) if rerank else k]
        # Each retriever's score and rank, for the hits kept only (most candidates are not).
        parts: dict[int, dict[str, float]] = {cid: {} for cid in top}
        for name, rank_name, ranked in (("dense", "dense_rank", dense),
                                        ("bm25", "bm25_rank", lexical)):
            for rank, (cid, score) in enumerate(ranked, start=1):
                if (p := parts.get(cid)) is not None:
                    p[name] = round(score, 6)
                    p[rank_name] = rank
        rows = self.reader.store.chunks(top)
        # A shared store (PostgreSQL) may lose a document between two statements.
        top = [cid for cid in top if cid in rows]
        hits = []
        for rank, cid in enumerate(top, start=1):
            r = rows[cid]
            parts[cid]["fused"] = round(fused[cid], 6)
            parts[cid]["fused_rank"] = rank
            hits.append(ScoredHit(
                rank=rank, score=round(fused[cid], 6), chunk_id=cid, doc_id=r["doc_id"],
                source=r["source"], title=r["title"], section=r["section"],
                char_start=r["char_start"], char_end=r["char_end"], text=r["text"],
                publisher=r["publisher"], published=r["published"], url=r["url"],
                scores=parts[cid],
            ))
        if rerank and hits:
            hits = self._rerank(hits, qvec, query)
        return self._titled(hits[:k])

    def _titled(self, hits: list[ScoredHit]) -> list[ScoredHit]:
        """Hits of a document without a title get its first words as one, for display only
        (ranking never sees it: it would count the first sentence twice)."""
        heads: dict[str, str] = {}
        for h in hits:
            if not h.title:
                if h.doc_id not in heads:
                    doc = self.reader.store.get_document(h.doc_id)
                    heads[h.doc_id] = fallback_title(doc.text) if doc is not None else h.source
                h.title = heads[h.doc_id]
        return hits

    def _rerank(self, hits: list[ScoredHit], qvec: np.ndarray, query: str) -> list[ScoredHit]:
        """The top DEPTH hits re-ordered by the reranker; the score becomes its score (the hits
        below DEPTH follow, in fused order, scored below the last reranked one)."""
        head, tail = hits[:DEPTH], hits[DEPTH:]
        stored = self.reader.store.sentences([(h.doc_id, h.char_start, h.char_end) for h in head])
        self._recent.stored = stored  # the caller's next step (answering) reads the same rows
        scores = self.reranker.score(  # type: ignore[union-attr]
            chunk_features(head, qvec, stored, self.query_weights(query),
                           stems=[self._chunk_stems(h) for h in head]))
        order = sorted(range(len(head)), key=lambda i: (-scores[i], head[i].rank))
        out = [head[i] for i in order] + tail
        low = float(scores.min())
        for rank, h in enumerate(out, start=1):
            h.scores["rerank"] = round(float(scores[order[rank - 1]]), 6) if rank <= len(head) \
                else round(low - (rank - len(head)), 6)
            h.score = h.scores["rerank"]
            h.rank = rank
        return out


@lru_cache(maxsize=1)
def default_reranker() -> ChunkReranker | None:
    """The shipped chunk reranker (None when this installation has none), loaded once."""
    from assistant.search.rerank import DEFAULT_PATH

    return ChunkReranker.load() if DEFAULT_PATH.exists() else None
