"""The index on disk: the SQLite store (documents, chunks, FTS5), the FAISS vectors, and the
generations that switch between them atomically."""

from assistant.index.generations import (
    MANIFEST,
    IndexReader,
    IndexWriter,
    Manifest,
    check_embedder,
    no_index,
    read_manifest,
    write_lock,
)
from assistant.index.store import Store, fts_words
from assistant.index.vectors import KINDS, VectorIndex, set_search_threads

__all__ = ["KINDS", "MANIFEST", "IndexReader", "IndexWriter", "Manifest", "Store", "VectorIndex",
           "check_embedder", "fts_words", "no_index", "read_manifest", "set_search_threads",
           "write_lock"]
