"""Which backend keeps the index: the embedded files, or PostgreSQL when a database URL is set."""

from __future__ import annotations

from pathlib import Path

from assistant.index.base import Backend
from assistant.index.generations import FileBackend


def open_backend(*, index: Path, database_url: str = "", schema: str = "assistant") -> Backend:
    """The backend the settings name (`ASSISTANT_DATABASE_URL`, else `ASSISTANT_INDEX`)."""
    if database_url:
        from assistant.index.postgres import PostgresBackend

        return PostgresBackend(database_url, schema)
    return FileBackend(Path(index))
