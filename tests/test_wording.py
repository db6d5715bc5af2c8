"""The token vocabulary the sentence ranker's features read (no model needed): each token's
entry, the bound on the vocabulary, and `signals` giving what it gave when it classified every
token of every sentence afresh (a direct implementation kept here as the reference)."""

import itertools
import re

import pytest

from assistant.search import features, wording
from assistant.search.features import FAR, Signals, question_shape, signals
from assistant.search.wording import (
    MONTHS,
    NUMBER_WORDS,
    QUESTION_WORDS,
    TOKEN,
    bare,
    bare_tokens,
    places,
    stem_set,
    token,
    tokens,
)
from assistant.text import QUESTION_FILLER, STOPWORDS, stems


def reference_signals(text: str, shape: features.Shape) -> Signals:
    """`signals` as it was written before the vocabulary: every token classified in place."""
    toks = TOKEN.findall(text)
    named = shape.words
    gazetteer = places()
    caps = run = longest = runs = 0
    place = number = year = month = False
    answers: set[str] = set()
    answer_at: list[int] = []
    term_at: list[int] = []
    name_at: list[int] = []
    head_at: list[int] = []
    head = shape.head.rstrip("s") if shape.head else None
    for i, t in enumerate(toks):
        low = t.lower()
        novel = low not in named
        if not novel and low not in STOPWORDS and low not in QUESTION_WORDS:
            term_at.append(i)
            if bare(t) in shape.names:
                name_at.append(i)
        if head is not None and low.rstrip("s") == head:
            head_at.append(i)
        digit = t[0].isdigit()
        figure = (digit or t in wording._SIGNS) and wording._NUMBER.match(t)
        if figure or low in NUMBER_WORDS:
            number = number or novel
            if novel and digit:
                answers.add(low)
                answer_at.append(i)
        if digit and wording._YEAR.match(t):
            year = year or novel
        if low in MONTHS and (t[0].isupper() or low in ("yesterday", "today", "tomorrow")):
            month = month or novel
        if t[0].isupper() and novel and low not in STOPWORDS and i > 0:
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
    if not place:
        lows = [t.lower() for t in toks]
        for a, b in itertools.pairwise(lows):
            if f"{a} {b}" in gazetteer and not (a in named and b in named):
                place = True
                break

    def gap(xs: list[int], ys: list[int]) -> int:
        return min((abs(x - y) for x in xs for y in ys), default=FAR) if xs and ys else FAR

    return Signals(
        novel_caps=caps, novel_name=longest >= 2, novel_place=place, novel_number=number,
        year=year, month=month, money=bool(features._MONEY.search(text)),
        percent=bool(features._PERCENT.search(text)),
        honorific=bool(features._HONORIFIC.search(text)),
        said=bool(features._SAID.search(text)), quote_marks=any(c in text for c in "\"“”"),
        words=len(toks), answers=frozenset(answers), answer_gap=min(FAR, gap(answer_at, term_at)),
        name_gap=min(FAR, gap(answer_at, name_at)), head_gap=min(FAR, gap(answer_at, head_at)),
        novel_runs=runs)


QUESTIONS = [
    "Which country did India's prime minister visit in March?",
    "Who won the Super Bowl in 2023?",
    "How many people died in the earthquake in Turkey?",
    "Which teams met in South Korea?",
    "What did Mr. Biden say about the $1.7 trillion bill?",
    "When did New York ban gas stoves?",
    "Is it true that the Fed raised rates by 25 per cent?",
]
SENTENCES = [
    "India's Prime Minister Narendra Modi visited Japan on March 3, 2023, officials said.",
    "The Kansas City Chiefs beat the Philadelphia Eagles 38-35 in Super Bowl LVII.",
    "More than 50,000 people died after the 7.8 earthquake struck Turkey and Syria.",
    "South Korea hosted the teams; the Teams met in Seoul yesterday.",
    "President Joe Biden told reporters the $1.7 trillion bill was \u201ca bipartisan win.\u201d",
    "New York will ban gas stoves in new buildings from 2026, according to the law.",
    "The Fed raised rates by 25 basis points, or a quarter of a percentage point, to 4.75%.",
    "PRICES ROSE 5 PER CENT; ONE DOLLAR BUYS LESS. Dollarſ and centſ, Dr. Who wrote.",
    "U.S.-based Sen. Smith's aide, the ex-Gov. Jones and Mrs Brown met Pope Francis.",
    "it rained", "", "$ % 1990s 21st 3,000.5 first Tuesday may May Jan.",
    "The european Union and the united states met in the Middle East and New Zealand.",
]


