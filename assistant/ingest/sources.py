"""Reading source files (.txt, .md, .html, .jsonl, .pdf, .docx) into Documents with metadata,
and ClaimReview fact-checks (.jsonld/.json files, and JSON-LD inside .html pages)."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from assistant.errors import (
    BinarySourceError,
    EmptySourceError,
    EncodingError,
    MalformedSourceError,
    MissingSourceError,
    SourceError,
    TooLargeError,
    UnsupportedSourceError,
)
from assistant.ingest.claimreview import from_html as claimreviews_in_html
from assistant.ingest.claimreview import read_json as read_claimreviews
from assistant.ingest.dates import parse_date
from assistant.models import Document, FactCheck, NotIngested
from assistant.text import has_control_chars, is_http_url, looks_like_headline, normalize_text

TEXT_SUFFIXES = {".txt", ".text"}
MARKDOWN_SUFFIXES = {".md", ".markdown"}
HTML_SUFFIXES = {".html", ".htm", ".xhtml"}
JSONL_SUFFIXES = {".jsonl", ".ndjson"}
JSONLD_SUFFIXES = {".jsonld", ".json"}
PDF_SUFFIXES = {".pdf"}
WORD_SUFFIXES = {".docx"}
SUFFIXES = (TEXT_SUFFIXES | MARKDOWN_SUFFIXES | HTML_SUFFIXES | JSONL_SUFFIXES | JSONLD_SUFFIXES
            | PDF_SUFFIXES | WORD_SUFFIXES)

# Leading bytes of common binary formats that contain no NUL early on.
_MAGIC = {
    b"%PDF": "a PDF; name it .pdf to ingest it",
    b"PK\x03\x04": "a ZIP archive; a Word file is read when named .docx",
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"GIF8": "a GIF image",
    b"\x1f\x8b": "gzip-compressed",
    b"\x7fELF": "an executable",
}
METADATA_FIELDS = ("title", "publisher", "author", "url", "published")


Item = Document | FactCheck | SourceError | NotIngested


def iter_documents(paths: list[Path], *, max_bytes: int) -> Iterator[Item]:
    """Every Document found under `paths`, a SourceError for each file or record that fails,
    and a NotIngested for each file of a type we do not read found in a folder.

    A folder is walked recursively (hidden entries are skipped) and its files get doc ids
    relative to it; a file named directly gets its own name as doc id.
    """
    for path in paths:
        if not path.exists():
            yield MissingSourceError(path, "no such file or directory")
        elif path.is_dir():
            for file in _walk(path):
                if file.suffix.lower() not in SUFFIXES:
                    yield NotIngested(file.as_posix(), f"unsupported file type "
                                      f"{file.suffix or '(none)'!r}")
                    continue
                yield from read_file(file, root=path, max_bytes=max_bytes)
        elif path.suffix.lower() not in SUFFIXES:
            yield UnsupportedSourceError(
                path, f"unsupported file type {path.suffix or '(none)'!r}: expected one of "
                + ", ".join(sorted(SUFFIXES))
            )
        else:
            yield from read_file(path, root=path.parent, max_bytes=max_bytes)


def read_upload(name: str, data: bytes, *, max_bytes: int) -> list[Document | FactCheck | SourceError]:
    """The Documents of an uploaded file, read exactly as `assistant ingest` reads files.

    Only the base name of `name` is used (it becomes the doc id); no path from a request ever
    reaches the file system.
    """
    import tempfile

    base = Path(name.replace("\\", "/")).name.strip()
    if not base or base in (".", ".."):
        return [UnsupportedSourceError(name or "(upload)", "the upload has no file name")]
    if Path(base).suffix.lower() not in SUFFIXES:
        return [UnsupportedSourceError(base, f"unsupported file type {Path(base).suffix or '(none)'!r}: "
                                       "expected one of " + ", ".join(sorted(SUFFIXES)))]
    if len(data) > max_bytes:
        return [TooLargeError(base, f"file is {len(data) / 2**20:.1f} MB, over the "
                              f"{max_bytes / 2**20:.0f} MB limit")]
    with tempfile.TemporaryDirectory(prefix="assistant-upload-") as tmp:
        path = Path(tmp) / base
        path.write_bytes(data)
        items = list(read_file(path, root=Path(tmp), max_bytes=max_bytes))
    for item in items:  # errors name the upload, not the temporary path
        if isinstance(item, SourceError):
            item.path = base
            item.args = (str(item).replace(str(path), base),)
    return items


def count_documents(paths: list[Path]) -> int:
    """How many documents `iter_documents` will read, cheaply (files, and JSONL lines), so a
    progress bar's total is known before reading starts."""
    total = 0
    for path in paths:
        files = ([f for f in _walk(path) if f.suffix.lower() in SUFFIXES] if path.is_dir()
                 else [path] if path.is_file() else [])
        for file in files:
            if file.suffix.lower() in JSONL_SUFFIXES:
                try:
                    with file.open("rb") as fh:
                        total += sum(1 for line in fh if line.strip())
                except OSError:
                    total += 1
            else:
                total += 1
    return total


