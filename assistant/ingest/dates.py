"""Publication dates as sources give them, read into ISO 8601."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

from assistant.errors import MalformedSourceError


def parse_date(value: object, *, path: Path | str = "", line: int | None = None) -> str:
    """An ISO 8601 date or datetime as a string; a SourceError names anything else."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):
        s = value.strip()
        try:
            if len(s) == 10:
                return date.fromisoformat(s).isoformat()
            return datetime.fromisoformat(s.replace("Z", "+00:00")).isoformat()
        except ValueError:
            pass
    raise MalformedSourceError(
        path, f"'published' must be an ISO 8601 date such as 2024-03-05, got {value!r}", line=line
    )
