"""schema.org ClaimReview: reading a newsroom's published fact-checks, and exporting our own.

Fact-checkers publish each check as JSON-LD (`{"@type": "ClaimReview", "claimReviewed": ...,
"reviewRating": {...}, "url": ..., "datePublished": ...}`), in a `.jsonld`/`.json` file or in a
`<script type="application/ld+json">` of the article page. Both are read on ingest; a new claim
that matches an earlier one shows that fact-check first.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from assistant.errors import MalformedSourceError, QueryError, SourceError
from assistant.text import is_http_url

if TYPE_CHECKING:
    from assistant.checking import Verdict

SCHEMA_ORG = "https://schema.org"
# Our verdicts on schema.org's 1 (false) .. 5 (true) scale; "not enough info" gets no number.
# An earlier fact-check is "the same claim" above this cosine and when one claim names nothing the
# other does not: "Hungary has joined sanctions" is not "Turkey has joined sanctions" (cos 0.73).
MATCH_COSINE = 0.75
MAX_MATCHES = 3
_NAME = re.compile(r"\b[A-Z][\w'’-]*")
_NOT_NAMES = frozenset("a an the this that these those it in on at of for and but or if as by "
                       "to from with".split())
RATING = {"supported": (5, "Supported by the archive"), "refuted": (1, "Refuted by the archive"),
          "conflicting": (3, "Sources conflict"), "not_enough_info": (None, "Not enough information")}


@dataclass(slots=True)
class FactCheck:
    """One published fact-check: the claim it reviewed, its rating, when and where."""

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


def _types(node: dict[str, Any]) -> set[str]:
    t = node.get("@type", ())
    return {str(x).rsplit("/", 1)[-1] for x in ([t] if isinstance(t, str) else t)}


def _nodes(data: Any) -> list[dict[str, Any]]:
    """Every JSON object in a JSON-LD document (lists, @graph and nesting included)."""
    out, stack = [], [data]
    while stack:  # explicit stack: hostile nesting must not hit the recursion limit
        item = stack.pop()
        if isinstance(item, dict):
            out.append(item)
            stack.extend(reversed(list(item.values())))
        elif isinstance(item, list):
            stack.extend(reversed(item))
    return out


def _name(value: Any) -> str | None:
    if isinstance(value, list):
        value = value[0] if value else None
    if isinstance(value, dict):
        value = value.get("name") or value.get("@id")
    return str(value).strip() or None if value else None


def _number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _date(value: Any) -> str | None:
    from assistant.sources import parse_date

    if not value:
        return None
    try:
        return parse_date(value)
    except MalformedSourceError:
        return None


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


def parse(data: Any, *, source: str, problems: list[str] | None = None) -> list[FactCheck]:
    """The ClaimReviews in parsed JSON-LD; ones without a claim or a rating are skipped, and so
    are ones whose `url` is not http(s) (said in `problems` when it is given)."""
    out = []
    for node in _nodes(data):
        if "ClaimReview" not in _types(node):
            continue
        claim = node.get("claimReviewed")
        rating = node.get("reviewRating") if isinstance(node.get("reviewRating"), dict) else {}
        value = _number(rating.get("ratingValue"))
        label = _name(rating.get("alternateName")) or _name(rating.get("name")) or (
            f"{value:g}/{_number(rating.get('bestRating')) or 5:g}" if value is not None else None)
        if not isinstance(claim, str) or not claim.strip() or not label:
            continue
        item = node.get("itemReviewed") if isinstance(node.get("itemReviewed"), dict) else {}
        url = node.get("url") if isinstance(node.get("url"), str) else None
        if url is not None and not is_http_url(url):
            # It would be shown and exported as a link: javascript: or data: must never be.
            if problems is not None:
                problems.append(f"ClaimReview of {' '.join(claim.split())[:60]!r} has url "
                                f"{url[:60]!r}; only http:// and https:// URLs are accepted")
            continue
        published = _date(node.get("datePublished"))
        key = url or "claimreview:" + hashlib.sha256(
            f"{claim.strip()}|{published}".encode()).hexdigest()[:16]
        out.append(FactCheck(
            key=key, claim=" ".join(claim.split()), rating=label, url=url, published=published,
            author=_name(node.get("author")), claimant=_name(item.get("author")),
            rating_value=value, best_rating=_number(rating.get("bestRating")),
            worst_rating=_number(rating.get("worstRating")), source=source))
    return out


def read_json(path: Path, rel: str, text: str) -> list[FactCheck | SourceError]:
    """The ClaimReviews of a .jsonld/.json file, and an error for each one refused; an error
    when it holds none."""
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise MalformedSourceError(path, f"not valid JSON: {exc}") from None
    problems: list[str] = []
    found: list[FactCheck | SourceError] = list(parse(data, source=rel, problems=problems))
    found += [MalformedSourceError(path, p) for p in problems]
    if not found:
        raise MalformedSourceError(path, "no schema.org ClaimReview with claimReviewed and "
                                   "reviewRating found (only ClaimReview JSON-LD is read from "
                                   ".json/.jsonld files)")
    return found


def from_html(tree: Any, rel: str) -> list[FactCheck]:
    """The ClaimReviews in a page's `<script type="application/ld+json">` blocks."""
    out = []
    for node in tree.css('script[type="application/ld+json"]'):
        try:
            out.extend(parse(json.loads(node.text() or ""), source=rel))
        except (ValueError, RecursionError):
            continue  # a page's broken metadata is no reason to refuse its text
    return out


def export(verdict: Verdict, *, author: str, author_url: str = "", url: str = "",
           today: date | None = None) -> dict[str, Any]:
    """A finished check as ClaimReview JSON-LD, ready to publish (citations are the evidence)."""
    if url and not is_http_url(url):
        raise QueryError(f"the fact-check's url must start with http:// or https://, got "
                         f"{url[:60]!r}")
    value, label = RATING[verdict.verdict]
    rating: dict[str, Any] = {"@type": "Rating", "alternateName": label}
    if value is not None:
        rating.update(ratingValue=value, bestRating=5, worstRating=1)
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