def _walk(root: Path) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if not name.startswith("."):
                yield Path(dirpath) / name


def read_file(path: Path, *, root: Path, max_bytes: int) -> Iterator[Document | FactCheck | SourceError]:
    """The Documents of one file (one, or one per JSONL line), or the errors that stop them."""
    rel = path.relative_to(root).as_posix() if path.is_relative_to(root) else path.name
    suffix = path.suffix.lower()
    try:
        if suffix in JSONL_SUFFIXES:
            yield from _read_jsonl(path, rel, max_bytes)
            return
        if suffix in PDF_SUFFIXES | WORD_SUFFIXES:
            yield from_binary(path, rel, _read_bytes(path, max_bytes, binary=True))
            return
        raw = _read_bytes(path, max_bytes)
        text = _decode(path, raw)
        if suffix in JSONLD_SUFFIXES:
            yield from read_claimreviews(path, rel, text)
        elif suffix in MARKDOWN_SUFFIXES:
            yield _from_markdown(path, rel, text)
        elif suffix in HTML_SUFFIXES:
            from selectolax.lexbor import LexborHTMLParser

            # A fact-check page carries its ClaimReview as JSON-LD beside the article text.
            yield from claimreviews_in_html(LexborHTMLParser(text), rel)
            yield _from_html(path, rel, text)
        else:
            yield _from_text(path, rel, text)
    except SourceError as exc:
        yield exc
    except OSError as exc:
        yield SourceError(path, f"cannot read: {exc.strerror or exc}")


def from_binary(path: str | Path, rel: str, data: bytes, meta: dict[str, Any] | None = None,
                *, doc_id: str | None = None) -> Document:
    """A Document from the bytes of a PDF or .docx file (told apart by their first bytes);
    `meta` fills what the file's own properties leave empty."""
    from assistant.ingest.pdf import read_pdf
    from assistant.ingest.word import read_docx

    if data.startswith(b"%PDF"):
        text, found = read_pdf(path, data)
    elif data.startswith(b"PK\x03\x04"):
        text, found = read_docx(path, data)
    else:
        raise MalformedSourceError(path, "neither a PDF nor a Word .docx file (the first bytes "
                                   "are not %PDF or a ZIP header)")
    merged = {**(meta or {}), **{k: v for k, v in found.items() if v}}
    first, _, rest = text.partition("\n")
    if not merged.get("title"):
        merged["title"], text = _split_title(text)
    elif rest.strip() and first.strip() == merged["title"].strip():
        text = rest  # the title printed as the first line is the title, once
    return make_document(path, rel, text, merged, doc_id=doc_id)


def _read_bytes(path: Path, max_bytes: int, *, binary: bool = False) -> bytes:
    size = path.stat().st_size
    if size > max_bytes:
        raise TooLargeError(
            path, f"file is {size / 2**20:.1f} MB, over the {max_bytes / 2**20:.0f} MB limit "
            "(raise ASSISTANT_MAX_FILE_MB, or split it into several files or a JSONL file)"
        )
    if size == 0:
        raise EmptySourceError(path, "file is empty")
    raw = path.read_bytes()
    if not binary:
        _check_not_binary(path, raw[:8192])
    return raw


def _check_not_binary(path: Path, head: bytes) -> None:
    for magic, what in _MAGIC.items():
        if head.startswith(magic):
            raise BinarySourceError(path, f"binary file ({what}), not text")
    if b"\x00" in head:
        raise BinarySourceError(path, "binary file (contains NUL bytes), not text")


def _decode(path: Path, raw: bytes, line: int | None = None) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise EncodingError(
            path, f"not valid UTF-8 (bad byte 0x{raw[exc.start]:02x} at offset {exc.start}); "
            "convert it to UTF-8", line=line
        ) from None


