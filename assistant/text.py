"""Plain-text structure: normalisation, headlines, section headings and sentence spans.

Everything here works on the stored, normalised text, and every span is a (start, end) pair of
character offsets into it.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import sentencex

# Horizontal whitespace other than a plain space (NBSP, thin spaces, tabs, ...) becomes a space.
_HSPACE = re.compile(r"[^\S\n]+")
_MANY_BLANK_LINES = re.compile(r"\n{3,}")
# Zero-width and other invisible format characters that only confuse matching.
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"), None)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_TERMINAL = tuple(".!?;:,")
_LINE = re.compile(r"[^\n]+")


def normalize_text(text: str) -> str:
    """Unicode NFC, one space between words, lines trimmed, at most one blank line in a row."""
    text = unicodedata.normalize("NFC", text)
    text = text.replace("\r\n", "\n").replace("\r", "\n").translate(_INVISIBLE)
    text = text.replace("\u2028", "\n").replace("\u2029", "\n\n").replace("\x0c", "\n")
    text = _CONTROL.sub("", text)
    lines = [_HSPACE.sub(" ", line).strip() for line in text.split("\n")]
    return _MANY_BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def word_count(text: str) -> int:
    """Whitespace-separated words."""
    return len(text.split())


def looks_like_headline(line: str) -> bool:
    """True for a first line that reads as a title: short, capitalised, no closing full stop."""
    line = line.strip()
    words = line.split()
    if not words or len(words) > 20 or len(line) > 200:
        return False
    if line.endswith((".", ",", ";", ":")):
        return False
    return line[0].isupper() or line[0].isdigit() or line[0] in "\"'“‘"


def looks_like_heading(line: str, next_line: str | None) -> bool:
    """True for a short label line (`IRAN`, `South Africa`) that introduces the text after it."""
    line = line.strip()
    if not next_line or not line:
        return False
    words = line.split()
    if len(words) > 8 or len(line) > 80 or line.endswith(_TERMINAL) or line.endswith(("\"", "”")):
        return False
    if not (line[0].isupper() or line[0].isdigit()):
        return False
    # A heading introduces body text: the next line must be longer prose, not another fragment.
    nxt = next_line.strip()
    return word_count(nxt) > len(words) + 3 or nxt.endswith((".", "!", "?", "\"", "”"))


@dataclass(frozen=True, slots=True)
class Block:
    """A line of the text: either a heading or a paragraph, with its offsets."""

    start: int
    end: int
    is_heading: bool


def blocks(text: str) -> list[Block]:
    """Split normalised text into lines, marking those that read as section headings."""
    lines = [(m.start(), m.end()) for m in _LINE.finditer(text)]
    out = []
    for i, (start, end) in enumerate(lines):
        nxt = text[lines[i + 1][0] : lines[i + 1][1]] if i + 1 < len(lines) else None
        out.append(Block(start, end, looks_like_heading(text[start:end], nxt)))
    return out


def sentence_spans(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Sentence (start, end) offsets within `text[start:end]`, trailing whitespace excluded.

    Lines are split first (a line break always ends a sentence in normalised text), then each
    line is segmented by sentencex, which knows abbreviations and initials ("U.S.", "G.").
    """
    end = len(text) if end is None else end
    spans: list[tuple[int, int]] = []
    for m in _LINE.finditer(text, start, end):
        line = m.group()
        cursor = 0
        for piece in sentencex.segment("en", line):
            piece = piece.strip()
            if not piece:
                continue
            # Locate each piece by search, not by the library's offsets: exact by construction.
            at = line.find(piece, cursor)
            if at < 0:  # pragma: no cover - sentencex returns slices of its input
                at = cursor
                piece = line[cursor:].strip()
            spans.append((m.start() + at, m.start() + at + len(piece)))
            cursor = at + len(piece)
        if cursor < len(line.rstrip()) and not spans:  # pragma: no cover - defensive
            spans.append((m.start(), m.end()))
    return spans
