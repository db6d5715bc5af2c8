"""Answers: the best verbatim sentences from the sources, cited, dated, or an honest abstention."""

from __future__ import annotations

import time

from assistant.answers.calibration import Calibration
from assistant.config import Settings
from assistant.models import Answer, Filters, Quote
from assistant.search import (
    EvidenceFinder,
    Retriever,
    Sentence,
    correct,
    expand_dependent,
    verified_quote,
)
from assistant.text import bounded_input

MAX_QUOTES = 3
AGREE_COSINE = 0.6  # quotes this close in meaning "say the same thing"
SUPPORT_RATIO = 0.75  # another document's best sentence joins if it scores this close to the best
RUNNER_UP_RATIO = 0.95  # another sentence of an already cited document, only this close
ABSTAIN_TEXT = "The sources do not answer this question."


class Answerer:
    """Turns a question into an Answer over one retriever's index."""

    def __init__(self, retriever: Retriever, *, calibration: Calibration | None = None) -> None:
        self.retriever = retriever
        self.finder = EvidenceFinder(retriever)
        self.calibration = calibration or Calibration.load()

    def ask(self, question: str, *, filters: Filters | None = None) -> Answer:
        """Answer from the sources, or abstain when they do not answer."""
        started = time.perf_counter()
        question = check_question(question, self.retriever.settings)
        query = correct(question, self.retriever.reader.store, self.retriever.embedder.vocabulary)
        sents = self.finder.find(query, filters=filters)
        found = time.perf_counter()
        confidence = self.calibration.confidence(sents[0].features()) if sents else 0.0
        if not sents or confidence < self.calibration.threshold:
            related = [self._quote(s, 0) for s in _one_per_doc(sents)[:MAX_QUOTES]]
            return Answer(question=question, answer=ABSTAIN_TEXT, quotes=[], citations=[],
                          confidence=round(confidence, 3), abstained=True,
                          related=[q for q in related if q is not None],
                          timings_ms=_timings(started, found))

        best = sents[0]
        chosen = [best]
        for s in sents[1:]:
            if len(chosen) >= MAX_QUOTES:
                break
            same_doc = any(c.doc.doc_id == s.doc.doc_id for c in chosen)
            if any(" ".join(c.text.split()) == " ".join(s.text.split()) for c in chosen):
                continue  # the same sentence in a republished copy is not a second source
            # Other documents join when they score close to the best (corroboration); a second
            # sentence of a cited document only when it is nearly as good (a close call).
            ratio = RUNNER_UP_RATIO if same_doc else SUPPORT_RATIO
            if s.score >= ratio * best.score and not _overlaps(s, chosen) and \
                    self.calibration.confidence(s.features()) >= self.calibration.threshold:
                chosen.append(s)
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
        return Answer(question=question, answer=self._compose(quotes), quotes=quotes,
                      citations=[q.citation for q in quotes], confidence=round(confidence, 3),
                      abstained=False, timings_ms=_timings(started, found))

    def _quote(self, s: Sentence, n: int) -> Quote | None:
        return verified_quote(self.retriever.reader.store, s, n)

    def _compose(self, quotes: list[Quote]) -> str:
        """Quotes with their markers, joined by fixed connective phrases only."""
        body = " ".join(f"{q.text} [{q.citation.n}]" for q in quotes)
        lead = ""
        if len(quotes) > 1 and self._agree(quotes):
            lead = f"{len(quotes)} sources agree. "
        newest = quotes[0].citation.published
        if newest:
            lead += f"As of {newest[:10]}: "
        return lead + body

    def _agree(self, quotes: list[Quote]) -> bool:
        vecs = self.retriever.embedder.embed([q.text for q in quotes])
        return bool(all(float(vecs[0] @ v) >= AGREE_COSINE for v in vecs[1:]))


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