def make_document(path: str | Path, rel: str, text: str, meta: dict[str, Any], *, line: int | None = None,
              doc_id: str | None = None) -> Document:
    doc_id = doc_id or rel
    if has_control_chars(doc_id):
        # A line break or NUL in an id could never be fetched or deleted by it again.
        raise MalformedSourceError(path, f"document id {doc_id[:80]!r} contains a control "
                                   "character (such as a line break); ids must be printable",
                                   line=line)
    text = normalize_text(text)
    if not text:
        raise EmptySourceError(path, "no text to index", line=line)
    fields = {}
    for name in METADATA_FIELDS:
        value = meta.get(name)
        if value is None or value == "":
            continue
        if name == "published":
            fields[name] = parse_date(value, path=path, line=line)
        elif isinstance(value, (str, int, float)):
            fields[name] = normalize_text(str(value))
            if name == "url" and not is_http_url(fields[name]):
                # Citations link to it: a javascript: or data: URL must never reach a page.
                raise MalformedSourceError(path, f"url must start with http:// or https://, got "
                                           f"{fields[name][:60]!r}", line=line)
        else:
            raise MalformedSourceError(path, f"{name!r} must be a string, got {type(value).__name__}",
                                       line=line)
    return Document(doc_id=doc_id, source=rel, text=text, **fields)


def _split_title(text: str) -> tuple[str | None, str]:
    """A first line that reads as a headline becomes the title and leaves the body."""
    text = normalize_text(text)
    first, _, rest = text.partition("\n")
    if rest.strip() and looks_like_headline(first):
        return first.strip(), rest
    return None, text


def _from_text(path: Path, rel: str, text: str) -> Document:
    title, body = _split_title(text)
    return make_document(path, rel, body, {"title": title})


def _from_markdown(path: Path, rel: str, text: str) -> Document:
    import frontmatter
    from markdown_it import MarkdownIt

    try:
        post = frontmatter.loads(text)
    except Exception as exc:  # yaml raises many types; all mean "bad front matter"
        raise MalformedSourceError(path, f"invalid front matter: {str(exc).splitlines()[0]}") from None
    if not post.metadata and _UNCLOSED_FRONT_MATTER.match(text):
        raise MalformedSourceError(path, "front matter opened by '---' on line 1 is never closed "
                                   "(add a '---' line after its last field)")
    meta = dict(post.metadata)
    if "date" in meta and "published" not in meta:
        meta["published"] = meta["date"]
    lines: list[str] = []
    first_h1: str | None = None
    tokens = MarkdownIt("commonmark").parse(post.content)
    for i, tok in enumerate(tokens):
        if tok.type == "inline":
            rendered = _render_inline(tok.children or [])
            if i > 0 and tokens[i - 1].type == "heading_open" and tokens[i - 1].tag == "h1" \
                    and first_h1 is None and not lines:
                first_h1 = rendered
                continue
            lines.append(rendered)
        elif tok.type in ("fence", "code_block"):
            lines.append(tok.content)
    body = "\n".join(lines)
    if not meta.get("title"):
        if first_h1:
            meta["title"] = first_h1
        else:
            meta["title"], body = _split_title(body)
    elif first_h1 and first_h1 != meta["title"]:
        body = first_h1 + "\n" + body
    return make_document(path, rel, body, meta)


# "---" on the first line, one of the front matter fields next ("title:"), and no closing "---"
# line anywhere. A page that opens with a rule and then "Update: ..." is not front matter.
_UNCLOSED_FRONT_MATTER = re.compile(
    rf"\A\ufeff?-{{3,}}[ \t]*\r?\n[ \t]*(?:{'|'.join((*METADATA_FIELDS, 'date'))})[ \t]*:"
    r"(?![\s\S]*^-{3,}[ \t]*$)", re.MULTILINE | re.IGNORECASE)


def _render_inline(children: list) -> str:
    out = []
    for child in children:
        if child.type in ("text", "code_inline"):
            out.append(child.content)
        elif child.type == "softbreak":
            out.append(" ")
        elif child.type == "hardbreak":
            out.append("\n")
        elif child.type == "image":
            out.append(child.content or "")
    return "".join(out)


# HTML: elements whose content is never article text, and those that start a new line.
_DROP = ("script", "style", "noscript", "nav", "header", "footer", "aside", "form", "iframe",
         "svg", "template", "button", "select", "textarea", "object", "embed", "canvas", "dialog",
         "menu", "[hidden]", "[aria-hidden=true]", "[role=navigation]", "[role=banner]",
         "[role=contentinfo]", "[role=complementary]")
_BLOCK = {"p", "div", "section", "article", "main", "h1", "h2", "h3", "h4", "h5", "h6", "li",
          "ul", "ol", "dl", "dt", "dd", "blockquote", "pre", "table", "tr", "td", "th", "figure",
          "figcaption", "address", "hr", "body", "center", "caption", "details", "summary"}


