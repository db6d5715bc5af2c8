"""Ingesting: reading sources (and published fact-checks), chunking, and writing them as one
new index generation."""

from assistant.ingest.chunking import Chunker
from assistant.ingest.pipeline import embedding_text, ingest, ingest_documents, remove
from assistant.ingest.sources import from_record, iter_documents, read_upload
from assistant.ingest.web import is_url, iter_web

__all__ = ["Chunker", "embedding_text", "from_record", "ingest", "ingest_documents", "is_url",
           "iter_documents", "iter_web", "read_upload", "remove"]
