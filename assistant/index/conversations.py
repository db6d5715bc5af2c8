"""Chat turns of an embedded index in a small SQLite file beside its generations.

The file (`conversations.sqlite` in the index directory) is not part of any generation: a new
ingest does not copy or drop it, so a conversation outlives both new generations and a restart
of the server, and every worker process serving the directory sees the same turns.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

log = logging.getLogger("assistant")

FILE = "conversations.sqlite"
_SCHEMA = ("CREATE TABLE IF NOT EXISTS conversations (id TEXT PRIMARY KEY, turns TEXT NOT NULL, "
           "touched REAL NOT NULL)",
           "CREATE INDEX IF NOT EXISTS conversations_touched ON conversations (touched)")


class SqliteConversations:
    """Chat turns keyed by conversation id, with the time they were last touched (wall clock,
    so that idle time counts across a restart)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._ready = False

    @contextlib.contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        # A connection per call: calls come from the server's worker threads, and a short-lived
        # connection never holds the file's lock between them (other worker processes write too).
        with self._lock:
            if not self._ready:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(str(self.path), timeout=10)
            try:
                if not self._ready:
                    db.execute("PRAGMA journal_mode=WAL")
                    for statement in _SCHEMA:
                        db.execute(statement)
                    self._ready = True
                with db:
                    yield db
            finally:
                db.close()

    def load(self, conversation_id: str, *, ttl: float) -> list[dict[str, Any]] | None:
        """The turns of a conversation touched within `ttl` seconds, else None."""
        with self._db() as db:
            row = db.execute("SELECT turns FROM conversations WHERE id = ? AND touched > ?",
                             (conversation_id, time.time() - ttl)).fetchone()
        return list(json.loads(row[0])) if row else None

    def save(self, conversation_id: str, turns: list[dict[str, Any]], *, ttl: float,
             capacity: int) -> None:
        """Keep the turns; forget conversations idle past `ttl` and the oldest past `capacity`."""
        now = time.time()
        with self._db() as db:
            db.execute("INSERT INTO conversations (id, turns, touched) VALUES (?, ?, ?) "
                       "ON CONFLICT (id) DO UPDATE SET turns = excluded.turns, "
                       "touched = excluded.touched",
                       (conversation_id, json.dumps(turns, ensure_ascii=False), now))
            db.execute("DELETE FROM conversations WHERE touched <= ?", (now - ttl,))
            db.execute("DELETE FROM conversations WHERE id IN (SELECT id FROM conversations "
                       "ORDER BY touched DESC LIMIT -1 OFFSET ?)", (int(capacity),))