def _from_html(path: Path, rel: str, text: str) -> Document:
    from selectolax.lexbor import LexborHTMLParser

    tree = LexborHTMLParser(text)

    def meta(*selectors: str) -> str | None:
        for sel in selectors:
            node = tree.css_first(sel)
            if node is not None:
                value = node.attributes.get("content") or node.attributes.get("href") \
                    or node.attributes.get("datetime")
                if value and value.strip():
                    return value.strip()
        return None

    title_node = tree.css_first("title")
    title = meta('meta[property="og:title"]', 'meta[name="twitter:title"]') or (
        title_node.text(strip=True) if title_node is not None else None)
    fields: dict[str, Any] = {
        "title": title,
        "author": meta('meta[name="author"]', 'meta[property="article:author"]'),
        "publisher": meta('meta[property="og:site_name"]', 'meta[name="publisher"]'),
        "url": meta('link[rel="canonical"]', 'meta[property="og:url"]'),
    }
    if fields["url"] and not is_http_url(fields["url"]):
        fields["url"] = None  # a relative canonical link names no original we can link to
    published = meta('meta[property="article:published_time"]', 'meta[name="date"]',
                     'meta[name="pubdate"]', 'meta[itemprop="datePublished"]', "time[datetime]")
    if published:
        try:
            fields["published"] = parse_date(published)
        except MalformedSourceError:
            pass  # a page's odd date format is no reason to refuse its text
    for sel in _DROP:
        for node in tree.css(sel):
            node.decompose()
    roots = tree.css("article") or tree.css("main") or ([tree.body] if tree.body else [])
    root = max(roots, key=lambda n: len(n.text() or ""), default=None)
    body = _html_text(root) if root is not None else ""
    if not normalize_text(body):
        raise EmptySourceError(path, "no readable text after removing scripts, styles and navigation")
    if not fields["title"]:
        h1 = tree.css_first("h1")
        fields["title"] = h1.text(strip=True) if h1 is not None else None
    # The headline usually repeats as the page's first line; keep it once, as the title.
    # Block elements each start a line; blank lines between them carry nothing.
    lines = [line for line in normalize_text(body).split("\n") if line]
    if fields["title"] and lines and lines[0].strip() == normalize_text(fields["title"]):
        lines = lines[1:]
    return make_document(path, rel, "\n".join(lines), fields)


def _html_text(root: Any) -> str:
    """Text of an element with a line break around every block element (no recursion limit)."""
    out: list[str] = []
    stack: list[Any] = [root]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            out.append(node)
            continue
        tag = node.tag
        if tag == "-text":
            out.append(node.text_content or "")
            continue
        if tag == "br":
            out.append("\n")
            continue
        if tag.startswith("-"):  # comments, doctype
            continue
        children = list(node.iter(include_text=True))
        if tag in _BLOCK:
            out.append("\n")
            stack.append("\n")
        stack.extend(reversed(children))
    return "".join(out)


def _read_jsonl(path: Path, rel: str, max_bytes: int) -> Iterator[Document | FactCheck | SourceError]:
    found = False
    with path.open("rb") as fh:
        _check_not_binary(path, fh.read(8192))
        fh.seek(0)
        for n, raw in enumerate(fh, start=1):
            if len(raw) > max_bytes:
                yield TooLargeError(path, f"record is {len(raw) / 2**20:.1f} MB, over the "
                                    f"{max_bytes / 2**20:.0f} MB limit", line=n)
                continue
            if not raw.strip():
                continue
            found = True
            try:
                yield _jsonl_record(path, rel, _decode(path, raw, line=n), n)
            except SourceError as exc:
                yield exc
    if not found:
        yield EmptySourceError(path, "no JSON records in file")


def from_record(record: dict[str, Any], *, source: str, max_chars: int) -> Document:
    """A Document from a JSON record with the JSONL fields (as sent to the HTTP API)."""
    doc_id = str(record.get("id") or "").strip()
    if not doc_id:
        raise MalformedSourceError(source, "record has no 'id'")
    text = record.get("text")
    if not isinstance(text, str):
        raise MalformedSourceError(source, "record has no 'text' string")
    if len(text) > max_chars:
        raise TooLargeError(source, f"text is {len(text)} characters, over the {max_chars} limit")
    return make_document(Path(source), source, text, record, doc_id=doc_id)


def _jsonl_record(path: Path, rel: str, line: str, n: int) -> Document:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise MalformedSourceError(path, f"invalid JSON ({exc.msg} at column {exc.colno})",
                                   line=n) from None
    if not isinstance(record, dict):
        raise MalformedSourceError(path, f"expected a JSON object, got {type(record).__name__}",
                                   line=n)
    doc_id = record.get("id", record.get("_id"))
    if doc_id is None or isinstance(doc_id, (dict, list, bool)) or str(doc_id).strip() == "":
        raise MalformedSourceError(path, "record has no 'id' (or '_id')", line=n)
    text = record.get("text")
    if not isinstance(text, str):
        raise MalformedSourceError(path, "record has no 'text' string", line=n)
    return make_document(path, rel, text, record, line=n, doc_id=str(doc_id).strip())
