"""Every shape the assistant works with, defined once.

- What is stored: `Document`, `Chunk`, `FactCheck` (plain dataclasses: many are made per ingest).
- What a query asks for: `Filters`.
- What comes back (Pydantic models, so that the CLI's JSON, the HTTP schemas and the MCP
  tools' output schemas are these very classes): `ScoredHit` and `SearchResults`, `Citation`,
  `Quote`, `Answer`, `ChatReply`, `Feedback`, `DocumentText`, `Passage`, `Evidence`, `EarlierCheck`, `Verdict`, `TextVerdicts`.
- What a write did: `IngestReport`.

A field added here appears in the CLI's `--json`, in HTTP responses and in MCP results alike.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, fields
from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from assistant.errors import QueryError, SourceError

# --- stored --------------------------------------------------------------------------------


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


@dataclass(frozen=True, slots=True)
class Unchanged:
    """A source found unchanged before it was read (a web page answering 304 Not Modified)."""

    source: str


@dataclass(frozen=True, slots=True)
class NotIngested:
    """A file passed over on purpose (a type we do not read, found in a folder), and why."""

    source: str
    reason: str


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
class FactCheck:
    """One published fact-check (schema.org ClaimReview): the claim it reviewed, its rating."""

    key: str  # the review's url, or a hash of its claim and date when it has none
    claim: str
    rating: str
    url: str | None = None
    published: str | None = None
    author: str | None = None
    claimant: str | None = None  # who made the claim (itemReviewed.author)
    rating_value: float | None = None
    best_rating: float | None = None
    worst_rating: float | None = None
    source: str = ""  # the file it came from

    def to_dict(self) -> dict:
        """JSON-ready dict."""
        return asdict(self)

    @property
    def content_hash(self) -> str:
        """Changes when anything about the fact-check changes."""
        payload = json.dumps(self.to_dict(), sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()


# --- queries -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Filters:
    """Metadata filters applied to both retrievers (combined with AND)."""

    publishers: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()  # exact source, or a prefix ending in "/" or "*"
    since: str | None = None  # ISO date, inclusive
    until: str | None = None  # ISO date, inclusive

    def __bool__(self) -> bool:
        return bool(self.publishers or self.sources or self.since or self.until)

    def key(self) -> tuple[object, ...]:
        """Every field, hashable (filters built by hand may hold lists): for caches."""
        return tuple(tuple(v) if isinstance(v, list) else v
                     for v in (getattr(self, f.name) for f in fields(self)))

    @classmethod
    def create(cls, *, publishers: list[str] | None = None, sources: list[str] | None = None,
               since: str | None = None, until: str | None = None) -> Filters:
        """Validated filters: dates must be ISO (YYYY-MM-DD), `since` not after `until`."""
        for name, value in (("since", since), ("until", until)):
            if value is not None:
                try:
                    date.fromisoformat(value[:10])
                except ValueError:
                    raise QueryError(f"must be a date like 2024-03-05, got {value!r}",
                                     field=name) from None
        if since and until and since[:10] > until[:10]:
            raise QueryError(f"({since}) is after the end date ({until})", field="since")
        return cls(publishers=tuple(p for p in (publishers or []) if p),
                   sources=tuple(s for s in (sources or []) if s), since=since, until=until)


# --- results ---------------------------------------------------------------------------------


class Result(BaseModel):
    """Base of the result models: `to_dict()` is the JSON every face prints."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict, fields in declaration order."""
        return self.model_dump()


class SearchHit(Result):
    """One ranked chunk; `text == document.text[char_start:char_end]`."""

    rank: int
    score: float = Field(..., description="Fused (or single-retriever) score; higher is better.")
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


class ScoredHit(SearchHit):
    """A hit with each retriever's own score and rank (`dense`, `dense_rank`, `bm25`, ...)."""

    scores: dict[str, int | float] = Field(default_factory=dict)


class SearchResults(Result):
    """A query and its ranked hits, best first."""

    query: str
    results: list[ScoredHit]


class Citation(Result):
    """Where a quote comes from; `quote == document.text[char_start:char_end]`."""

    n: int = Field(..., description="The [n] marker in the answer text.")
    doc_id: str
    title: str | None
    publisher: str | None
    url: str | None
    published: str | None
    source: str
    char_start: int
    char_end: int
    quote: str


class Quote(Result):
    """A verbatim passage and its citation."""

    text: str
    citation: Citation
    score: float = 0.0


class Answer(Result):
    """Quoted sentences with [n] markers and their citations, or an abstention."""

    question: str
    answer: str
    quotes: list[Quote]
    citations: list[Citation]
    confidence: float = Field(..., ge=0, le=1)
    abstained: bool = Field(..., description="True when the sources do not answer the question.")
    related: list[Quote] = Field(default_factory=list,
                                 description="Nearest passages when the answer abstains.")
    timings_ms: dict[str, float] = Field(default_factory=dict)


class ChatReply(Result):
    """The answer to a chat turn; `question` is the turn read in the conversation's context."""

    conversation_id: str
    question: str
    answer: Answer
    ask_back: str | None = Field(None, description=(
        "A question back to the user when the message leans on something (\"they\", \"that "
        "country\") the conversation does not name; `answer` then abstains."))


