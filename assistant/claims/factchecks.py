"""Earlier fact-checks and our own as schema.org ClaimReview: matching a new claim against the
newsroom's published checks, and exporting a finished check as ClaimReview JSON-LD."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import numpy as np

from assistant.errors import QueryError
from assistant.models import EditorReview, FactCheck, Verdict
from assistant.text import is_http_url

SCHEMA_ORG = "https://schema.org"
# An earlier fact-check is "the same claim" above this cosine and when one claim names nothing the
# other does not: "Hungary has joined sanctions" is not "Turkey has joined sanctions" (cos 0.73).
MATCH_COSINE = 0.75
MAX_MATCHES = 3
_NAME = re.compile(r"\b[A-Z][\w'’-]*")
_NOT_NAMES = frozenset("a an the this that these those it in on at of for and but or if as by "
                       "to from with".split())
# Our verdicts on schema.org's 1 (false) .. 5 (true) scale; "not enough info" gets no number.
RATING = {"supported": (5, "Supported by the archive"), "refuted": (1, "Refuted by the archive"),
          "conflicting": (3, "Sources conflict"), "not_enough_info": (None, "Not enough information")}


def _names(text: str) -> set[str]:
    return {n.lower() for n in _NAME.findall(text)} - _NOT_NAMES


def matches(claim: str, vector: np.ndarray, checks: list[FactCheck], vectors: np.ndarray
            ) -> list[tuple[FactCheck, float]]:
    """Earlier fact-checks of the same claim, best first, with their cosine similarity."""
    if not checks:
        return []
    sims = vectors @ np.asarray(vector, np.float32)
    names = _names(claim)
    out = []
    for i in np.argsort(-sims):
        if sims[i] < MATCH_COSINE or len(out) == MAX_MATCHES:
            break
        other = _names(checks[i].claim)
        if names <= other or other <= names:
            out.append((checks[i], round(float(sims[i]), 4)))
    return out


def check_publish_url(url: str) -> str:
    """Where a fact-check will be published: empty or http(s), else a QueryError."""
    if url and not is_http_url(url):
        raise QueryError(f"must start with http:// or https://, got {url[:60]!r}", field="url")
    return url


def export(verdict: Verdict, *, author: str, author_url: str = "", url: str = "",
           today: date | None = None, editor: EditorReview | None = None) -> dict[str, Any]:
    """A finished check as ClaimReview JSON-LD, ready to publish (citations are the evidence);
    an editor's verdict, when given, is the rating, and the review says it was edited."""
    check_publish_url(url)
    value, label = RATING[editor.verdict if editor else verdict.verdict]
    rating: dict[str, Any] = {"@type": "Rating", "alternateName": label}
    if value is not None:
        rating.update(ratingValue=value, bestRating=5, worstRating=1)
    if editor is not None and editor.note.strip():
        rating["ratingExplanation"] = editor.note.strip()
    org: dict[str, Any] = {"@type": "Organization", "name": author}
    if author_url and is_http_url(author_url):
        org["url"] = author_url
    out: dict[str, Any] = {
        "@context": SCHEMA_ORG, "@type": "ClaimReview",
        "datePublished": (today or date.today()).isoformat(),
        "claimReviewed": verdict.claim, "author": org, "reviewRating": rating,
        "itemReviewed": {"@type": "Claim"},
    }
    if url:
        out["url"] = url
    if editor is not None:
        said = RATING[verdict.verdict][1]
        out["reviewBody"] = " ".join(filter(None, [
            f"Verdict edited by the newsroom (the automatic check said: {said}).",
            editor.note.strip()]))
    cited = []
    for e in verdict.evidence:
        if e.stance == "neutral":
            continue
        c = e.citation
        work: dict[str, Any] = {"@type": "CreativeWork", "name": c.title or c.source,
                                "text": e.quote, "description": e.stance}
        link = c.url if is_http_url(c.url) else None  # stored before URLs were checked
        for key, val in (("url", link), ("datePublished", c.published), ("publisher", c.publisher)):
            if val:
                work[key] = {"@type": "Organization", "name": val} if key == "publisher" else val
        cited.append(work)
    if cited:
        out["citation"] = cited
    return out
