"""Which backend keeps the index: the embedded files, or PostgreSQL when a database URL is set."""

from __future__ import annotations

from pathlib import Path

from assistant.config import Settings
from assistant.index.base import Backend
from assistant.index.generations import FileBackend


def open_backend(settings: Settings) -> Backend:
    """The backend the settings name (`ASSISTANT_DATABASE_URL`, else `ASSISTANT_INDEX`)."""
    if settings.database_url:
        from assistant.index.postgres import PostgresBackend

        return PostgresBackend(settings.database_url, settings.database_schema)
    return FileBackend(Path(settings.index), lexical_max_chunks=settings.bm25_memory_chunks,
                       sentence_memory_mb=settings.sentence_memory_mb)
