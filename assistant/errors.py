"""The errors the library raises; only the CLI and the HTTP layer turn them into messages.

Tree::

    AssistantError
    ├── ConfigError            a setting or option has a value we cannot use
    ├── SourceError            one input file or record cannot be read (carries `path`, `line`)
    │   ├── MissingSourceError     the path does not exist
    │   ├── EmptySourceError       nothing but whitespace in it
    │   ├── BinarySourceError      not text (NUL bytes or an unknown binary format)
    │   ├── EncodingError          not valid UTF-8
    │   ├── TooLargeError          over the configured size limit
    │   ├── UnsupportedSourceError a file type we do not read
    │   ├── MalformedSourceError   e.g. a JSONL line that is not a JSON object with text
    │   └── FetchError             a URL cannot be fetched (HTTP error, timeout, robots.txt)
    │       └── BlockedURLError        the address is not one the operator allows (SSRF guard)
    ├── IndexError_            the on-disk index cannot be used
    │   ├── IndexNotFoundError     nothing has been ingested at that location
    │   ├── IndexCorruptError      files are missing or unreadable
    │   ├── IndexBusyError         another process is writing the index
    │   └── EmbedderMismatchError  the index was built with another embedding model
    ├── QueryError             an empty, too long or otherwise unusable query or filter
    │                          (carries `field`: which input, so each face can name it its way)
    ├── ModelError             the embedding model cannot be loaded
    └── NotReadyError          the service is still loading its model or index

Messages describe the value, not how it was given: a QueryError about `since` says "since must
be a date ...", and the CLI words it "--since must be ...", the HTTP API "filters.since must
be ..." (see `QueryError.worded`).
"""

from __future__ import annotations

from pathlib import Path


class AssistantError(Exception):
    """Base of every error the library raises on purpose."""


class ConfigError(AssistantError):
    """A setting or option value cannot be used."""


class SourceError(AssistantError):
    """An input file (or one record in it) cannot be ingested."""

    def __init__(self, path: str | Path, problem: str, *, line: int | None = None) -> None:
        self.path = str(path)
        self.line = line
        self.problem = problem
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {problem}")


class MissingSourceError(SourceError):
    """The path does not exist."""


class EmptySourceError(SourceError):
    """The file holds no text."""


class BinarySourceError(SourceError):
    """The file is binary, not text."""


class EncodingError(SourceError):
    """The file is not valid UTF-8."""


class TooLargeError(SourceError):
    """The file is over the configured size limit."""


class UnsupportedSourceError(SourceError):
    """The file type is not one we read."""


class MalformedSourceError(SourceError):
    """The file's structure is wrong (e.g. a JSONL line that is not an object with text)."""


class FetchError(SourceError):
    """A URL cannot be fetched: an HTTP error (its `status`), a timeout, or robots.txt
    disallows it."""

    def __init__(self, path: str | Path, problem: str, *, line: int | None = None,
                 status: int | None = None) -> None:
        self.status = status
        super().__init__(path, problem, line=line)


class BlockedURLError(FetchError):
    """The URL is not http(s), or its host resolves to an address the operator does not allow
    (private, loopback, link-local... unless ASSISTANT_FETCH_ALLOWED_HOSTS names it)."""


class IndexError_(AssistantError):  # noqa: N801 - trailing underscore: do not shadow builtin
    """The on-disk index cannot be used."""


class IndexNotFoundError(IndexError_):
    """No index exists at the location."""


class IndexCorruptError(IndexError_):
    """Index files are missing or unreadable."""


class IndexBusyError(IndexError_):
    """Another process holds the index's write lock."""


class EmbedderMismatchError(IndexError_):
    """The index was built with a different embedding model than the one configured."""


class QueryError(AssistantError):
    """The query or its filters cannot be used.

    With a `field` (e.g. "since", "k"), the message is "<field> <problem>", and a face that
    calls the input something else words it with `worded`.
    """

    def __init__(self, problem: str, *, field: str | None = None) -> None:
        self.problem = problem
        self.field = field
        super().__init__(f"{field} {problem}" if field else problem)

    def worded(self, names: dict[str, str]) -> str:
        """The message with the field called by a face's own name for it (a flag, a path)."""
        if self.field is None:
            return str(self)
        return f"{names.get(self.field, self.field)} {self.problem}"


class ModelError(AssistantError):
    """The embedding model cannot be loaded."""


class NotReadyError(AssistantError):
    """The model or index is still loading."""
