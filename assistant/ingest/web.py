"""Fetching article pages, RSS/Atom feeds and sitemaps into Documents: politely (robots.txt, a
User-Agent, a few requests per host, timeouts, size limits), each page once (conditional
requests, content hashes), and only from addresses the operator allows (SSRF guard)."""

from __future__ import annotations

import hashlib
import ipaddress
import re
import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urldefrag, urljoin, urlsplit

from assistant.config import Settings
from assistant.errors import (
    BlockedURLError,
    EmptySourceError,
    FetchError,
    SourceError,
    TooLargeError,
    UnsupportedSourceError,
)
from assistant.models import Document, FactCheck, Unchanged

MAX_REDIRECTS = 5
MAX_SITEMAP_DEPTH = 3  # a sitemap index of sitemap indexes of sitemaps
_HTML_TYPES = {"text/html", "application/xhtml+xml"}
_FEED_TYPES = {"application/rss+xml", "application/atom+xml", "application/rdf+xml"}
_XML_TYPES = {"application/xml", "text/xml"} | _FEED_TYPES
_WORD_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"

_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")

WebItem = Document | FactCheck | SourceError | Unchanged


def is_url(value: object) -> bool:
    """True for a string that names a web address rather than a file (any scheme://)."""
    return isinstance(value, str) and bool(_SCHEME.match(value.strip()))


# --- which addresses may be fetched ------------------------------------------------------------

class AddressGuard:
    """Refuses URLs that are not http(s) or whose host resolves to a non-public address, unless
    ASSISTANT_FETCH_ALLOWED_HOSTS names the host or a network holding the address."""

    def __init__(self, hosts: frozenset[str], networks: tuple) -> None:
        self.hosts = hosts
        self.networks = networks

    def check_url(self, url: str) -> None:
        """Raise BlockedURLError unless `url` is http(s) and its host may be fetched."""
        parts = urlsplit(url)
        if parts.scheme.lower() not in ("http", "https"):
            raise BlockedURLError(url, f"only http:// and https:// URLs are fetched, not "
                                  f"{parts.scheme or '(no scheme)'}:")
        host = (parts.hostname or "").lower().rstrip(".")
        if not host:
            raise BlockedURLError(url, "the URL names no host")
        if parts.username or parts.password:
            raise BlockedURLError(url, "URLs with a user name or password are not fetched")
        if host in self.hosts:
            return
        try:
            infos = socket.getaddrinfo(host, parts.port or 443, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as exc:
            raise FetchError(url, f"cannot resolve host {host!r} ({exc})") from None
        for info in infos:
            self.check_address(url, str(info[4][0]))

    def check_address(self, url: str, address: str) -> None:
        """Raise BlockedURLError unless `address` (the one connected to) may be fetched."""
        host = (urlsplit(url).hostname or "").lower().rstrip(".")
        if host in self.hosts:
            return
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        if ip.version == 6 and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped  # ::ffff:127.0.0.1 is loopback too
        if any(ip in net for net in self.networks):
            return
        if not ip.is_global or ip.is_multicast:
            raise BlockedURLError(url, f"{host} is at {ip}, a private, loopback or reserved "
                                  "address; allow it with ASSISTANT_FETCH_ALLOWED_HOSTS")


# --- what was fetched before -------------------------------------------------------------------

class FetchLog:
    """Each fetched page's validators (ETag, Last-Modified) and content hash, in a small SQLite
    file beside the index, so a later ingest asks only for what changed."""

    def __init__(self, path: Path | None) -> None:
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path) if path else ":memory:", check_same_thread=False)
        self._lock = threading.Lock()
        with self._lock, self._db:
            self._db.execute("CREATE TABLE IF NOT EXISTS fetched (url TEXT PRIMARY KEY, etag "
                             "TEXT, last_modified TEXT, content_hash TEXT, fetched_at REAL)")

    def get(self, url: str) -> tuple[str | None, str | None, str | None] | None:
        """(etag, last_modified, content_hash) of the last fetch of `url`, if any."""
        with self._lock:
            row = self._db.execute("SELECT etag, last_modified, content_hash FROM fetched "
                                   "WHERE url = ?", (url,)).fetchone()
        return tuple(row) if row else None  # type: ignore[return-value]

    def put(self, url: str, etag: str | None, last_modified: str | None, content_hash: str) -> None:
        """Remember a page as fetched now."""
        with self._lock, self._db:
            self._db.execute("INSERT OR REPLACE INTO fetched VALUES (?, ?, ?, ?, ?)",
                             (url, etag, last_modified, content_hash, time.time()))

    def close(self) -> None:
        """Close the file."""
        self._db.close()


