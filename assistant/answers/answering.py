"""Answers: the best verbatim sentences from the sources, cited, dated, or an honest abstention."""

from __future__ import annotations

import re
import time
from dataclasses import replace
from functools import lru_cache

import numpy as np

from assistant.answers.calibration import ANSWER_PATH, Calibration
from assistant.config import Settings
from assistant.models import Answer, Filters, Quote
from assistant.search import (
    NAMES,
    EvidenceFinder,
    Retriever,
    Sentence,
    SentenceRanker,
    correct,
    expand_dependent,
    verified_quote,
)
from assistant.text import bounded_input

MAX_QUOTES = 3
AGREE_COSINE = 0.6  # quotes this close in meaning "say the same thing"
# Another sentence joins when the ranker rates it at least this share of the best (held out,
# always answering: 0.1 → quotes hold the answer 0.559, 0.25 → 0.553, 0.5 → 0.511).
QUOTE_RATIO = 0.1
QUOTE_FLOOR = 0.05  # ... and at least this likely to state the answer
MIN_QUOTE_WORDS = 4  # a shorter sentence ("Jamal Khashoggi.") is a fragment, never a quote
SAME_STORY = 0.8  # word-set overlap above which two quotes are one story told twice
ABSTAIN_TEXT = "The sources do not answer this question."
CANDIDATE_CHUNKS = 20  # retrieved chunks whose sentences compete to be the answer
# Of those sentences (about 120), the ones the ranker's whole bag scores: the rest keep its
# first model's score. On the 390 RealTimeQA questions the quotes, abstentions and confidence
# came out the same as with every sentence fully scored (one confidence 0.001 apart; at 16,
# the same quotes and abstentions), and `ask` took 4 ms less of 36.
FULLY_RANKED = 30


def confidence_features(sents: list[Sentence]) -> dict[str, float]:
    """What the answer confidence reads: how sure the ranker is of the best sentences."""
    probs = [s.answer for s in sents]
    best = sents[0]
    others = [s.answer for s in sents[1:] if s.doc.doc_id != best.doc.doc_id]
    row = best.row if best.row is not None else np.zeros(len(NAMES), np.float32)
    return {
        "p1": probs[0],
        "p2": probs[1] if len(probs) > 1 else 0.0,
        "p_other": max(others, default=0.0),
        "mass": float(sum(sorted(probs, reverse=True)[:5])),
        "cos": best.cos,
        "coverage": best.coverage,
        "kind_match": float(row[NAMES.index("kind_match")]),
        # How sure retrieval was of the story: the best chunk's (reranked) score.
        "retrieval": max((s.hit.score for s in sents if s.hit is not None), default=0.0),
        "support": float(row[NAMES.index("support_docs")]),
        # Whether the best sentence names what the question names, and how close its answer
        # sits to the question's words: a question about something the sources never mention
        # still gets a best sentence, but one without its names.
        **{f: float(row[NAMES.index(f)]) for f in ("names_missing", "names_missing_window",
                                                   "name_gap", "answer_gap")},
    }


class Answerer:
    """Turns a question into an Answer over one retriever's index."""

    def __init__(self, retriever: Retriever, *, calibration: Calibration | None = None,
                 ranker: SentenceRanker | None = None) -> None:
        self.retriever = retriever
        self.ranker = ranker or default_ranker()
        self.finder = EvidenceFinder(retriever, chunks=CANDIDATE_CHUNKS, ranker=self.ranker,
                                     min_words=MIN_QUOTE_WORDS)
        self.calibration = calibration or Calibration.load(ANSWER_PATH)

    def ask(self, question: str, *, filters: Filters | None = None) -> Answer:
        """Answer from the sources, or abstain when they do not answer."""
        started = time.perf_counter()
        question = check_question(question, self.retriever.settings)
        query = correct(question, self.retriever.reader.store, self.retriever.embedder.vocabulary)
        sents = self.finder.find(query, filters=filters, head=FULLY_RANKED)
        found = time.perf_counter()
        confidence = self.calibration.confidence(confidence_features(sents)) if sents else 0.0
        if not sents or confidence < self.calibration.threshold:
            related = [self._quote(s, 0) for s in _one_per_doc(sents)[:MAX_QUOTES]]
            return Answer(question=question, answer=ABSTAIN_TEXT, quotes=[], citations=[],
                          confidence=round(confidence, 3), abstained=True,
                          related=[q for q in related if q is not None],
                          timings_ms=_timings(started, found))

        chosen = choose_quotes(sents)
        agree = agreeing(chosen)
        chosen = [expand_dependent(s) for s in chosen]
        # News goes stale: among the sources that answer, the newest speaks first.
        dated = [s for s in chosen if s.doc.published]
        if len({s.doc.published[:10] for s in dated}) > 1:
            chosen.sort(key=lambda s: s.doc.published or "", reverse=True)

        quotes = [q for i, s in enumerate(chosen, start=1) if (q := self._quote(s, i)) is not None]
        if not quotes:  # every quote failed verification: say nothing rather than misquote
            return Answer(question=question, answer=ABSTAIN_TEXT, quotes=[], citations=[],
                          confidence=0.0, abstained=True, timings_ms=_timings(started, found))
        for n, q in enumerate(quotes, start=1):
            q.citation.n = n
        return Answer(question=question, answer=self._compose(quotes, agree), quotes=quotes,
                      citations=[q.citation for q in quotes], confidence=round(confidence, 3),
                      abstained=False, timings_ms=_timings(started, found))

    def _quote(self, s: Sentence, n: int) -> Quote | None:
        return verified_quote(self.retriever.reader.store, s, n)

    def _compose(self, quotes: list[Quote], agree: bool) -> str:
        """Quotes with their markers, joined by fixed connective phrases only."""
        body = " ".join(f"{q.text} [{q.citation.n}]" for q in quotes)
        lead = ""
        stories = distinct_stories(quotes)
        if stories > 1 and agree:
            lead = f"{stories} sources agree. "
        newest = quotes[0].citation.published
        if newest:
            lead += f"As of {newest[:10]}: "
        return lead + body


