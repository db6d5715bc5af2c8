"""Requests, and the replies only HTTP has (the OpenAPI schema is generated from these).

Results (answers, verdicts, hits, citations) are not defined here: they are the models of
`assistant.models`, the same classes the CLI prints and the MCP tools return. Size limits are
not here either: they are settings, checked by the service (`assistant.config`).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, model_validator

from assistant.models import EditorReview
from assistant.models import Filters as CoreFilters
from assistant.models import SearchHit


class Error(BaseModel):
    """Every error reply, except on the OpenAI-compatible paths (`OpenAIError`)."""

    code: str = Field(..., description="Stable machine-readable code, e.g. bad_query.")
    message: str = Field(..., description="What went wrong, for people.")


class OpenAIErrorDetail(BaseModel):
    """What went wrong, as OpenAI words it."""

    message: str
    type: str = Field(..., description="invalid_request_error, requests (rate limit) or "
                                        "server_error.")
    param: str | None = Field(None, description="The request parameter at fault, e.g. "
                                                 "messages[0].role.")
    code: str | None = Field(None, description="e.g. model_not_found, invalid_api_key, "
                                                "rate_limit_exceeded, bad_query.")


class OpenAIError(BaseModel):
    """Every error reply on the OpenAI-compatible paths."""

    error: OpenAIErrorDetail


class Filters(BaseModel):
    """Metadata filters; all optional, combined with AND."""

    model_config = ConfigDict(extra="forbid")
    publisher: list[str] | None = Field(None, max_length=50, description="Any of these publishers.")
    source: list[str] | None = Field(None, max_length=50,
                                     description="Sources; a trailing / or * is a prefix.")
    since: str | None = Field(None, max_length=40, description="Published on or after (YYYY-MM-DD).")
    until: str | None = Field(None, max_length=40, description="Published on or before (YYYY-MM-DD).")

    def to_core(self) -> CoreFilters:
        """The library's validated filters (a QueryError names a bad date)."""
        return CoreFilters.create(publishers=self.publisher, sources=self.source,
                                  since=self.since, until=self.until)


class Filtered(BaseModel):
    """A request that may carry filters."""

    filters: Filters | None = None

    def core_filters(self) -> CoreFilters:
        """The request's filters for the library (none: no filtering)."""
        return (self.filters or Filters()).to_core()


class SearchRequest(Filtered):
    """A search query."""

    query: str = Field(..., description="Natural-language or keyword query "
                       "(ASSISTANT_MAX_QUERY_CHARS).")
    k: int = Field(10, ge=1, description="Number of results (at most ASSISTANT_MAX_K).")


class SearchResponse(BaseModel):
    """Search results, best first (each retriever's own scores are left out over HTTP)."""

    query: str
    results: list[SearchHit]


class AskRequest(Filtered):
    """A question."""

    question: str = Field(..., description="The question (ASSISTANT_MAX_QUESTION_CHARS).")


class ChatRequest(Filtered):
    """One chat turn."""

    message: str = Field(..., description="The turn (ASSISTANT_MAX_QUESTION_CHARS).")
    conversation_id: str | None = Field(None, description="Omit to start a conversation.")
    stream: bool = Field(False, description="Reply as server-sent events.")


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
    documents: list[DocumentIn] = Field(..., min_length=1,
                                        description="At most ASSISTANT_MAX_BATCH_DOCUMENTS.")


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


class UrlsBody(BaseModel):
    """Web addresses to fetch and add: article pages, RSS/Atom feeds, sitemaps."""

    model_config = ConfigDict(extra="forbid")
    urls: list[str] = Field(..., min_length=1, description="http(s) URLs; at most "
                            "ASSISTANT_MAX_BATCH_DOCUMENTS. Feeds and sitemaps bring every page "
                            "they list (at most ASSISTANT_FETCH_MAX_PAGES).")


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


class CheckRequest(Filtered):
    """One claim, or a paragraph to split into check-worthy claims; not both."""

    model_config = ConfigDict(extra="forbid")
    claim: str | None = Field(None, description="One statement to check "
                              "(ASSISTANT_MAX_CLAIM_CHARS).")
    text: str | None = Field(None, description="A paragraph; each check-worthy sentence is "
                             "checked (ASSISTANT_MAX_TEXT_CHARS).")

    @model_validator(mode="after")
    def _one_of(self) -> CheckRequest:
        if (self.claim is None) == (self.text is None):
            raise ValueError("send either `claim` (one statement) or `text` (a paragraph)")
        return self


class ClaimReviewRequest(CheckRequest):
    """One claim to export as ClaimReview, with the editor's verdict and note if they changed it."""

    editor: EditorReview | None = Field(None, description="The fact-checker's verdict and note; "
                                        "the export rates the claim by it and says it was edited.")