# --- fetching ----------------------------------------------------------------------------------

@dataclass
class Page:
    """One response: the URL asked for, where it ended up, and its body."""

    url: str
    final_url: str
    content_type: str = ""
    body: bytes = b""
    etag: str | None = None
    last_modified: str | None = None
    not_modified: bool = False

    @property
    def content_hash(self) -> str:
        """SHA-256 of the body."""
        return hashlib.sha256(self.body).hexdigest()


class Fetcher:
    """GETs through the guard, robots.txt and per-host slots, following redirects by hand so
    that every hop is checked."""

    def __init__(self, settings: Settings, log: FetchLog) -> None:
        import httpx

        hosts, networks = settings.fetch_allowed()
        self.guard = AddressGuard(hosts, networks)
        self.log = log
        self.user_agent = settings.fetch_user_agent
        self.max_bytes = settings.max_file_bytes
        self.per_host = settings.fetch_per_host
        # trust_env=False: a proxy from the environment would hide the address we connect to.
        self.client = httpx.Client(
            timeout=httpx.Timeout(settings.fetch_timeout_seconds),
            headers={"User-Agent": self.user_agent, "Accept-Encoding": "gzip, deflate"},
            follow_redirects=False, trust_env=False,
            limits=httpx.Limits(max_connections=settings.fetch_concurrency))
        self._slots: dict[str, threading.Semaphore] = {}
        self._robots: dict[str, Any] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._mutex = threading.Lock()

    def close(self) -> None:
        """Close the connections."""
        self.client.close()

    def _origin(self, url: str) -> str:
        parts = urlsplit(url)
        return f"{parts.scheme.lower()}://{parts.netloc.lower()}"

    def _slot(self, origin: str) -> threading.Semaphore:
        with self._mutex:
            return self._slots.setdefault(origin, threading.Semaphore(self.per_host))

    def allowed_by_robots(self, url: str) -> bool:
        """Whether the host's robots.txt lets our User-Agent fetch `url` (RFC 9309: a missing
        file allows all; a server error or no answer allows nothing)."""
        from protego import Protego

        origin = self._origin(url)
        with self._mutex:
            lock = self._locks.setdefault(origin, threading.Lock())
        with lock:  # one robots.txt request per host, however many pages wait on it
            if origin not in self._robots:
                rules: Any
                try:
                    page = self.get(origin + "/robots.txt", robots=False, conditional=False)
                    rules = Protego.parse(page.body.decode("utf-8", "replace"))
                except FetchError as exc:
                    rules = "all" if exc.status is not None and 400 <= exc.status < 500 else "none"
                self._robots[origin] = rules
        rules = self._robots[origin]
        if isinstance(rules, str):
            return rules == "all"
        return bool(rules.can_fetch(url, self.user_agent))

    def get(self, url: str, *, robots: bool = True, conditional: bool = True) -> Page:
        """The page at `url` after redirects (Page.not_modified when the server says 304)."""
        import httpx

        asked = url
        for _ in range(MAX_REDIRECTS + 1):
            self.guard.check_url(url)
            if robots and not self.allowed_by_robots(url):
                raise FetchError(asked, f"robots.txt of {urlsplit(url).netloc} disallows "
                                 f"fetching {urlsplit(url).path or '/'}")
            headers = {}
            known = self.log.get(asked) if conditional else None
            if known:
                if known[0]:
                    headers["If-None-Match"] = known[0]
                if known[1]:
                    headers["If-Modified-Since"] = known[1]
            try:
                with self._slot(self._origin(url)), \
                        self.client.stream("GET", url, headers=headers) as resp:
                    stream = resp.extensions.get("network_stream")
                    peer = stream.get_extra_info("server_addr") if stream is not None else None
                    if peer:  # the address really connected to: no DNS-rebinding trick
                        self.guard.check_address(url, str(peer[0]))
                    if resp.is_redirect and resp.headers.get("location"):
                        url = urldefrag(urljoin(url, resp.headers["location"]))[0]
                        continue
                    if resp.status_code == 304:
                        return Page(asked, url, not_modified=True)
                    if resp.status_code >= 400:
                        raise FetchError(asked, f"HTTP {resp.status_code} "
                                         f"{resp.reason_phrase or ''} from {url}".rstrip(),
                                         status=resp.status_code)
                    body = self._read(asked, resp)
                    return Page(asked, url, resp.headers.get("content-type", ""), body,
                                resp.headers.get("etag"), resp.headers.get("last-modified"))
            except httpx.TimeoutException:
                raise FetchError(asked, f"timed out fetching {url}") from None
            except httpx.HTTPError as exc:
                raise FetchError(asked, f"cannot fetch {url}: {exc}") from None
        raise FetchError(asked, f"more than {MAX_REDIRECTS} redirects")

    def _read(self, asked: str, resp: Any) -> bytes:
        declared = resp.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            raise TooLargeError(asked, f"response is {int(declared) / 2**20:.1f} MB, over the "
                                f"{self.max_bytes / 2**20:.0f} MB limit (ASSISTANT_MAX_FILE_MB)")
        out = bytearray()
        for part in resp.iter_bytes():
            out += part
            if len(out) > self.max_bytes:  # a server may lie about, or omit, its length
                raise TooLargeError(asked, f"response is over the {self.max_bytes / 2**20:.0f} "
                                    "MB limit (ASSISTANT_MAX_FILE_MB)")
        return bytes(out)


