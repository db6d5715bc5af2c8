"""Claim checking: evidence sentences for and against a claim, stance, corroboration, verdict."""

from __future__ import annotations

import re
import time

from assistant.answers import Calibration
from assistant.claims.dedup import groups
from assistant.claims.details import Aligner, Alignment
from assistant.claims.factchecks import matches
from assistant.claims.stance import Stance, StanceVerifier
from assistant.claims.verdict import VerdictModel
from assistant.config import Settings
from assistant.errors import QueryError
from assistant.models import EarlierCheck, Evidence, FactCheck, Filters, Verdict
from assistant.search import (
    EvidenceFinder,
    Retriever,
    Sentence,
    correct,
    expand_dependent,
    verified_quote,
)
from assistant.text import bounded_input, normalize_text, sentence_spans

MAX_EVIDENCE = 8
# A sentence counts as bearing on the claim when the answer model would quote it with at least
# this confidence (lower than for answers: a refuting sentence shares less wording).
RELEVANCE = 0.3
STANCE_MIN = 0.5  # a stance probability below this is not taken as that stance
CONTEXT_CHARS = 400  # text before a sentence that may name what it leaves implicit


def constrain(stance: Stance, alignment: Alignment) -> Stance:
    """A stance the details allow: a sentence that states a detail differently cannot support
    (its support turns to refutation); one that leaves a detail unstated is neutral at most."""
    if not alignment.blocks_support or stance.supports == 0.0:
        return stance
    if alignment.contradicts:
        return Stance(supports=0.0, refutes=stance.refutes + stance.supports,
                      neutral=stance.neutral)
    return Stance(supports=0.0, refutes=stance.refutes, neutral=stance.neutral + stance.supports)


def context_of(s: Sentence) -> str:
    """What a reader of the sentence already knows: headline, section and the text before it."""
    before = s.doc.text[max(0, s.start - CONTEXT_CHARS): s.start]
    return "\n".join(p for p in (s.doc.title, s.section or "", before) if p)


def check_claim_text(claim: object, settings: Settings) -> str:
    """The stripped claim, or a QueryError saying what is wrong with it."""
    return bounded_input(claim, what="claim", limit=settings.max_claim_chars,
                         advice=": check one statement at a time, or send a paragraph as `text`")


