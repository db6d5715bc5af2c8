"""What a question asks for, and whether a sentence carries it: the features the sentence
ranker reads.

Cheap by design (regular expressions and a short gazetteer, no tagger at query time): a
question's shape (who, when, where, how many, which country, yes/no …) and, for each candidate
sentence, lexical overlap, proximity, restatement and the kinds of answer it holds that the
question does not name (people, places, dates, numbers, other names).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path

from assistant.text import QUESTION_FILLER, STOPWORDS, stems

PLACES = Path(__file__).resolve().parent.parent / "data" / "places.txt"

# The kinds of answer a question can ask for.
KINDS = ("person", "place", "date", "number", "org", "thing", "yesno", "explain")

_WH = re.compile(
    r"\b(?:(how\s+(?:many|much|old|long|far|big|tall|large|often))|(who|whom|whose)|(when)|"
    r"(where)|(why)|(how)|(which|what)(?:\s+([a-z\u2019'-]+))?(?:\s+([a-z\u2019'-]+))?)\b",
    re.IGNORECASE)
_YESNO = re.compile(r"^(?:true or false|is|are|was|were|do|does|did|has|have|had|can|could|"
                    r"will|would|should|may|might)\b", re.IGNORECASE)
_SENT_END = re.compile(r"(?<=[.?!])\s+(?=[A-Z\"“])")

_PLACE_NOUNS = frozenset(
    "country countries nation nations state states city cities town region island islands "
    "continent capital province county part area nationality border sea river place "
    "territory neighborhood".split())
_PERSON_NOUNS = frozenset(
    "person man woman men women player players singer rapper actor actress president leader "
    "ceo senator judge lawmaker politician minister king queen prince princess artist "
    "musician author writer athlete coach quarterback celebrity founder governor star "
    "candidate director official member host comedian billionaire pope chef designer "
    "journalist reporter astronaut scientist lawyer suspect victim mayor chancellor "
    "boxer golfer tennis footballer pitcher model influencer officer general "
    "representative speaker secretary justice character".split())
_ORG_NOUNS = frozenset(
    "company companies team teams airline airlines chain group brand firm bank retailer "
    "network party agency organization organisation university college school club league "
    "band app platform carrier automaker maker manufacturer store restaurant studio magazine "
    "newspaper publication channel service startup giant corporation business agency "
    "charity union tech streamer website outlet".split())
_DATE_NOUNS = frozenset("year years date day month week decade century season time".split())
_NUMBER_NOUNS = frozenset("percentage percent number amount age price cost share rate "
                          "total sum score".split())

_TOKEN = re.compile(r"[\w\u2019'’.-]*\w|[$£€¥%]")
_NUMBER = re.compile(r"^(?:\d[\d,.]*|\d+(?:st|nd|rd|th)|[$£€¥%])$")
_NUMBER_WORDS = frozenset(
    "one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy "
    "eighty ninety hundred thousand million billion trillion dozen dozens half quarter "
    "first second third fourth fifth".split())
_MONTHS = frozenset(
    "january february march april may june july august september october november december "
    "jan feb mar apr jun jul aug sep sept oct nov dec monday tuesday wednesday thursday "
    "friday saturday sunday yesterday today tomorrow".split())
_YEAR = re.compile(r"^(?:1[5-9]|20)\d\d(?:s)?$")
_SIGNS = frozenset("$£€¥%")  # the tokens _NUMBER matches that do not start with a digit
_MONEY = re.compile(r"[$£€¥]|\b(?:dollars?|pounds?|euros?|yen|yuan|rupees?|cents?)\b",
                    re.IGNORECASE)
_PERCENT = re.compile(r"%|\bper ?cent\b", re.IGNORECASE)
_HONORIFIC = re.compile(
    r"\b(?:Mr|Ms|Mrs|Dr|Sen|Rep|Gov|Gen|Lt|Sgt|Prof|Rev|St)\.?\s+[A-Z]|"
    r"\b(?:President|Prime Minister|Chancellor|King|Queen|Prince|Princess|Pope|Judge|Justice|"
    r"Senator|Governor|Mayor|Minister|Secretary|CEO|Coach|Chairman|Speaker)\s+[A-Z]")
_SAID = re.compile(r"\b(?:said|says|told|according to|announced|wrote|added)\b")

# The feature vector, in the order the ranker was trained on.
NAMES = (
    "cos", "cos_gap", "cos_rank", "coverage", "coverage_gap", "coverage_count", "title_coverage",
    "missing_idf", "density", "restatement", "novel_content", "chunk_rank", "chunk_score",
    "dense_rank", "bm25_rank", "doc_chunks", "position", "lead", "words", "has_section",
    "novel_caps", "novel_name", "novel_place", "novel_number", "year", "month", "money",
    "percent", "honorific", "said", "quote_marks", "kind_match", "is_question",
    *(f"kind_{k}" for k in KINDS),
    "window_coverage", "neighbor_cos", "support_docs", "support_rank", "title_answer",
    "doc_rank", "doc_cos", "doc_coverage", "age_days", "names_missing", "names_missing_window",
    "answer_gap", "name_gap", "head_gap", "novel_runs",
)

# Token distance reported when a sentence has no pair to measure (no answer, or no term).
FAR = 40


@lru_cache(maxsize=1)
def places() -> frozenset[str]:
    """Lower-cased names of countries, their people, US states and large cities."""
    text = PLACES.read_text(encoding="utf-8")
    return frozenset(line.strip().lower() for line in text.splitlines()
                     if line.strip() and not line.startswith("#"))


@dataclass(frozen=True, slots=True)
class Shape:
    """What a question asks for: its kind, and the words it already names."""

    kind: str
    is_question: bool
    words: frozenset[str]  # lower-cased tokens of the question
    head: str | None = None  # the noun after which/what ("country"), when there is one
    names: frozenset[str] = frozenset()  # lower-cased capitalised words it names ("india")


def question_shape(question: str) -> Shape:
    """The kind of answer a question wants, read from its last sentence's wh-phrase."""
    shape = _shape(question)
    toks = _TOKEN.findall(" ".join(question.split()))
    names = frozenset(_bare(t) for i, t in enumerate(toks)
                      if t[0].isupper() and t.lower() not in STOPWORDS and i > 0
                      and t.lower() not in _QUESTION_WORDS)
    return Shape(shape.kind, shape.is_question, shape.words, shape.head, names)


