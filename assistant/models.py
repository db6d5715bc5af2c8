"""The data model: documents, chunks and search hits (see DESIGN.md)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field


@dataclass(slots=True)
class Document:
    """One source text; `text` is the stored, normalised text every offset refers to."""

    doc_id: str
    text: str
    source: str
    title: str | None = None
    publisher: str | None = None
    author: str | None = None
    url: str | None = None
    published: str | None = None  # ISO 8601 date (YYYY-MM-DD) or datetime
    content_hash: str = ""

    def __post_init__(self) -> None:
        if not self.content_hash:
            self.content_hash = self.compute_hash()

    def compute_hash(self) -> str:
        """Hash of everything that ends up in the index, so metadata edits count as changes."""
        payload = json.dumps(
            [self.text, self.title, self.publisher, self.author, self.url, self.published, self.source],
            ensure_ascii=False,
        )
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()

    def to_dict(self) -> dict:
        """A JSON-ready dict."""
        return asdict(self)


@dataclass(slots=True)
class Chunk:
    """A run of whole sentences of one document; `text == document.text[char_start:char_end]`."""

    doc_id: str
    ordinal: int
    char_start: int
    char_end: int
    text: str
    section: str | None = None
    chunk_id: int | None = None


@dataclass(slots=True)
class SearchHit:
    """One ranked chunk with its document's metadata."""

    rank: int
    score: float
    chunk_id: int
    doc_id: str
    source: str
    title: str | None
    section: str | None
    char_start: int
    char_end: int
    text: str
    publisher: str | None = None
    published: str | None = None
    url: str | None = None
    scores: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict:
        """The search output contract of DESIGN.md plus metadata."""
        return asdict(self)
