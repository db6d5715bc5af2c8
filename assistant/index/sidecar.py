"""A small SQLite file beside an index's generations (chat turns, readers' ratings): in no
generation, so a new ingest neither copies nor drops it, and every process serving the
directory shares it."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

from assistant.errors import IndexError_


class SidecarFile:
    """One such file, its tables made on first use."""

    def __init__(self, path: Path, schema: tuple[str, ...], *, what: str | None = None) -> None:
        """`what` ("feedback"): a failure to open or write the file is an IndexError naming it;
        without it the SQLite or OS error is raised as it is."""
        self.path = path
        self.schema = schema
        self.what = what
        self._lock = threading.Lock()
        self._ready = False

    @contextlib.contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        """A connection, in a transaction committed when the block ends."""
        # A connection per call: calls come from the server's worker threads, and a short-lived
        # connection never holds the file's lock between them (other worker processes write too).
        with self._lock:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                db = sqlite3.connect(str(self.path), timeout=10)
                try:
                    if not self._ready:
                        db.execute("PRAGMA journal_mode=WAL")
                        for statement in self.schema:
                            db.execute(statement)
                        self._ready = True
                    with db:
                        yield db
                finally:
                    db.close()
            except (OSError, sqlite3.Error) as exc:
                if self.what is None:
                    raise
                raise IndexError_(f"cannot keep {self.what} in {self.path}: {exc} (make the "
                                  "index directory writable)") from exc