def _bare(token: str) -> str:
    """A token lower-cased, without a possessive ("India's" → "india")."""
    low = token.lower()
    return low[:-2] if low.endswith(("'s", "\u2019s")) else low


# Per text, memoised: the same sentences and titles come back question after question (the
# archive's popular stories), and tokenising and stemming them was most of a search's features.
_TEXT_MEMO = 16384


@lru_cache(maxsize=_TEXT_MEMO)
def bare_tokens(text: str) -> frozenset[str]:
    """The lower-cased tokens of a text, possessives dropped (for matching names)."""
    return frozenset(_bare(t) for t in _TOKEN.findall(text))


_QUESTION_WORDS = frozenset("who whom whose when where why how which what is are was were do "
                            "does did true false".split())


def _shape(question: str) -> Shape:
    q = " ".join(question.split())
    words = frozenset(t.lower() for t in _TOKEN.findall(q))
    parts = _SENT_END.split(q)
    last = parts[-1] if parts else q
    is_question = q.endswith("?") or bool(_WH.search(last)) or bool(_YESNO.match(last))
    if _YESNO.match(last):
        return Shape("yesno", is_question, words)
    m = _WH.search(last)
    if m is None:
        return Shape("thing", is_question, words)
    how_x, who, when, where, why, how, which, n1, n2 = m.groups()
    if how_x:
        return Shape("number", True, words)
    if who:
        return Shape("person", True, words)
    if when:
        return Shape("date", True, words)
    if where:
        return Shape("place", True, words)
    if why or how:
        return Shape("explain", True, words)
    # which/what + a head noun, skipping one adjective or determiner ("which European country")
    head = None
    for n in (n1, n2):
        if n is None:
            break
        n = n.lower()
        if n in _PLACE_NOUNS | _PERSON_NOUNS | _ORG_NOUNS | _DATE_NOUNS | _NUMBER_NOUNS:
            head = n
            break
        if n in STOPWORDS and n not in ("is", "was", "are", "were", "did", "does", "do"):
            continue
        if n in ("is", "was", "are", "were", "did", "does", "do", "has", "have", "will"):
            break
    kind = ("place" if head in _PLACE_NOUNS else "person" if head in _PERSON_NOUNS else
            "org" if head in _ORG_NOUNS else "date" if head in _DATE_NOUNS else
            "number" if head in _NUMBER_NOUNS else "thing")
    return Shape(kind, True, words, head)


@dataclass(slots=True)
class Signals:
    """What a sentence holds that the question does not name."""

    novel_caps: int
    novel_name: bool
    novel_place: bool
    novel_number: bool
    year: bool
    month: bool
    money: bool
    percent: bool
    honorific: bool
    said: bool
    quote_marks: bool
    words: int
    answers: frozenset[str]  # lower-cased names and numbers it gives that the question does not
    # How close a candidate answer sits to what the question names, in tokens (FAR: no pair).
    # A sentence that states the answer usually puts it next to the question's own terms
    # ("Buffalo Bills safety Damar Hamlin"); one that merely names other people elsewhere
    # does not.
    answer_gap: int = FAR  # to any of the question's content words
    name_gap: int = FAR  # to one of the question's names
    head_gap: int = FAR  # to the noun the question asks for ("which team" → "team")
    novel_runs: int = 0  # distinct runs of new capitalised words: rival candidate answers