class CitedSpan(BaseModel):
    """A cited passage, by its document and character offsets."""

    model_config = ConfigDict(extra="forbid")

    doc_id: str = Field(..., min_length=1, max_length=1000)
    char_start: int = Field(..., ge=0)
    char_end: int = Field(..., ge=0)


class Feedback(Result):
    """A reader's thumbs up or down on one answer, kept for evaluation (`assistant feedback`)."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(..., min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$",
                    description="Chosen by the client, one per answer: a later rating of the "
                                "same answer replaces the earlier one.")
    rating: Literal["up", "down"]
    question: str = Field(..., min_length=1, max_length=2000)
    answer: str = Field("", max_length=50_000, description="The answer text as shown.")
    conversation_id: str | None = Field(None, max_length=100)
    citations: list[CitedSpan] = Field(default_factory=list, max_length=50)
    comment: str | None = Field(None, max_length=2000)
    created: str | None = Field(None, description="When it was stored (UTC, ISO 8601); set by "
                                                  "the server.")


class DocumentText(Result):
    """A stored document; `text` is `document.text[0:char_end]`, the text all offsets refer to."""

    doc_id: str
    title: str | None
    source: str
    publisher: str | None
    author: str | None
    url: str | None
    published: str | None
    chars: int = Field(..., description="Length of the whole document text.")
    char_end: int = Field(..., description="Where the returned text stops (== chars unless "
                          "truncated).")
    truncated: bool
    text: str
    note: str | None = Field(None, description="How to read the rest, when truncated.")


class Passage(Result):
    """`text == document.text[char_start:char_end]`, with the text around it, verbatim too."""

    doc_id: str
    title: str | None
    source: str
    publisher: str | None
    url: str | None
    published: str | None
    chars: int = Field(..., description="Length of the whole document text.")
    char_start: int
    char_end: int
    text: str
    context_start: int
    context_end: int
    before: str = Field(..., description="document.text[context_start:char_start]")
    after: str = Field(..., description="document.text[char_end:context_end]")


StanceLabel = Literal["supports", "refutes", "neutral"]


class Evidence(Result):
    """A verbatim sentence, which way it points, and where it comes from."""

    stance: StanceLabel
    score: float
    quote: str
    citation: Citation
    probabilities: dict[str, float] = Field(default_factory=dict)
    relevance: float = Field(0.0, ge=0, le=1, description="How much the sentence bears on the "
                             "claim (the answer model's confidence), whatever its stance.")
    reasons: list[str] = Field(default_factory=list, description=(
        "Why the stance, detail by detail: \"amount differs: $240 billion (claim: $300 "
        "billion)\", \"not stated: Japan\"."))


class EarlierCheck(Result):
    """A fact-check already published on the same claim (schema.org ClaimReview)."""

    claim: str
    rating: str
    published: str | None
    url: str | None
    author: str | None
    similarity: float


class Verdict(Result):
    """Evidence for and against a claim, counted by distinct source, and a verdict."""

    claim: str
    verdict: Literal["supported", "refuted", "conflicting", "not_enough_info"]
    confidence: float = Field(..., ge=0, le=1)
    fact_checks: list[EarlierCheck] = Field(..., description="Earlier published checks, best first.")
    evidence: list[Evidence]
    sources_supporting: int = Field(..., description="Distinct sources; near-duplicates once.")
    sources_refuting: int
    merged: list[list[str]] = Field(default_factory=list,
                                    description="Near-duplicate documents counted as one.")
    verifier: str = ""
    timings_ms: dict[str, float] = Field(default_factory=dict)


class EditorReview(Result):
    """A fact-checker's own verdict on a claim, which exports carry in place of the checker's."""

    model_config = ConfigDict(extra="forbid")
    verdict: Literal["supported", "refuted", "conflicting", "not_enough_info"]
    note: str = Field("", max_length=2000, description="Why, in the editor's words.")


class TextVerdicts(Result):
    """The verdicts on each check-worthy sentence of a paragraph."""

    text: str
    claims: list[Verdict]


# --- writes ------------------------------------------------------------------------------------


@dataclass
class IngestReport:
    """What one ingest run (or one write over HTTP) did."""

    documents: int = 0
    chunks: int = 0
    skipped: int = 0
    errors: list[SourceError] = field(default_factory=list)
    reused_vectors: int = 0
    written: list[str] = field(default_factory=list)  # ids added or replaced
    fact_checks: int = 0  # ClaimReviews added or replaced
    not_ingested: list[NotIngested] = field(default_factory=list)  # files passed over, and why
    generation: int | None = None
    seconds: float = 0.0

    def error_dicts(self) -> list[dict[str, Any]]:
        """Each error as {path, line, message}."""
        return [{"path": e.path, "line": e.line, "message": str(e)} for e in self.errors]

    def to_json(self) -> dict:
        """The `--json` summary of the CLI contract."""
        return {
            "documents": self.documents,
            "chunks": self.chunks,
            "skipped": self.skipped,
            "errors": self.error_dicts(),
            "reused_vectors": self.reused_vectors,
            "fact_checks": self.fact_checks,
            "not_ingested": [{"path": n.source, "reason": n.reason} for n in self.not_ingested],
            "generation": self.generation,
            "seconds": round(self.seconds, 3),
        }
