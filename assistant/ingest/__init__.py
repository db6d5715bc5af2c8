"""Ingesting: reading sources (and published fact-checks), chunking, and writing them as one
new index generation."""

from assistant.ingest.chunking import Chunker
from assistant.ingest.pipeline import embedding_text, ingest, ingest_documents, remove
from assistant.ingest.sources import from_record, iter_documents, read_upload

__all__ = ["Chunker", "embedding_text", "from_record", "ingest", "ingest_documents",
           "iter_documents", "read_upload", "remove"]
