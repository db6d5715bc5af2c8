"""A text's words for the sentence ranker: each distinct token read once into a vocabulary of
what it is (lower-cased, stemmed, a number, a year, a month, a capitalised word, a place), and
each text once into a tuple of those entries.

An answer's features read ~120 candidate sentences, each once for its stems, once for its
names and once for what it holds beyond the question; tokenising and classifying every token
each time was a third of an answer's CPU. Looking the token up instead costs the same however
rarely the sentence comes back, so it pays where a memo of whole sentences cannot (an archive
has more sentences than any memo holds).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from assistant.text import QUESTION_FILLER, STOPWORDS, stems

PLACES = Path(__file__).resolve().parent.parent / "data" / "places.txt"

TOKEN = re.compile(r"[\w\u2019'’.-]*\w|[$£€¥%]")
_NUMBER = re.compile(r"^(?:\d[\d,.]*|\d+(?:st|nd|rd|th)|[$£€¥%])$")
NUMBER_WORDS = frozenset(
    "one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy "
    "eighty ninety hundred thousand million billion trillion dozen dozens half quarter "
    "first second third fourth fifth".split())
MONTHS = frozenset(
    "january february march april may june july august september october november december "
    "jan feb mar apr jun jul aug sep sept oct nov dec monday tuesday wednesday thursday "
    "friday saturday sunday yesterday today tomorrow".split())
_YEAR = re.compile(r"^(?:1[5-9]|20)\d\d(?:s)?$")
_SIGNS = frozenset("$£€¥%")  # the tokens _NUMBER matches that do not start with a digit
QUESTION_WORDS = frozenset("who whom whose when where why how which what is are was were do "
                           "does did true false".split())

# Per text, memoised: the same sentences and titles come back question after question (the
# archive's popular stories).
TEXT_MEMO = 16384
# Distinct tokens kept; past it the vocabulary starts afresh rather than grow forever.
VOCABULARY_MAX = 500_000


@lru_cache(maxsize=1)
def places() -> frozenset[str]:
    """Lower-cased names of countries, their people, US states and large cities."""
    text = PLACES.read_text(encoding="utf-8")
    return frozenset(line.strip().lower() for line in text.splitlines()
                     if line.strip() and not line.startswith("#"))


@lru_cache(maxsize=1)
def place_openers() -> frozenset[str]:
    """The first words of the two-word places ("south" of "south korea")."""
    return frozenset(p.split(" ", 1)[0] for p in places() if " " in p)


def bare(token: str) -> str:
    """A token lower-cased, without a possessive ("India's" → "india")."""
    low = token.lower()
    return low[:-2] if low.endswith(("'s", "\u2019s")) else low


@dataclass(frozen=True, slots=True)
class Token:
    """What one token (as written) is, for every text it occurs in."""

    low: str
    bare: str  # lower-cased, possessive dropped
    term: bool  # neither a stop word nor a question word: it can be one of a question's terms
    plural_free: str  # lower-cased, trailing "s" dropped ("teams" is a "team")
    number: bool  # a figure, a currency sign or a number word
    digit: bool  # starts with a digit
    year: bool
    month: bool  # a month or weekday written capitalised, or yesterday/today/tomorrow
    cap: bool  # capitalised and no stop word: a name, or part of one
    place: bool  # in the gazetteer
    opener: bool  # can begin a two-word place
    # Its stem when it is a content word (no stop word or question filler; one letter only
    # when a digit), else None.
    stem: str | None
    # True when none of the flags a sentence's signals read is set: most tokens.
    plain: bool


_VOCABULARY: dict[str, Token] = {}


def token(t: str) -> Token:
    """The vocabulary's entry for a token as written (made on first sight)."""
    entry = _VOCABULARY.get(t)
    if entry is None:
        entry = _VOCABULARY[t] = _make(t)
        if len(_VOCABULARY) > VOCABULARY_MAX:  # a bounded vocabulary: start afresh
            _VOCABULARY.clear()
            _VOCABULARY[t] = entry
    return entry


def _make(t: str) -> Token:
    low = t.lower()
    digit = t[0].isdigit()
    number = bool(((digit or t in _SIGNS) and _NUMBER.match(t)) or low in NUMBER_WORDS)
    year = bool(digit and _YEAR.match(t))
    month = low in MONTHS and (t[0].isupper() or low in ("yesterday", "today", "tomorrow"))
    cap = t[0].isupper() and low not in STOPWORDS
    place = low in places()
    content = (low not in STOPWORDS and low not in QUESTION_FILLER
               and (len(low) > 1 or low.isdigit()))
    return Token(low=low, bare=bare(t), term=low not in STOPWORDS and low not in QUESTION_WORDS,
                 plural_free=low.rstrip("s"), number=number, digit=digit, year=year,
                 month=month, cap=cap, place=place, opener=low in place_openers(),
                 stem=stems([low])[0] if content else None,
                 plain=not (number or year or month or cap or place))


@lru_cache(maxsize=TEXT_MEMO)
def tokens(text: str) -> tuple[Token, ...]:
    """A text's tokens, in order, as vocabulary entries."""
    get = _VOCABULARY.get
    return tuple(get(t) or token(t) for t in TOKEN.findall(text))


def bare_tokens(text: str) -> frozenset[str]:
    """The lower-cased tokens of a text, possessives dropped (for matching names)."""
    return frozenset(k.bare for k in tokens(text))


def stem_set(text: str) -> list[str]:
    """Stems of a text's content words, in order."""
    return [k.stem for k in tokens(text) if k.stem is not None]
