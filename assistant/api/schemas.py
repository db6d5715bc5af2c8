"""Request and reply shapes of the HTTP API (the OpenAPI schema is generated from these)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, field_validator, model_validator

MAX_BATCH_DOCUMENTS = 1000


class Error(BaseModel):
    """Every error reply."""

    code: str = Field(..., description="Stable machine-readable code, e.g. bad_query.")
    message: str = Field(..., description="What went wrong, for people.")


class Filters(BaseModel):
    """Metadata filters; all optional, combined with AND."""

    model_config = ConfigDict(extra="forbid")
    publisher: list[str] | None = Field(None, max_length=50, description="Any of these publishers.")
    source: list[str] | None = Field(None, max_length=50,
                                     description="Sources; a trailing / or * is a prefix.")
    since: str | None = Field(None, max_length=40, description="Published on or after (YYYY-MM-DD).")
    until: str | None = Field(None, max_length=40, description="Published on or before (YYYY-MM-DD).")


class SearchRequest(BaseModel):
    """A search query."""

    query: str = Field(..., max_length=10000, description="Natural-language or keyword query.")
    k: int = Field(10, ge=1, le=100, description="Number of results.")
    filters: Filters | None = None


class SearchResult(BaseModel):
    """One ranked chunk; `text == document.text[char_start:char_end]`."""

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


class SearchResponse(BaseModel):
    """Search results, best first."""

    query: str
    results: list[SearchResult]


class Citation(BaseModel):
    """Where a quote comes from; `quote == document.text[char_start:char_end]`."""

    n: int
    doc_id: str
    title: str | None
    publisher: str | None
    url: str | None
    published: str | None
    source: str
    char_start: int
    char_end: int
    quote: str


class Quote(BaseModel):
    """A verbatim passage and its citation."""

    text: str
    citation: Citation
    score: float = 0.0


class Answer(BaseModel):
    """Quoted sentences with [n] markers, or an abstention."""

    question: str
    answer: str
    quotes: list[Quote]
    citations: list[Citation]
    confidence: float = Field(..., ge=0, le=1)
    abstained: bool
    related: list[Quote] = []
    timings_ms: dict[str, float] = {}


class AskRequest(BaseModel):
    """A question."""

    question: str = Field(..., max_length=10000)
    filters: Filters | None = None


class ChatRequest(BaseModel):
    """One chat turn."""

    message: str = Field(..., max_length=10000)
    conversation_id: str | None = Field(None, max_length=100,
                                        description="Omit to start a conversation.")
    stream: bool = Field(False, description="Reply as server-sent events.")
    filters: Filters | None = None


class ChatResponse(BaseModel):
    """The answer to a chat turn; `question` is the turn read in the conversation's context."""

    conversation_id: str
    question: str
    answer: Answer


class DocumentIn(BaseModel):
    """A document to add (the JSONL fields of `assistant ingest`)."""

    model_config = ConfigDict(extra="forbid")
    id: str = Field(..., min_length=1, max_length=500)
    text: str = Field(..., min_length=1)
    title: str | None = Field(None, max_length=2000)
    url: str | None = Field(None, max_length=4000)
    published: str | None = Field(None, max_length=40, description="ISO 8601 date.")
    publisher: str | None = Field(None, max_length=500)
    author: str | None = Field(None, max_length=500)


class DocumentBatch(BaseModel):
    """Several documents, written together (all visible at once, or none)."""

    model_config = ConfigDict(extra="forbid")
    documents: list[DocumentIn] = Field(..., min_length=1, max_length=MAX_BATCH_DOCUMENTS)

    @field_validator("documents", mode="before")
    @classmethod
    def _at_most(cls, value: Any) -> Any:
        # Said before each item is validated: the limit, not the first item's first problem.
        if isinstance(value, list) and len(value) > MAX_BATCH_DOCUMENTS:
            raise ValueError(f"a batch holds at most {MAX_BATCH_DOCUMENTS} documents, got "
                             f"{len(value)}: send it in parts")
        return value


def _one_or_batch(value: Any) -> str:
    return "batch" if isinstance(value, dict) and "documents" in value else "one"


# The body of POST /v1/documents: a batch when it has `documents`, else one document, so that
# errors name the shape that was sent, not the other one.
DocumentsBody = Annotated[
    Annotated[DocumentIn, Tag("one")] | Annotated[DocumentBatch, Tag("batch")],
    Discriminator(_one_or_batch),
]
# Union tags in error locations: not part of any field path.
UNION_TAGS = frozenset({"one", "batch"})


class IngestError(BaseModel):
    """A document or file that could not be added."""

    path: str
    line: int | None = None
    message: str


class IngestResult(BaseModel):
    """What a write did."""

    added: list[str] = Field(..., description="Ids added or replaced.")
    skipped: int = Field(..., description="Unchanged documents.")
    chunks: int
    fact_checks: int = Field(0, description="Published fact-checks (ClaimReview) added or replaced.")
    errors: list[IngestError]
    generation: int | None


class DocumentSummary(BaseModel):
    """A document without its text."""

    doc_id: str
    source: str
    title: str | None
    publisher: str | None
    author: str | None
    url: str | None
    published: str | None
    chars: int


class DocumentOut(DocumentSummary):
    """A stored document with its text (the text all offsets refer to)."""

    text: str
    content_hash: str


class DocumentList(BaseModel):
    """One page of documents."""

    total: int
    limit: int
    offset: int
    documents: list[DocumentSummary]


class Deleted(BaseModel):
    """Result of a delete."""

    removed: list[str]


class WidgetToken(BaseModel):
    """A read token for a web page, bound to its origin."""

    token: str
    expires_in: int
    origin: str


class CheckRequest(BaseModel):
    """One claim, or a paragraph to split into check-worthy claims; not both."""

    model_config = ConfigDict(extra="forbid")
    claim: str | None = Field(None, max_length=1000, description="One statement to check.")
    text: str | None = Field(None, max_length=10000,
                             description="A paragraph; each check-worthy sentence is checked.")
    filters: Filters | None = None

    @model_validator(mode="after")
    def _one_of(self) -> CheckRequest:
        if (self.claim is None) == (self.text is None):
            raise ValueError("send either `claim` (one statement) or `text` (a paragraph)")
        return self


class EvidenceOut(BaseModel):
    """A verbatim sentence and which way it points."""

    stance: Literal["supports", "refutes", "neutral"]
    score: float
    quote: str
    citation: Citation
    probabilities: dict[str, float] = {}


class EarlierCheck(BaseModel):
    """A fact-check already published on the same claim (schema.org ClaimReview)."""

    claim: str
    rating: str
    published: str | None
    url: str | None
    author: str | None
    similarity: float


class Verdict(BaseModel):
    """Evidence for and against a claim, counted by distinct source, and a verdict."""

    claim: str
    verdict: Literal["supported", "refuted", "conflicting", "not_enough_info"]
    confidence: float = Field(..., ge=0, le=1)
    fact_checks: list[EarlierCheck] = Field(..., description="Earlier published checks, best first.")
    evidence: list[EvidenceOut]
    sources_supporting: int = Field(..., description="Distinct sources; near-duplicates once.")
    sources_refuting: int
    merged: list[list[str]] = Field([], description="Near-duplicate documents counted as one.")
    verifier: str = ""
    timings_ms: dict[str, float] = {}


class TextVerdicts(BaseModel):
    """The verdicts on each check-worthy sentence of a paragraph."""

    text: str
    claims: list[Verdict]