class Checker:
    """Checks claims against one index generation with one stance verifier."""

    def __init__(self, retriever: Retriever, verifier: StanceVerifier, *,
                 calibration: Calibration | None = None,
                 verdicts: VerdictModel | None | bool = True) -> None:
        self.retriever = retriever
        self.verifier = verifier
        self.finder = EvidenceFinder(retriever, chunks=12)
        self.calibration = calibration or Calibration.load()
        self.settings = retriever.settings
        # The trained verdict model by default; False keeps the plain rule of `_decide`.
        self.verdicts = VerdictModel.load() if verdicts is True else (verdicts or None)
        # One parser and memo for the verifier's features and the checker's constraint.
        self.aligner = getattr(verifier, "aligner", None) or Aligner(self.settings.spacy_model)
        self._fact_checks: tuple[list[FactCheck], object] | None = None

    def earlier_checks(self, claim: str) -> list[EarlierCheck]:
        """Published fact-checks of the same claim (loaded once per index generation)."""
        if self._fact_checks is None:
            self._fact_checks = self.retriever.reader.store.fact_checks()
        checks, vectors = self._fact_checks
        if not checks:
            return []
        vec = self.retriever.embedder.embed([claim])[0]
        return [EarlierCheck(claim=fc.claim, rating=fc.rating, published=fc.published,
                             url=fc.url, author=fc.author, similarity=sim)
                for fc, sim in matches(claim, vec, checks, vectors)]  # type: ignore[arg-type]

    def check(self, claim: str, *, filters: Filters | None = None) -> Verdict:
        """A Verdict with every relevant sentence, its stance and citation."""
        started = time.perf_counter()
        claim = check_claim_text(claim, self.settings)
        query = correct(claim, self.retriever.reader.store, self.retriever.embedder.vocabulary)
        earlier = self.earlier_checks(claim)
        sents = self.finder.find(query, filters=filters)
        scored = [(s, c) for s in sents
                  if (c := self.calibration.confidence(s.features())) >= RELEVANCE][:MAX_EVIDENCE]
        relevant = [expand_dependent(s) for s, _ in scored]
        self.aligner.parse_many([claim, *(s.text for s in relevant)])
        alignments = [self.aligner.align(claim, s.text) for s in relevant]
        # Context is read (parsed) only for a sentence that leaves a detail of the claim out or
        # names a rival: it may say what the sentence leaves implicit.
        contexts = [context_of(s) if a.missing or a.differs else ""
                    for s, a in zip(relevant, alignments, strict=True)]
        self.aligner.parse_many([c for c in contexts if c])
        alignments = [self.aligner.align(claim, s.text, ctx) if ctx else a
                      for s, a, ctx in zip(relevant, alignments, contexts, strict=True)]
        stances = self.verifier.judge(query, [s.text for s in relevant], contexts=contexts)
        stances = [constrain(st, al) for st, al in zip(stances, alignments, strict=True)]
        judged = time.perf_counter()

        evidence: list[Evidence] = []
        store = self.retriever.reader.store
        for s, (_, relevance), st, al in zip(relevant, scored, stances, alignments, strict=True):
            quote = verified_quote(store, s, len(evidence) + 1)
            if quote is None:
                continue
            label = st.label if getattr(st, st.label) >= STANCE_MIN else "neutral"
            evidence.append(Evidence(
                stance=label, score=round(relevance * getattr(st, label), 4), quote=quote.text,
                citation=quote.citation, probabilities={
                    "supports": round(st.supports, 4), "refutes": round(st.refutes, 4),
                    "neutral": round(st.neutral, 4)},
                relevance=round(relevance, 4),
                reasons=al.reasons()))
        # Strongest evidence first: decided stances before neutral ones.
        evidence.sort(key=lambda e: (e.stance == "neutral", -e.score))
        for n, e in enumerate(evidence, start=1):
            e.citation.n = n

        texts = {s.doc.doc_id: s.doc.text for s in relevant}
        docs = {e.citation.doc_id: texts[e.citation.doc_id] for e in evidence}
        clusters = groups(docs) if docs else []
        group_of = {doc: i for i, members in enumerate(clusters) for doc in members}
        supporting = {group_of[e.citation.doc_id] for e in evidence if e.stance == "supports"}
        refuting = {group_of[e.citation.doc_id] for e in evidence if e.stance == "refutes"}
        if self.verdicts is not None:
            verdict, confidence = self.verdicts.decide(evidence, len(supporting), len(refuting))
        else:
            verdict, confidence = _decide(evidence, supporting, refuting)
        return Verdict(
            claim=claim, verdict=verdict, confidence=confidence, fact_checks=earlier,
            evidence=evidence,
            sources_supporting=len(supporting), sources_refuting=len(refuting),
            merged=[g for g in clusters if len(g) > 1], verifier=self.verifier.name,
            timings_ms={"evidence_and_stance": round((judged - started) * 1000, 1),
                        "total": round((time.perf_counter() - started) * 1000, 1)})

    def check_text(self, text: str, *, filters: Filters | None = None) -> list[Verdict]:
        """Split a paragraph into check-worthy claims and check each."""
        text = bounded_input(text, what="text", limit=self.settings.max_text_chars)
        claims = check_worthy(text)
        if len(claims) > self.settings.max_claims:
            raise QueryError(f"the text has {len(claims)} check-worthy sentences; the limit is "
                             f"{self.settings.max_claims}: send it in parts")
        return [self.check(c, filters=filters) for c in claims]


def _decide(evidence: list[Evidence], supporting: set[int], refuting: set[int]) -> tuple[str, float]:
    best = {stance: max((e.probabilities[stance] for e in evidence if e.stance == stance),
                        default=0.0) for stance in ("supports", "refutes")}
    if supporting and refuting:
        return "conflicting", round(min(best["supports"], best["refutes"]), 3)
    if supporting:
        return "supported", round(best["supports"], 3)
    if refuting:
        return "refuted", round(best["refutes"], 3)
    # Confidence in "not enough info": how little the strongest evidence leaned either way.
    lean = max((max(e.probabilities["supports"], e.probabilities["refutes"]) for e in evidence),
               default=0.0)
    return "not_enough_info", round(1.0 - lean, 3)


_OPINION = re.compile(
    r"\b(?:I|we)\s+(?:think|believe|feel|hope|guess)\b|\bin my (?:view|opinion)\b|\bshould\b|"
    r"\bmust\b|\bought to\b|\b(?:best|worst|beautiful|terrible|awful|wonderful|amazing)\b|"
    r"\bperhaps\b|\bmaybe\b", re.IGNORECASE)
_FACTUAL = re.compile(r"\d|\b[A-Z][a-z]+|\b(?:has|have|had|is|are|was|were|will|did|does)\b")


def check_worthy(text: str) -> list[str]:
    """Sentences that assert checkable facts (names, numbers, events), not questions or opinions."""
    text = normalize_text(text)
    out = []
    for start, end in sentence_spans(text):
        s = text[start:end].strip()
        words = s.split()
        if len(words) < 4 or s.endswith("?") or _OPINION.search(s):
            continue
        # A fact names something or someone, or gives a number, beyond the sentence's first word.
        if re.search(r"\d", s) or re.search(r"\b[A-Z][\w'’-]+", " ".join(words[1:])):
            out.append(s)
    return out