def signals(text: str, shape: Shape) -> Signals:
    """The answer kinds a sentence carries beyond the question's own words."""
    toks = _TOKEN.findall(text)
    named = shape.words
    gazetteer = places()
    caps = 0
    run = longest = 0
    place = number = year = month = False
    answers: set[str] = set()
    answer_at: list[int] = []  # positions of novel names and numbers
    term_at: list[int] = []  # positions of the question's content words
    name_at: list[int] = []
    head_at: list[int] = []
    head = shape.head.rstrip("s") if shape.head else None  # "teams" asks for a "team"
    runs = 0
    for i, t in enumerate(toks):
        low = t.lower()
        novel = low not in named
        if not novel and low not in STOPWORDS and low not in _QUESTION_WORDS:
            term_at.append(i)
            if _bare(t) in shape.names:
                name_at.append(i)
        if head is not None and low.rstrip("s") == head:
            head_at.append(i)
        # Both patterns need a digit (or a currency sign) first: most tokens skip the regex.
        digit = t[0].isdigit()
        if ((digit or t in _SIGNS) and _NUMBER.match(t)) or low in _NUMBER_WORDS:
            number = number or novel
            if novel and digit:
                answers.add(low)
                answer_at.append(i)
        if digit and _YEAR.match(t):
            year = year or novel
        if low in _MONTHS and (t[0].isupper() or low in ("yesterday", "today", "tomorrow")):
            month = month or novel
        if t[0].isupper() and novel and low not in STOPWORDS and (i > 0):
            answers.add(low)
            answer_at.append(i)
            caps += 1
            runs += run == 0
            run += 1
            longest = max(longest, run)
        else:
            run = 0
        if novel and low in gazetteer:
            place = True
    if not place and gazetteer:  # two-word places ("south korea", "new york")
        lows = [t.lower() for t in toks]
        for a, b in zip(lows, lows[1:], strict=False):
            pair = f"{a} {b}"
            if pair in gazetteer and not (a in named and b in named):
                place = True
                break
    return Signals(
        novel_caps=caps, novel_name=longest >= 2, novel_place=place, novel_number=number,
        year=year, month=month, money=bool(_MONEY.search(text)),
        percent=bool(_PERCENT.search(text)), honorific=bool(_HONORIFIC.search(text)),
        said=bool(_SAID.search(text)), quote_marks=any(c in text for c in "\"“”"),
        words=len(toks), answers=frozenset(answers), answer_gap=_gap(answer_at, term_at),
        name_gap=_gap(answer_at, name_at), head_gap=_gap(answer_at, head_at), novel_runs=runs)


def _gap(a: list[int], b: list[int]) -> int:
    """The least distance between a position in `a` and one in `b` (both sorted), or FAR."""
    best = FAR
    i = j = 0
    while i < len(a) and j < len(b):
        best = min(best, abs(a[i] - b[j]))
        if a[i] < b[j]:
            i += 1
        else:
            j += 1
    return best


def kind_match(shape: Shape, s: Signals) -> float:
    """1 when the sentence holds an answer of the kind the question asks for, else 0."""
    k = shape.kind
    if k == "person":
        return float(s.novel_name or s.honorific)
    if k == "place":
        return float(s.novel_place)
    if k == "date":
        return float(s.year or s.month)
    if k == "number":
        return float(s.novel_number or s.money or s.percent)
    if k in ("org", "thing"):
        return float(s.novel_caps > 0)
    return 0.0


def content_words(text: str) -> list[str]:
    """Lower-cased content tokens (numbers kept), in order."""
    return [t for t in (w.lower() for w in _TOKEN.findall(text))
            if t not in STOPWORDS and t not in QUESTION_FILLER and (len(t) > 1 or t.isdigit())]


def density(sent_stems: list[str], matched: set[str]) -> float:
    """How close together the question's matched terms sit: matched / (span they cover)."""
    if len(matched) < 2:
        return float(len(matched))
    pos = [i for i, st in enumerate(sent_stems) if st in matched]
    # The shortest window holding every matched stem once (two pointers over positions).
    need = len(matched)
    best = len(sent_stems)
    counts: dict[str, int] = {}
    have = 0
    lo = 0
    for hi in range(len(pos)):
        st = sent_stems[pos[hi]]
        counts[st] = counts.get(st, 0) + 1
        if counts[st] == 1:
            have += 1
        while have == need:
            best = min(best, pos[hi] - pos[lo] + 1)
            s0 = sent_stems[pos[lo]]
            counts[s0] -= 1
            if counts[s0] == 0:
                have -= 1
            lo += 1
    return need / best if best else 0.0


def stem_set(text: str) -> list[str]:
    """Stems of a text's content words, in order."""
    return list(_stems_in_order(text))


@lru_cache(maxsize=_TEXT_MEMO)
def _stems_in_order(text: str) -> tuple[str, ...]:
    return tuple(stems(content_words(text)))


def day_number(published: str | None) -> int | None:
    """The day number of an ISO date (its first 10 characters), or None."""
    try:
        return date.fromisoformat(published[:10]).toordinal() if published else None
    except ValueError:
        return None
