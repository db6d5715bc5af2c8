"""Publication dates as sources give them, read into ISO 8601.

ISO 8601 is read as it is; the other common forms ("2024/01/08", "January 8, 2024",
"8 Jan 2024", RFC 2822 as feeds write it: "Mon, 08 Jan 2024 10:00:00 GMT") by python-dateutil.
Numeric day and month orders that could be either are read month first ("01/02/2024" is
2 January), as dateutil does. A value without a full date (year, month and day) is refused.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from pathlib import Path

from assistant.errors import MalformedSourceError

_TIME = re.compile(r"\d:\d\d")


def parse_date(value: object, *, path: Path | str = "", line: int | None = None,
               field: str = "published") -> str:
    """An ISO 8601 date or datetime as a string; a SourceError names the field and the value
    when it is no full date."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str) and (s := value.strip()):
        try:
            if len(s) == 10:
                return date.fromisoformat(s).isoformat()
            return datetime.fromisoformat(s.replace("Z", "+00:00")).isoformat()
        except ValueError:
            pass
        read = _common_form(s)
        if read is not None:
            return read
    raise MalformedSourceError(
        path, f"{field!r} must be a date such as 2024-03-05, 2024/03/05 or 5 March 2024, got "
        f"{value!r}", line=line)


def _common_form(s: str) -> str | None:
    """The date of a common non-ISO form, or None when it is not a full date."""
    from dateutil import parser

    try:
        # Two different defaults: a part the text leaves out shows up as a difference.
        a = parser.parse(s, default=datetime(2000, 1, 1))
        b = parser.parse(s, default=datetime(2001, 2, 2))
    except (ValueError, OverflowError):
        return None
    if (a.year, a.month, a.day) != (b.year, b.month, b.day):
        return None
    return a.isoformat() if _TIME.search(s) else a.date().isoformat()
