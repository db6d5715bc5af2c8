"""Reading a newsroom's published fact-checks: schema.org ClaimReview JSON-LD.

Fact-checkers publish each check as JSON-LD (`{"@type": "ClaimReview", "claimReviewed": ...,
"reviewRating": {...}, "url": ..., "datePublished": ...}`), in a `.jsonld`/`.json` file or in a
`<script type="application/ld+json">` of the article page. Both are read on ingest; a new claim
that matches an earlier one shows that fact-check first (`assistant.claims.factchecks`).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from assistant.errors import MalformedSourceError, SourceError
from assistant.ingest.dates import parse_date
from assistant.models import FactCheck
from assistant.text import is_http_url


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
    if not value:
        return None
    try:
        return parse_date(value)
    except MalformedSourceError:
        return None


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