@pytest.mark.parametrize("question", QUESTIONS)
def test_signals_equal_the_per_token_reference(question: str) -> None:
    shape = question_shape(question)
    for text in SENTENCES:
        assert signals(text, shape) == reference_signals(text, shape), text


def test_prefilters_give_what_the_patterns_give() -> None:
    # IGNORECASE lets "ſ" stand for "s" (DOLLARſ is money): no prefilter may miss it.
    for text in [*SENTENCES, "DOLLARſ", "centſ", "three Euros", "Per cent", "percent", "100%",
                 "yen", "decent", "pounded", "she says", "Said", "according  to", "told-off",
                 "ten Rupees", "5 yuan", "a POUND", "99 CENTS", "a euro", "¥", "£", "€",
                 "they told", "it announced", "he wrote", "she added", "according to him"]:
        low = text.lower()
        assert features._money(text, low) == bool(features._MONEY.search(text)), text
        assert features._percent(text, low) == bool(features._PERCENT.search(text)), text
        assert features._said(text) == bool(features._SAID.search(text)), text


def test_token_entries() -> None:
    india = token("India's")
    assert (india.low, india.bare, india.cap, india.place) == ("india's", "india", True, False)
    assert token("India").place
    assert token("2023").year and token("2023").number and token("2023").digit
    assert token("$").number and not token("$").digit
    assert token("twelve").number and token("twelve").plain is False
    assert token("March").month and not token("march").month and token("yesterday").month
    assert token("Teams").plural_free == "team"
    assert token("South").opener and not token("Seoul").opener
    assert token("the").stem is None and not token("the").term
    assert token("stoves").stem == stems(["stoves"])[0]
    assert token("true").stem is not None and not token("true").term  # a question word
    assert token("said").stem is None and token("said").term  # question filler, not a term
    assert token("rained").plain and not token("Rained").plain


def test_texts_read_through_the_vocabulary() -> None:
    text = "Russia's gas went to Germany's 2 biggest ports in 2022."
    assert [k.low for k in tokens(text)] == [t.lower() for t in TOKEN.findall(text)]
    assert bare_tokens(text) == frozenset(bare(t) for t in TOKEN.findall(text))
    content = [t.lower() for t in TOKEN.findall(text)
               if t.lower() not in STOPWORDS and t.lower() not in QUESTION_FILLER
               and (len(t) > 1 or t.isdigit())]
    assert stem_set(text) == stems(content)


def test_vocabulary_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(wording, "VOCABULARY_MAX", 3)
    monkeypatch.setattr(wording, "_VOCABULARY", {})
    for t in ("alpha", "beta", "gamma", "delta"):
        token(t)
    # Past the bound the vocabulary started afresh with the newest entry.
    assert list(wording._VOCABULARY) == ["delta"]
    assert token("alpha").low == "alpha"


def test_money_words_match_only_themselves_under_ignorecase() -> None:
    # The money prefilter looks for its words in the lower-cased text: sound only while every
    # character IGNORECASE lets stand for one of their letters lower-cases to that letter.
    letters = "".join(sorted(set("".join(features._MONEY_WORDS)) | set("per")))
    pattern = re.compile(f"[{letters}]", re.IGNORECASE)
    every = "".join(chr(c) for c in range(0x110000) if not 0xD800 <= c < 0xE000)
    assert {m.group().lower() for m in pattern.finditer(every)} == set(letters)
