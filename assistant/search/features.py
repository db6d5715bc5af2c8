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

from assistant.search.wording import QUESTION_WORDS, TOKEN, bare, places, tokens
from assistant.text import STOPWORDS

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

_MONEY = re.compile(r"[$£€¥]|\b(?:dollars?|pounds?|euros?|yen|yuan|rupees?|cents?)\b",
                    re.IGNORECASE)
_PERCENT = re.compile(r"%|\bper ?cent\b", re.IGNORECASE)
_HONORIFIC = re.compile(
    r"\b(?:Mr|Ms|Mrs|Dr|Sen|Rep|Gov|Gen|Lt|Sgt|Prof|Rev|St)\.?\s+[A-Z]|"
    r"\b(?:President|Prime Minister|Chancellor|King|Queen|Prince|Princess|Pope|Judge|Justice|"
    r"Senator|Governor|Mayor|Minister|Secretary|CEO|Coach|Chairman|Speaker)\s+[A-Z]")
_SAID = re.compile(r"\b(?:said|says|told|according to|announced|wrote|added)\b")


# A regular expression scans a sentence position by position (~3 us a pattern); a sentence
# without one of the words a pattern needs, found by substring search, skips it. The money words
# are matched in the lower-cased text: under IGNORECASE their letters match only themselves in
# either case (of all letters only "s" also matches "ſ", and none of these holds an "s").
_MONEY_WORDS = ("dollar", "pound", "euro", "yen", "yuan", "rupee", "cent")
_SAID_WORDS = ("said", "says", "told", "according to", "announced", "wrote", "added")


def _money(text: str, low: str) -> bool:
    if not ("$" in text or "£" in text or "€" in text or "¥" in text
            or any(w in low for w in _MONEY_WORDS)):
        return False
    return bool(_MONEY.search(text))


def _percent(text: str, low: str) -> bool:
    return ("%" in text or "cent" in low) and bool(_PERCENT.search(text))


def _said(text: str) -> bool:
    return any(w in text for w in _SAID_WORDS) and bool(_SAID.search(text))


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
    toks = TOKEN.findall(" ".join(question.split()))
    names = frozenset(bare(t) for i, t in enumerate(toks)
                      if t[0].isupper() and t.lower() not in STOPWORDS and i > 0
                      and t.lower() not in QUESTION_WORDS)
    return Shape(shape.kind, shape.is_question, shape.words, shape.head, names)


def _shape(question: str) -> Shape:
    q = " ".join(question.split())
    words = frozenset(t.lower() for t in TOKEN.findall(q))
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
    toks = tokens(text)
    named = shape.words
    names = shape.names
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
    for i, k in enumerate(toks):
        low = k.low
        if head is not None and k.plural_free == head:
            head_at.append(i)
        if low in named:  # no answer: the question names it
            if k.term:
                term_at.append(i)
                if k.bare in names:
                    name_at.append(i)
            run = 0
            continue
        if k.plain:
            run = 0
            continue
        if k.number:
            number = True
            if k.digit:
                answers.add(low)
                answer_at.append(i)
        year = year or k.year
        month = month or k.month
        if k.cap and i > 0:
            answers.add(low)
            answer_at.append(i)
            caps += 1
            runs += run == 0
            run += 1
            longest = max(longest, run)
        else:
            run = 0
        place = place or k.place
    if not place:  # two-word places ("south korea", "new york")
        gazetteer = places()
        for a, b in zip(toks, toks[1:], strict=False):
            if a.opener and f"{a.low} {b.low}" in gazetteer and not (a.low in named
                                                                    and b.low in named):
                place = True
                break
    low_text = text.lower()
    return Signals(
        novel_caps=caps, novel_name=longest >= 2, novel_place=place, novel_number=number,
        year=year, month=month, money=_money(text, low_text),
        percent=_percent(text, low_text), honorific=bool(_HONORIFIC.search(text)),
        said=_said(text), quote_marks=any(c in text for c in "\"“”"),
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


def day_number(published: str | None) -> int | None:
    """The day number of an ISO date (its first 10 characters), or None."""
    try:
        return date.fromisoformat(published[:10]).toordinal() if published else None
    except ValueError:
        return None