def agreeing(sents: list[Sentence]) -> bool:
    """True when every sentence is close in meaning to the first (their stored vectors)."""
    vecs = [s.vector for s in sents if s.vector is not None]
    return len(vecs) == len(sents) and all(float(vecs[0] @ v) >= AGREE_COSINE for v in vecs[1:])


@lru_cache(maxsize=1)
def default_ranker() -> SentenceRanker:
    """The shipped sentence ranker, loaded once per process."""
    return SentenceRanker.load()


_WORD = re.compile(r"\w+")


def same_story(a: str, b: str) -> bool:
    """True when two quotes are one sentence told twice (republished, or lightly edited):
    nearly the same words, and the same numbers and names. "2 million tonnes" and "3 million
    tonnes" are two facts, not one."""
    wa, wb = _WORD.findall(a.casefold()), _WORD.findall(b.casefold())
    sa, sb = set(wa), set(wb)
    if not sa or not sb or len(sa & sb) / min(len(sa), len(sb)) < SAME_STORY:
        return False
    def facts(text: str) -> set[str]:
        return {w for w in _WORD.findall(text) if w[0].isdigit() or w[0].isupper()}
    return facts(a) == facts(b)


def distinct_stories(quotes: list[Quote]) -> int:
    """How many stories the quotes come from: two quotes of one document are one source, and
    documents that quote one sentence in the same words (a republished copy) count once."""
    stories: list[list[Quote]] = []
    for q in quotes:
        joined = [st for st in stories if any(p.citation.doc_id == q.citation.doc_id
                                              or same_story(p.text, q.text) for p in st)]
        stories = [st for st in stories if not any(st is j for j in joined)]
        stories.append([q, *(p for st in joined for p in st)])
    return len(stories)


def choose_quotes(sents: list[Sentence], *, ratio: float = QUOTE_RATIO,
                  floor: float = QUOTE_FLOOR) -> list[Sentence]:
    """The best sentence, then up to MAX_QUOTES - 1 more the ranker rates nearly as likely to
    state the answer: none a copy of another, none overlapping another of its document. One
    that sits right beside a chosen quote on its line joins that quote (a copy spanning both):
    two neighbours shown apart read as one source cited twice."""
    best = sents[0]
    chosen = [best]
    bar = max(floor, ratio * best.answer)
    for s in sents[1:]:
        if len(chosen) >= MAX_QUOTES or s.answer < bar:
            break
        if any(same_story(c.text, s.text) for c in chosen):
            continue  # the same sentence in a republished copy is not a second source
        near = _beside(s, chosen)
        if near is not None:
            c = chosen[near]
            chosen[near] = replace(c, start=min(c.start, s.start), end=max(c.end, s.end))
            continue
        if _overlaps(s, chosen):
            continue
        chosen.append(s)
    return chosen


def _beside(s: Sentence, chosen: list[Sentence]) -> int | None:
    """The index of a chosen quote of s's document that s directly precedes or follows on the
    same line (only spaces between them), if any."""
    for i, c in enumerate(chosen):
        if c.doc.doc_id != s.doc.doc_id:
            continue
        first, second = (c, s) if c.start <= s.start else (s, c)
        gap = s.doc.text[first.end : second.start]
        if second.start > first.end and not gap.strip() and "\n" not in gap:
            return i
    return None


def check_question(question: object, settings: Settings) -> str:
    """The stripped question, or a QueryError saying what is wrong with it."""
    return bounded_input(question, what="question", limit=settings.max_question_chars,
                         advice=": ask about one thing at a time")


def _overlaps(s: Sentence, chosen: list[Sentence]) -> bool:
    """True when s shares a document and any characters (or its antecedent) with a chosen one."""
    return any(c.doc.doc_id == s.doc.doc_id and c.start <= s.end and s.start <= c.end + 1
               for c in chosen)


def _one_per_doc(sents: list[Sentence]) -> list[Sentence]:
    seen: set[str] = set()
    out = []
    for s in sents:
        if s.doc.doc_id not in seen:
            seen.add(s.doc.doc_id)
            out.append(s)
    return out


def _timings(started: float, found: float) -> dict[str, float]:
    now = time.perf_counter()
    return {"evidence": round((found - started) * 1000, 1), "total": round((now - started) * 1000, 1)}
