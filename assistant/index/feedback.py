"""Readers' ratings of answers, kept beside the index (not in a generation) for evaluation."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

from assistant.index.sidecar import SidecarFile
from assistant.models import Feedback

FILE = "feedback.sqlite"
_SCHEMA = ("CREATE TABLE IF NOT EXISTS feedback (id TEXT PRIMARY KEY, created TEXT NOT NULL, "
           "rating TEXT NOT NULL, item TEXT NOT NULL)",)


def stamped(item: Feedback) -> Feedback:
    """The item with `created` set to now (UTC, to the second)."""
    now = datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    return item.model_copy(update={"created": now})


class SqliteFeedback:
    """Ratings in `feedback.sqlite` in the index directory; one row per answer id."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file = SidecarFile(path, _SCHEMA, what="feedback")

    def put(self, item: Feedback) -> Feedback:
        """Keep a rating (replacing an earlier one of the same answer); returns it as stored."""
        item = stamped(item)
        with self._file.connect() as db:
            db.execute("INSERT INTO feedback VALUES (?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET "
                       "created = excluded.created, rating = excluded.rating, item = excluded.item",
                       (item.id, item.created, item.rating, item.model_dump_json()))
        return item

    def items(self, *, since: str | None = None, rating: str | None = None) -> Iterator[Feedback]:
        """Every rating, oldest first, optionally only from `since` (an ISO date) or of one kind."""
        if not self.path.exists():
            return
        with self._file.connect() as db:
            rows = db.execute("SELECT item FROM feedback WHERE created >= ? AND "
                              "(? IS NULL OR rating = ?) ORDER BY created, id",
                              (since or "", rating, rating)).fetchall()
        for (raw,) in rows:
            yield Feedback.model_validate_json(raw)
