"""Hybrid retrieval: dense (FAISS) and BM25 (FTS5) fused by reciprocal rank, with filters."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import date
from typing import Literal

from assistant.config import Settings
from assistant.embedding import Embedder
from assistant.errors import QueryError
from assistant.index import IndexReader, check_embedder
from assistant.models import SearchHit
from assistant.store import Filters
from assistant.vectors import set_search_threads

Mode = Literal["hybrid", "dense", "bm25"]
_POOL = ThreadPoolExecutor(max_workers=4, thread_name_prefix="assistant-bm25")
MODES: tuple[str, ...] = ("hybrid", "dense", "bm25")


def make_filters(*, publishers: list[str] | None = None, sources: list[str] | None = None,
                 since: str | None = None, until: str | None = None) -> Filters:
    """Validated filters; dates must be ISO (YYYY-MM-DD)."""
    for name, value in (("since", since), ("until", until)):
        if value is not None:
            try:
                date.fromisoformat(value[:10])
            except ValueError:
                raise QueryError(f"--{name} must be a date like 2024-03-05, got {value!r}") from None
    if since and until and since[:10] > until[:10]:
        raise QueryError(f"--since {since} is after --until {until}")
    return Filters(
        publishers=tuple(p for p in (publishers or []) if p),
        sources=tuple(s for s in (sources or []) if s),
        since=since, until=until,
    )


class Retriever:
    """Answers search queries against one index generation with one loaded embedder."""

    def __init__(self, reader: IndexReader, embedder: Embedder, settings: Settings) -> None:
        check_embedder(reader.manifest, embedder.model_id, embedder.dim, reader.root)
        self.reader = reader
        self.embedder = embedder
        self.settings = settings
        # Single queries: extra OpenMP threads only contend with the encoder on small machines.
        set_search_threads(1)

    def check_query(self, query: str) -> str:
        """The stripped query, or a QueryError saying what is wrong with it."""
        if not isinstance(query, str) or not query.strip():
            raise QueryError("the query is empty")
        if len(query) > self.settings.max_query_chars:
            raise QueryError(
                f"the query is {len(query)} characters long; the limit is "
                f"{self.settings.max_query_chars} (ASSISTANT_MAX_QUERY_CHARS)")
        return query.strip()

    def search(self, query: str, *, k: int | None = None, filters: Filters | None = None,
               mode: Mode = "hybrid") -> list[SearchHit]:
        """The top-k chunks for a query, best first."""
        query = self.check_query(query)
        k = self.settings.k if k is None else k
        if not 1 <= k <= 1000:
            raise QueryError(f"k must be between 1 and 1000, got {k}")
        if mode not in MODES:
            raise QueryError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
        filters = filters or Filters()
        n = max(self.settings.candidates, k)
        allowed = self.reader.store.chunk_ids(filters) if filters else None

        dense: list[tuple[int, float]] = []
        lexical: list[tuple[int, float]] = []
        # BM25 (SQLite) runs beside the encoder and FAISS: both release the GIL while they work.
        pending = (_POOL.submit(self.reader.store.bm25, query, n, filters)
                   if mode == "hybrid" else None)
        if mode in ("hybrid", "dense"):
            qvec = self.embedder.embed([query])[0]
            dense = self.reader.vectors.search(qvec, n, allowed=allowed)
        if pending is not None:
            lexical = pending.result()
        elif mode == "bm25":
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
            hits.append(SearchHit(
                rank=rank, score=round(fused[cid], 6), chunk_id=cid, doc_id=r["doc_id"],
                source=r["source"], title=r["title"], section=r["section"],
                char_start=r["char_start"], char_end=r["char_end"], text=r["text"],
                publisher=r["publisher"], published=r["published"], url=r["url"],
                scores=parts[cid],
            ))
        return hits
