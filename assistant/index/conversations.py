"""Chat turns of an embedded index in a small SQLite file beside its generations.

The file (`conversations.sqlite` in the index directory) is not part of any generation: a new
ingest does not copy or drop it, so a conversation outlives both new generations and a restart
of the server, and every worker process serving the directory sees the same turns.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from assistant.index.sidecar import SidecarFile

FILE = "conversations.sqlite"
_SCHEMA = ("CREATE TABLE IF NOT EXISTS conversations (id TEXT PRIMARY KEY, turns TEXT NOT NULL, "
           "touched REAL NOT NULL)",
           "CREATE INDEX IF NOT EXISTS conversations_touched ON conversations (touched)")


class SqliteConversations:
    """Chat turns keyed by conversation id, with the time they were last touched (wall clock,
    so that idle time counts across a restart)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file = SidecarFile(path, _SCHEMA)

    def load(self, conversation_id: str, *, ttl: float) -> list[dict[str, Any]] | None:
        """The turns of a conversation touched within `ttl` seconds, else None."""
        with self._file.connect() as db:
            row = db.execute("SELECT turns FROM conversations WHERE id = ? AND touched > ?",
                             (conversation_id, time.time() - ttl)).fetchone()
        return list(json.loads(row[0])) if row else None

    def save(self, conversation_id: str, turns: list[dict[str, Any]], *, ttl: float,
             capacity: int) -> None:
        """Keep the turns; forget conversations idle past `ttl` and the oldest past `capacity`."""
        now = time.time()
        with self._file.connect() as db:
            db.execute("INSERT INTO conversations (id, turns, touched) VALUES (?, ?, ?) "
                       "ON CONFLICT (id) DO UPDATE SET turns = excluded.turns, "
                       "touched = excluded.touched",
                       (conversation_id, json.dumps(turns, ensure_ascii=False), now))
            db.execute("DELETE FROM conversations WHERE touched <= ?", (now - ttl,))
            db.execute("DELETE FROM conversations WHERE id IN (SELECT id FROM conversations "
                       "ORDER BY touched DESC LIMIT -1 OFFSET ?)", (int(capacity),))
