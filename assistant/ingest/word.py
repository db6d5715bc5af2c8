"""Reading the paragraphs and core properties of a Word .docx file (python-docx)."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

from assistant.errors import EmptySourceError, MalformedSourceError


def read_docx(path: str | Path, data: bytes) -> tuple[str, dict[str, str | None]]:
    """The text of a .docx (one paragraph a line, table cells included) and its title and
    author; a first paragraph styled Title or Heading 1 is the title when the properties name
    none."""
    import docx
    from docx.opc.exceptions import PackageNotFoundError

    try:
        document = docx.Document(io.BytesIO(data))
    except (PackageNotFoundError, zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise MalformedSourceError(path, f"not a readable Word .docx file ({exc})") from None
    lines: list[tuple[str, str]] = []
    for para in document.paragraphs:
        if para.text.strip():
            lines.append((para.text.strip(), (para.style.name if para.style is not None else "")))
    for table in document.tables:
        for row in table.rows:
            cells = dict.fromkeys(c.text.strip() for c in row.cells if c.text.strip())
            if cells:
                lines.append((" | ".join(cells), ""))
    props = document.core_properties
    title = (props.title or "").strip() or None
    if title is None and lines and lines[0][1] in ("Title", "Heading 1") and len(lines) > 1:
        title = lines.pop(0)[0]
    text = "\n".join(t for t, _ in lines)
    if not text.strip():
        raise EmptySourceError(path, "the Word file has no text")
    return text, {"title": title, "author": (props.author or "").strip() or None}