# --- what a response holds ---------------------------------------------------------------------

def _kind(page: Page) -> str:
    ctype = page.content_type.split(";", 1)[0].strip().lower()
    head = page.body[:1024].lstrip().lower()
    if ctype == "application/pdf" or page.body.startswith(b"%PDF"):
        return "binary"
    if ctype == _WORD_TYPE:
        return "binary"
    if ctype in _XML_TYPES or head.startswith(b"<?xml") or head.startswith((b"<rss", b"<feed")):
        probe = page.body[:4096].lower()
        if b"<urlset" in probe or b"<sitemapindex" in probe:
            return "sitemap"
        if b"<rss" in probe or b"<feed" in probe or b"<rdf:rdf" in probe:
            return "feed"
    if ctype in _HTML_TYPES or b"<html" in head or head.startswith(b"<!doctype html"):
        return "html"
    if ctype == "text/plain":
        return "text"
    return ctype or "unknown"


@dataclass
class _Hint:
    """What a feed entry says about the page it links to (used where the page says nothing)."""

    meta: dict[str, Any] = field(default_factory=dict)
    depth: int = 0
    discovered: bool = False  # found in a feed or sitemap (counts toward fetch_max_pages)


def _feed_links(page: Page) -> list[tuple[str, dict[str, Any]]]:
    """Each entry's link and metadata (the feed's title stands for the publisher)."""
    import feedparser

    parsed = feedparser.parse(page.body, response_headers={"content-location": page.final_url})
    publisher = (parsed.feed.get("title") or "").strip() or None
    out = []
    for entry in parsed.entries:
        link = entry.get("link")
        if not link:
            continue
        meta: dict[str, Any] = {"title": entry.get("title"), "author": entry.get("author"),
                                "publisher": publisher}
        stamp = entry.get("published_parsed") or entry.get("updated_parsed")
        if stamp:
            meta["published"] = time.strftime("%Y-%m-%d", stamp)
        out.append((urljoin(page.final_url, link), meta))
    return out


def _sitemap_links(page: Page) -> tuple[list[str], bool]:
    """The <loc> URLs of a sitemap, and whether it is a sitemap index (they name sitemaps)."""
    from lxml import etree

    # No entities, no network, no huge trees: a hostile sitemap cannot expand or reach out.
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False,
                             load_dtd=False)
    try:
        root = etree.fromstring(page.body, parser=parser)
    except etree.XMLSyntaxError as exc:
        raise UnsupportedSourceError(page.url, f"not a readable sitemap ({exc})") from None
    is_index = etree.QName(root).localname == "sitemapindex"
    locs = [el.text.strip() for el in root.iter("{*}loc") if el.text and el.text.strip()]
    return [urljoin(page.final_url, loc) for loc in locs], is_index


def _article(page: Page, hint: _Hint) -> list[Document | FactCheck]:
    """The Document of an article page (and any ClaimReview it carries)."""
    import trafilatura
    from trafilatura.utils import decode_file

    from assistant.ingest.claimreview import from_html as claimreviews_in_html
    from assistant.ingest.sources import make_document
    from assistant.text import is_http_url, normalize_text

    html = decode_file(page.body)
    found = trafilatura.bare_extraction(html, url=page.final_url, with_metadata=True,
                                        include_comments=False, include_tables=True)
    data = found.as_dict() if found is not None and hasattr(found, "as_dict") else (found or {})
    text = normalize_text(data.get("text") or "")
    if not text:
        raise EmptySourceError(page.url, "no article text found on the page")
    meta = dict(hint.meta)
    for ours, theirs in (("title", "title"), ("author", "author"), ("publisher", "sitename"),
                         ("published", "date")):
        if data.get(theirs):
            meta[ours] = data[theirs]
    canonical = data.get("url")
    meta["url"] = canonical if is_http_url(canonical) else page.final_url
    lines = text.split("\n")
    if meta.get("title") and lines and lines[0].strip() == normalize_text(str(meta["title"])):
        lines = lines[1:]  # the headline is the title, once
    from selectolax.lexbor import LexborHTMLParser

    # A fact-check page carries its ClaimReview as JSON-LD beside the article text.
    items: list[Document | FactCheck] = list(claimreviews_in_html(LexborHTMLParser(html), page.url))
    if meta.get("published"):
        from assistant.ingest.dates import parse_date

        try:
            meta["published"] = parse_date(meta["published"])
        except SourceError:
            meta.pop("published")  # a page's odd date is no reason to refuse its text
    items.append(make_document(page.url, page.url, "\n".join(lines), meta,
                               doc_id=page.url))
    return items


