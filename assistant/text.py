"""Plain-text structure: normalisation, headlines, section headings and sentence spans.

Everything here works on the stored, normalised text, and every span is a (start, end) pair of
character offsets into it.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from dataclasses import dataclass

import sentencex

from assistant.errors import QueryError

# Very common English words carry no evidence and make OR queries match every chunk.
STOPWORDS = frozenset(
    "a an and are as at be been but by can could did do does for from had has have how i if in "
    "into is it its may might of on or shall should so such than that the their them then there "
    "these they this those to was we were what when where which who whom whose why will with "
    "would you your about".split()
)
# Words that shape a question but carry no evidence ("How much...", "What kind of...").
QUESTION_FILLER = frozenset(
    "much many kind kinds type types sort exactly please tell me us know according said say "
    "says do does did".split()
)
_TOKEN = re.compile(r"\w+", re.UNICODE)

# Horizontal whitespace other than a plain space (NBSP, thin spaces, tabs, ...) becomes a space.
_HSPACE = re.compile(r"[^\S\n]+")
_MANY_BLANK_LINES = re.compile(r"\n{3,}")
# Zero-width and other invisible format characters that only confuse matching.
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"), None)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_ANY_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_TERMINAL = tuple(".!?;:,")
_LINE = re.compile(r"[^\n]+")
_WORD = re.compile(r"\S+")
# A "sentence" longer than this many words is no sentence a reader would quote (a feed with no
# punctuation, a table flattened into one line): it is cut into runs of at most this many words.
MAX_SENTENCE_WORDS = 100
# A run of characters with no space longer than this (base64, a minified script) counts as
# several words and is cut at these lengths, so that every span stays bounded.
LONG_WORD_CHARS = 100


def normalize_text(text: str) -> str:
    """Unicode NFC, one space between words, lines trimmed, at most one blank line in a row."""
    text = unicodedata.normalize("NFC", text)
    text = text.replace("\r\n", "\n").replace("\r", "\n").translate(_INVISIBLE)
    text = text.replace("\u2028", "\n").replace("\u2029", "\n\n").replace("\x0c", "\n")
    text = _CONTROL.sub("", text)
    lines = [_HSPACE.sub(" ", line).strip() for line in text.split("\n")]
    return _MANY_BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def bounded_input(value: object, *, what: str, limit: int, advice: str = "") -> str:
    """`value` stripped, or a QueryError: "the <what> is empty", or over `limit` characters
    (with `advice` on what to do instead)."""
    if not isinstance(value, str) or not value.strip():
        raise QueryError(f"the {what} is empty")
    if len(value) > limit:
        raise QueryError(f"the {what} is {len(value)} characters long; the limit is {limit}"
                         f"{advice}")
    return value.strip()


def is_http_url(value: object) -> bool:
    """True for an absolute http(s) URL: the only kind a citation may link to (never
    javascript:, data: or a relative path)."""
    return isinstance(value, str) and value.strip().lower().startswith(("http://", "https://"))


def has_control_chars(value: str) -> bool:
    """True when a string holds a control character (a line break, NUL, ESC, ...)."""
    return bool(_ANY_CONTROL.search(value))


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


def fallback_title(text: str, *, max_words: int = 10) -> str:
    """A readable title for a text that has none: the first words of its first line."""
    words = text.strip().split("\n", 1)[0].split()
    title = " ".join(words[:max_words]).rstrip(",;:-–—")
    return title + ("…" if len(words) > max_words else "")


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


def word_spans(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """The (start, end) offsets of the words in `text[start:end]`; a word longer than
    LONG_WORD_CHARS is cut into pieces of that length, each counting as one word."""
    end = len(text) if end is None else end
    out: list[tuple[int, int]] = []
    for m in _WORD.finditer(text, start, end):
        s, e = m.span()
        while e - s > LONG_WORD_CHARS:
            out.append((s, s + LONG_WORD_CHARS))
            s += LONG_WORD_CHARS
        out.append((s, e))
    return out


def word_runs(text: str, start: int, end: int, max_words: int) -> list[tuple[int, int]]:
    """`text[start:end]` cut at word boundaries into consecutive runs of at most `max_words`
    words (as `word_spans` counts them); each run starts and ends on a word."""
    if max_words < 1:
        raise ValueError(f"max_words must be at least 1, got {max_words}")
    words = word_spans(text, start, end)
    return [(words[i][0], words[min(i + max_words, len(words)) - 1][1])
            for i in range(0, len(words), max_words)]


def sentence_spans(text: str, start: int = 0, end: int | None = None, *,
                   max_words: int = MAX_SENTENCE_WORDS) -> list[tuple[int, int]]:
    """Sentence (start, end) offsets within `text[start:end]`, trailing whitespace excluded.

    Lines are split first (a line break always ends a sentence in normalised text), then each
    line is segmented by sentencex, which knows abbreviations and initials ("U.S.", "G.").
    A sentence of more than `max_words` words is cut into runs of at most that many.
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
            s, e = m.start() + at, m.start() + at + len(piece)
            # Fewer than 2·max_words characters cannot hold more than max_words words.
            if e - s > 2 * max_words and len(word_spans(text, s, e)) > max_words:
                spans.extend(word_runs(text, s, e, max_words))
            else:
                spans.append((s, e))
            cursor = at + len(piece)
        if cursor < len(line.rstrip()) and not spans:  # pragma: no cover - defensive
            spans.append((m.start(), m.end()))
    return spans


def sentence_text(section: str | None, text: str) -> str:
    """What the model sees for a sentence: its section heading gives it context."""
    return f"{section}: {text}" if section else text


def content_terms(text: str) -> list[str]:
    """Lower-cased content words of a text (no stop words, no question filler), in order."""
    return [t for t in _TOKEN.findall(text.lower())
            if t not in STOPWORDS and t not in QUESTION_FILLER and len(t) > 1]


_SKIP = STOPWORDS | QUESTION_FILLER


def content_stems(text: str) -> set[str]:
    """The distinct stems of a text's content words: `set(stems(content_terms(text)))`, with
    each word stemmed once however often it occurs."""
    return set(stems([t for t in set(_TOKEN.findall(text.lower()))
                      if len(t) > 1 and t not in _SKIP]))


_local = threading.local()


def _stemmer():  # noqa: ANN202 - snowballstemmer has no types
    """This thread's stemmer: a Snowball stemmer keeps its word in flight on the instance, so
    one shared between request threads garbles stems or raises mid-word."""
    stemmer = getattr(_local, "stemmer", None)
    if stemmer is None:
        import snowballstemmer

        stemmer = _local.stemmer = snowballstemmer.stemmer("english")
    return stemmer


_STEMS: dict[str, str] = {}  # word → stem: the pure-Python stemmer costs ~5 µs a word
_STEMS_MAX = 500_000


def stems(words: list[str]) -> list[str]:
    """English Snowball stems, so that "supplied" meets "supplies" (memoised per word)."""
    known = _STEMS
    out = [known.get(w) for w in words]
    missing = [w for w, st in zip(words, out, strict=True) if st is None]
    if missing:
        new = dict(zip(missing, _stemmer().stemWords(missing), strict=True))
        if len(known) > _STEMS_MAX:  # a bounded memo: start afresh rather than grow forever
            known.clear()
        known.update(new)
        out = [st if st is not None else new[w] for w, st in zip(words, out, strict=True)]
    return out  # type: ignore[return-value]
