"""Reading the text layer and metadata of a PDF (pypdf)."""

from __future__ import annotations

import io
import re
from pathlib import Path

from assistant.errors import EmptySourceError, MalformedSourceError

WRAPPED_LINE_CHARS = 40  # body text set in a column wraps at 50-90 characters; headings are shorter
_HYPHEN_BREAK = re.compile(r"(?<=[a-z])-[ \t]*\n[ \t]*(?=[a-z])")


def read_pdf(path: str | Path, data: bytes) -> tuple[str, dict[str, str | None]]:
    """The text of a PDF (pages joined, lines broken mid-sentence rejoined) and its title and
    author."""
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise MalformedSourceError(path, "the PDF is encrypted; save an unencrypted copy")
        pages = [page.extract_text() or "" for page in reader.pages]
        info = reader.metadata or {}
    except (PdfReadError, ValueError, KeyError, TypeError) as exc:
        # pypdf raises several kinds for a damaged file; all mean the same to the user.
        raise MalformedSourceError(path, f"not a readable PDF ({exc})") from None
    text = "\n\n".join(p.strip() for p in pages if p.strip())
    if not text.strip():
        raise EmptySourceError(path, "the PDF has no text layer (a scan? run OCR on it first)")
    # PDF text keeps the printed line breaks; a reader quoting a sentence wants it whole.
    text = _join_lines(_HYPHEN_BREAK.sub("", text))
    meta = {"title": _clean(info.get("/Title")), "author": _clean(info.get("/Author"))}
    return text, meta


def _join_lines(text: str) -> str:
    """Rejoin lines a page broke mid-sentence: the line goes on in lower case, or it is a long
    line of body text ending in a word or a comma (a short one is a heading, kept)."""
    out: list[str] = []
    for line in text.split("\n"):
        line = line.strip()
        prev = out[-1] if out else ""
        if prev and line and (
                (line[0].islower() or line[0].isdigit()) and prev[-1] not in ".!?:"
                or len(prev) >= WRAPPED_LINE_CHARS and (prev[-1].isalpha() or prev[-1] == ",")):
            out[-1] = f"{prev} {line}"
        else:
            out.append(line)
    return "\n".join(out)


def _clean(value: object) -> str | None:
    text = str(value).strip() if value is not None else ""
    # Producers often leave "untitled" or a file name in the title field.
    if not text or text.lower() in {"untitled", "unknown"} or re.search(r"\.\w{2,4}$", text):
        return None
    return text