def _document(page: Page, kind: str, hint: _Hint) -> list[Document | FactCheck]:
    if kind == "html":
        return _article(page, hint)
    from assistant.ingest.sources import from_binary, make_document

    if kind == "binary":
        return [from_binary(page.url, page.url, page.body, {**hint.meta, "url": page.final_url},
                            doc_id=page.url)]
    if kind == "text":
        text = page.body.decode("utf-8", "replace")
        return [make_document(page.url, page.url, text, {**hint.meta, "url": page.final_url},
                              doc_id=page.url)]
    raise UnsupportedSourceError(page.url, f"cannot read content of type {kind!r} (expected an "
                                 "HTML page, an RSS/Atom feed, a sitemap, a PDF or a .docx)")


# --- the crawl ---------------------------------------------------------------------------------

def iter_web(urls: list[str], *, settings: Settings,
             is_indexed: Callable[[str], bool] = lambda _id: False,
             log_path: Path | None = None) -> Iterator[WebItem]:
    """The Documents behind `urls` (article pages, and every entry of a feed or sitemap), an
    Unchanged for each page that has not changed since it was last ingested, and a SourceError
    for each that cannot be had."""
    log = FetchLog(log_path)
    fetcher = Fetcher(settings, log)
    seen: set[str] = set()
    budget = settings.fetch_max_pages
    over = 0
    pool = ThreadPoolExecutor(settings.fetch_concurrency, thread_name_prefix="assistant-fetch")
    pending: dict[Future, tuple[str, _Hint]] = {}

    def submit(url: str, hint: _Hint) -> None:
        nonlocal budget, over
        url = urldefrag(url.strip())[0]
        if url in seen:
            return
        if hint.discovered:
            if budget <= 0:
                over += 1
                return
            budget -= 1
        seen.add(url)
        # A page not in the index must be fetched whole even if the log says it was seen.
        pending[pool.submit(fetcher.get, url, conditional=is_indexed(url))] = (url, hint)

    try:
        for url in urls:
            submit(url, _Hint())
        while pending:
            done, _ = wait(list(pending), return_when=FIRST_COMPLETED)
            for fut in done:
                url, hint = pending.pop(fut)
                try:
                    page = fut.result()
                    if page.not_modified:
                        yield Unchanged(url)
                        continue
                    kind = _kind(page)
                    if kind == "feed":
                        links = _feed_links(page)
                        if not links:
                            yield EmptySourceError(url, "the feed lists no entries with links")
                        for link, meta in links:
                            submit(link, _Hint(meta, hint.depth + 1, True))
                        continue
                    if kind == "sitemap":
                        locs, is_index = _sitemap_links(page)
                        if is_index and hint.depth >= MAX_SITEMAP_DEPTH:
                            yield UnsupportedSourceError(url, "sitemap indexes nested deeper than "
                                                         f"{MAX_SITEMAP_DEPTH} levels")
                            continue
                        for loc in locs:
                            submit(loc, _Hint({}, hint.depth + 1, not is_index))
                        continue
                    known = log.get(url)
                    if known and known[2] == page.content_hash and is_indexed(url):
                        yield Unchanged(url)
                        continue
                    yield from _document(page, kind, hint)
                    log.put(url, page.etag, page.last_modified, page.content_hash)
                except SourceError as exc:
                    yield exc
        if over:
            yield FetchError(", ".join(urls)[:200], f"{over} more page(s) listed in feeds or "
                             f"sitemaps were not fetched: over ASSISTANT_FETCH_MAX_PAGES "
                             f"({settings.fetch_max_pages})")
    finally:
        for fut in pending:
            fut.cancel()
        pool.shutdown(wait=True, cancel_futures=True)
        fetcher.close()
        log.close()
