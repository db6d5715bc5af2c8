"""What the layers above ask of an index, whatever keeps it: the embedded files (SQLite + FTS5 +
FAISS generations, `generations.py`) or PostgreSQL with pgvector (`postgres.py`).

A `Backend` opens consistent readers and single writers; a writer's changes are seen by readers
all at once on `commit()`, or never. Readers and writers hand out a `DocumentStore` (documents,
chunks, text rank, words, sentences, fact-checks) and a `VectorSearch` (chunk vectors).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import numpy as np

    from assistant.errors import IndexNotFoundError
    from assistant.index.generations import Manifest
    from assistant.models import Chunk, Document, FactCheck, Feedback, Filters


class DocumentStore(Protocol):
    """Documents, chunks and everything kept beside them."""

    def add_document(self, doc: Document, chunks: list[Chunk], embed_hashes: list[str]) -> list[int]:
        """Insert a document and its chunks; returns the new chunk ids in order."""
        ...

    def delete_document(self, doc_id: str) -> list[int]:
        """Remove a document and its chunks; returns the removed chunk ids."""
        ...

    def add_sentences(self, doc_id: str, spans: list[tuple[int, int]], vectors: np.ndarray) -> None:
        """Store a document's sentence spans with their vectors."""
        ...

    def add_fact_check(self, fc: FactCheck, vector: np.ndarray) -> None:
        """Insert or replace a published fact-check with its claim's embedding."""
        ...

    def fact_check_hash(self, key: str) -> str | None: ...
    def fact_checks(self) -> tuple[list[FactCheck], np.ndarray]: ...
    def sentences(self, ranges: list[tuple[str, int, int]]
                  ) -> dict[tuple[str, int, int], tuple[list[tuple[int, int]], np.ndarray]]: ...
    def content_hash(self, doc_id: str) -> str | None: ...
    def chunk_ids_by_embed_hash(self, hashes: Iterable[str]) -> dict[str, int]: ...
    def get_document(self, doc_id: str) -> Document | None: ...
    def iter_documents(self) -> Iterator[Document]: ...
    def list_documents(self, *, limit: int, offset: int) -> list[Document]: ...
    def counts(self) -> dict[str, int]: ...
    def chunks(self, ids: Iterable[int]) -> Mapping[int, Mapping[str, Any]]: ...
    def document_chunks(self, doc_id: str) -> list[Mapping[str, Any]]: ...
    def term_chunk_count(self, word: str) -> int: ...
    def chunk_df(self, word: str) -> int | None: ...
    def has_chunk_words(self) -> bool: ...
    def word_df(self, word: str) -> int: ...
    def words_like(self, word: str, spread: int) -> dict[str, int]: ...
    def chunk_ids(self, filters: Filters) -> Sequence[int]: ...

    def bm25(self, query: str, limit: int, filters: Filters | None = None, *,
             common: set[str] | frozenset[str] = frozenset()) -> list[tuple[int, float]]:
        """Chunk ids by text rank (higher is better) for the query's content words."""
        ...

    def close(self) -> None: ...


class VectorSearch(Protocol):
    """Chunk vectors keyed by chunk id."""

    def add(self, ids: list[int], vectors: np.ndarray) -> None: ...
    def remove(self, ids: list[int]) -> int: ...
    def reconstruct(self, chunk_id: int) -> np.ndarray: ...

    def search(self, query: np.ndarray, k: int, allowed: Sequence[int] | None = None
               ) -> list[tuple[int, float]]:
        """The k nearest chunk ids with cosine scores, optionally only among `allowed` ids."""
        ...

    def close(self) -> None: ...


class ConversationStore(Protocol):
    """Chat turns kept where every replica sees them."""

    def load(self, conversation_id: str, *, ttl: float) -> list[dict[str, Any]] | None:
        """The turns of a conversation touched within `ttl` seconds, else None."""
        ...

    def save(self, conversation_id: str, turns: list[dict[str, Any]], *, ttl: float,
             capacity: int) -> None:
        """Keep the turns; forget conversations idle past `ttl` and the oldest past `capacity`."""
        ...


class FeedbackStore(Protocol):
    """Readers' ratings of answers, kept for evaluation."""

    def put(self, item: Feedback) -> Feedback:
        """Keep a rating (replacing an earlier one with the same id); returns it as stored."""
        ...

    def items(self, *, since: str | None = None, rating: str | None = None) -> Iterator[Feedback]:
        """Every rating, oldest first, optionally only from `since` (an ISO date) or of one kind."""
        ...


class Reader(Protocol):
    """A consistent view of the index for reads."""

    root: Any  # where it is, for messages
    manifest: Manifest
    store: DocumentStore
    vectors: VectorSearch

    @property
    def generation(self) -> int: ...
    def close(self) -> None: ...


class Writer(Protocol):
    """The one writer: changes are seen on `commit()`, and `abort()` (or leaving the `with`
    block without a commit) discards them."""

    store: DocumentStore
    vectors: VectorSearch
    previous: Manifest | None

    def commit(self) -> Manifest: ...
    def abort(self) -> None: ...
    def __enter__(self) -> Writer: ...
    def __exit__(self, *exc: object) -> None: ...


class Backend(Protocol):
    """Where an index lives."""

    where: str  # for messages: a directory, or a database and schema

    def manifest(self) -> Manifest | None:
        """What the live index records about itself; None when nothing was ever ingested."""
        ...

    def version(self) -> object | None:
        """A cheap token that changes whenever a new generation goes live (None: no index)."""
        ...

    def reader(self) -> Reader:
        """A reader of the live generation (IndexNotFoundError when there is none)."""
        ...

    def missing(self) -> IndexNotFoundError:
        """The error for an index where nothing was ever ingested, saying what to run."""
        ...

    def conversations(self) -> ConversationStore | None:
        """A shared store for chat turns, or None (kept in each process's memory)."""
        ...

    def feedback(self) -> FeedbackStore:
        """Where readers' ratings of answers are kept."""
        ...

    def writer(self, *, model_id: str, dim: int, chunker: dict[str, Any],
               vector_index: str = "auto") -> Writer:
        """The single writer of the next generation (IndexBusyError while another writes)."""
        ...
