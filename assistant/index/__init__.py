"""The index: on disk (the SQLite store with FTS5, the FAISS vectors, and the generations that
switch between them atomically) or in PostgreSQL with pgvector, behind one `Backend` protocol."""

from assistant.index.backends import open_backend
from assistant.index.base import (
    Backend,
    ConversationStore,
    DocumentStore,
    Reader,
    VectorSearch,
    Writer,
)
from assistant.index.generations import (
    MANIFEST,
    FileBackend,
    IndexReader,
    IndexWriter,
    Manifest,
    check_embedder,
    no_index,
    read_manifest,
    write_lock,
)
from assistant.index.store import Store, after_memory_reads, fts_words
from assistant.index.vectors import KINDS, VectorIndex, set_search_threads

__all__ = ["KINDS", "MANIFEST", "Backend", "ConversationStore", "DocumentStore", "FileBackend",
           "IndexReader", "IndexWriter", "Manifest", "Reader", "Store", "VectorIndex",
           "VectorSearch", "Writer", "after_memory_reads", "check_embedder", "fts_words",
           "no_index", "open_backend", "read_manifest", "set_search_threads", "write_lock"]
