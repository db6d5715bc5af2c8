"""Sentence-level evidence: the sentences inside retrieved chunks, scored against a question,
and the verified quotes made of them."""

from __future__ import annotations

import logging
import re
from bisect import bisect_left
from collections.abc import Set
from dataclasses import dataclass

import numpy as np

from assistant.index import DocumentStore, Reader
from assistant.models import Citation, Document, Filters, Quote, ScoredHit
from assistant.search.features import (
    KINDS,
    NAMES,
    day_number,
    density,
    kind_match,
    question_shape,
    signals,
)
from assistant.search.ranker import SentenceRanker
from assistant.search.retrieval import Retriever
from assistant.search.wording import bare_tokens, stem_set
from assistant.text import (
    LONG_WORD_CHARS,
    MAX_SENTENCE_WORDS,
    blocks,
    content_stems,
    fallback_title,
    sentence_spans,
    sentence_text,
)

log = logging.getLogger("assistant")

# A sentence opening with one of these leans on the sentence before it ("It gave Putin an ally").
_DEPENDENT = re.compile(
    r"^(?:It|Its|This|That|These|Those|They|Their|Them|He|His|She|Her|Such|Both|The two|"
    r"In return|In turn|In response|Also|However|But|Still|Yet|Meanwhile|Instead|Even so|"
    r"Despite this|Because of this|As a result|The (?:move|deal|decision|plan|country|company|"
    r"group|latter|former|agreement|visit|step))\b"
)

# How far back expand_dependent looks for the antecedent (a sentence is at most
# MAX_SENTENCE_WORDS words, each at most LONG_WORD_CHARS characters).
ANTECEDENT_CHARS = MAX_SENTENCE_WORDS * (LONG_WORD_CHARS + 1)


@dataclass(slots=True)
class Sentence:
    """One candidate evidence sentence (or a dependent sentence with its antecedent)."""

    doc: Document
    start: int  # the quote's span: may begin one sentence early (expand_dependent)
    end: int
    section: str | None
    chunk_rank: int
    cos: float = 0.0
    coverage: float = 0.0
    score: float = 0.0  # topical closeness: weighted cosine and term coverage
    answer: float = 0.0  # the ranker's belief that it states the answer (0 without a ranker)
    hit: ScoredHit | None = None  # the best retrieved chunk it came from
    row: np.ndarray | None = None  # the ranker's features
    vector: np.ndarray | None = None  # its embedding (unit length)

    @property
    def text(self) -> str:
        """The verbatim quote: `doc.text[start:end]`."""
        return self.doc.text[self.start : self.end]

    def features(self) -> dict[str, float]:
        """What the answer calibration reads: combined score, cosine and term coverage."""
        return {"score": self.score, "cos": self.cos, "coverage": self.coverage}


class EvidenceFinder:
    """Scores every sentence of the top retrieved chunks by meaning and by term coverage, and,
    with a ranker, by how likely it states the answer."""

    def __init__(self, retriever: Retriever, *, chunks: int = 10, weight_dense: float = 0.5,
                 ranker: SentenceRanker | None = None, min_words: int = 1) -> None:
        self.retriever = retriever
        self.chunks = chunks
        self.min_words = min_words  # shorter sentences are no candidates
        self.weight_dense = weight_dense
        self.ranker = ranker

    @property
    def reader(self) -> Reader:
        """The index generation being read."""
        return self.retriever.reader

    def find(self, question: str, *, filters: Filters | None = None,
             head: int | None = None) -> list[Sentence]:
        """Candidate sentences, best first: by `answer` with a ranker, else by `score` (`head`:
        only this many get the ranker's whole bag, `BoostedModel.raw_scores`)."""
        found = self.candidates(question, filters=filters)
        sents = found.sentences
        if self.ranker is None or not sents:
            sents.sort(key=lambda s: (-s.score, s.chunk_rank, s.start))
            return sents
        rows = answer_features(found)
        for s, p, row in zip(sents, self.ranker.score(rows, head=head), rows, strict=True):
            s.answer = float(p)
            s.row = row
        sents.sort(key=lambda s: (-s.answer, s.chunk_rank, s.start))
        return sents

    def candidates(self, question: str, *, filters: Filters | None = None) -> Candidates:
        """Every sentence of the top chunks with its cosine, coverage and topical score."""
        embedder = self.retriever.embedder
        qvec = embedder.embed([question])[0]
        hits = self.retriever.search(question, k=self.chunks, filters=filters, query_vector=qvec)
        if not hits:
            return Candidates(question, [], {}, {})
        store = self.reader.store
        docs: dict[str, Document] = {}
        cands: dict[tuple[str, int], Sentence] = {}
        stored = self.retriever.sentences([(h.doc_id, h.char_start, h.char_end) for h in hits])
        doc_hits: dict[str, int] = {}
        for hit in hits:
            doc = docs.get(hit.doc_id) or store.get_document(hit.doc_id)
            if doc is None:  # pragma: no cover - a hit always has its document in one generation
                continue
            docs[hit.doc_id] = doc
            doc_hits[hit.doc_id] = doc_hits.get(hit.doc_id, 0) + 1
            spans, vecs = stored[(hit.doc_id, hit.char_start, hit.char_end)]
            if not spans:  # a generation written before sentence vectors were stored
                spans = sentence_spans(doc.text, hit.char_start, hit.char_end)
                vecs = None
            for i, (s, e) in enumerate(spans):
                key = (doc.doc_id, s)
                if key not in cands:
                    cands[key] = Sentence(doc=doc, start=s, end=e, section=hit.section,
                                          chunk_rank=hit.rank, hit=hit,
                                          vector=None if vecs is None else vecs[i])
        sents = [s for s in cands.values()
                 if self.min_words <= 1 or len(s.text.split()) >= self.min_words]
        if not sents:
            return Candidates(question, [], {}, doc_hits)
        todo = [s for s in sents if s.vector is None]
        if todo:
            for s, v in zip(todo, embedder.embed([sentence_text(s.section, s.text) for s in todo]),
                            strict=True):
                s.vector = v
        cos = np.vstack([s.vector for s in sents]) @ qvec

        weights = self.retriever.query_weights(question)
        total = sum(weights.values())
        for s, c in zip(sents, cos, strict=True):
            words = content_stems(s.text + " " + (s.section or ""))
            s.cos = float(c)
            s.coverage = sum(w for st, w in weights.items() if st in words) / total if total else 0.0
            s.score = self.weight_dense * s.cos + (1 - self.weight_dense) * s.coverage
        return Candidates(question, sents, weights, doc_hits)


@dataclass(slots=True)
class Candidates:
    """A question's candidate sentences and what scoring them needs."""

    question: str
    sentences: list[Sentence]
    weights: dict[str, float]  # IDF of each of the question's content stems
    doc_hits: dict[str, int]  # retrieved chunks per document


def answer_features(found: Candidates) -> np.ndarray:
    """One row of `features.NAMES` per candidate sentence."""
    question, sents, weights, doc_hits = (found.question, found.sentences, found.weights,
                                          found.doc_hits)
    shape = question_shape(question)
    total = sum(weights.values()) or 1.0
    top_weight = max(weights.values(), default=1.0)
    best_cos = max(s.cos for s in sents)
    best_cov = max(s.coverage for s in sents)
    order = {id(s): i for i, s in enumerate(sorted(sents, key=lambda s: -s.cos))}
    kinds = [float(shape.kind == k) for k in KINDS]

    # Per sentence: its stems, the question stems it has, and what answers it holds.
    stems_of = [stem_set(s.text) for s in sents]
    present = [set(st) | set(stem_set(s.section or "")) for s, st in zip(sents, stems_of,
                                                                        strict=True)]
    sigs = [signals(s.text, shape) for s in sents]
    lowered = [bare_tokens(s.text) for s in sents]
    # Per document: its best chunk rank, best cosine and coverage among the candidates; its
    # title's share of the question; and its sentences in order (for neighbours).
    doc_rank: dict[str, int] = {}
    doc_cos: dict[str, float] = {}
    doc_cov: dict[str, float] = {}
    by_doc: dict[str, list[int]] = {}
    for i, s in enumerate(sents):
        d = s.doc.doc_id
        doc_rank[d] = min(doc_rank.get(d, 999), s.chunk_rank)
        doc_cos[d] = max(doc_cos.get(d, -1.0), s.cos)
        doc_cov[d] = max(doc_cov.get(d, 0.0), s.coverage)
        by_doc.setdefault(d, []).append(i)
    title_share: dict[str, float] = {}
    title_words: dict[str, set[str]] = {}
    for d, idx in by_doc.items():
        doc = sents[idx[0]].doc
        title = set(stem_set(doc.title or ""))
        title_share[d] = sum(w for st, w in weights.items() if st in title) / total
        title_words[d] = bare_tokens(doc.title or "")
        idx.sort(key=lambda i: sents[i].start)
    before: dict[int, int] = {}
    after: dict[int, int] = {}
    for idx in by_doc.values():
        for a, b in zip(idx, idx[1:], strict=False):
            before[b], after[a] = a, b
    # Redundancy: an answer the question does not name, given by several retrieved stories, is
    # more likely the answer (each story weighted by its rank).
    docs_of: dict[str, set[str]] = {}
    for s, sig in zip(sents, sigs, strict=True):
        for tok in sig.answers:
            docs_of.setdefault(tok, set()).add(s.doc.doc_id)
    n_docs = max(1, len(by_doc))
    # News goes stale: how much older a story is than the newest one retrieved (-1: undated).
    days = {d: day_number(sents[idx[0]].doc.published) for d, idx in by_doc.items()}
    newest = max((v for v in days.values() if v is not None), default=None)

    rows = np.zeros((len(sents), len(NAMES)), np.float32)
    for n, s in enumerate(sents):
        d = s.doc.doc_id
        sent_stems, here, sig = stems_of[n], present[n], sigs[n]
        matched = {st for st in weights if st in here}
        missing = [w for st, w in weights.items() if st not in here]
        own = [st for st in sent_stems if st in weights]
        window = set(here)
        near = []
        nearby = [j for j in (before.get(n), after.get(n)) if j is not None]
        for j in nearby:
            window |= present[j]
            near.append(sents[j].cos)
        names = shape.names
        gone = gone_window = 0.0
        if names:
            around = lowered[n] | title_words[d]
            for j in nearby:
                around |= lowered[j]
            gone = _missing(names, lowered[n]) / len(names)
            gone_window = _missing(names, around) / len(names)
        window_cov = sum(w for st, w in weights.items() if st in window) / total
        support = [docs_of[t] for t in sig.answers]
        support_docs = max((len(x) for x in support), default=0) / n_docs
        support_rank = max((sum(1.0 / doc_rank[x] for x in docs) for docs in support),
                           default=0.0)
        hit = s.hit
        scores = hit.scores if hit is not None else {}
        rows[n] = (
            s.cos, best_cos - s.cos, order[id(s)], s.coverage, best_cov - s.coverage,
            len(matched) / max(1, len(weights)), title_share[d],
            max(missing, default=0.0) / top_weight,
            density(sent_stems, matched), len(own) / max(1, len(sent_stems)),
            len(sent_stems) - len(own), s.chunk_rank, scores.get("fused", 0.0),
            scores.get("dense_rank", 999), scores.get("bm25_rank", 999),
            doc_hits.get(d, 0), s.start / max(1, len(s.doc.text)),
            float(s.start < 400), sig.words, float(bool(s.section)), sig.novel_caps,
            float(sig.novel_name), float(sig.novel_place), float(sig.novel_number),
            float(sig.year), float(sig.month), float(sig.money), float(sig.percent),
            float(sig.honorific), float(sig.said), float(sig.quote_marks),
            kind_match(shape, sig), float(shape.is_question), *kinds,
            window_cov, max(near, default=0.0), support_docs, support_rank,
            float(bool(sig.answers & title_words[d])), doc_rank[d], doc_cos[d], doc_cov[d],
            min(3650, newest - days[d]) if newest is not None and days[d] is not None else -1,
            gone, gone_window,
            sig.answer_gap, sig.name_gap, sig.head_gap, sig.novel_runs,
        )
    return rows


def _missing(names: frozenset[str], tokens: Set[str]) -> int:
    """How many of the question's names a text lacks ("Russia" is in "Russian gas")."""
    ordered: list[str] | None = None
    gone = 0
    for name in names:
        if name in tokens:
            continue
        size = len(name)
        if size >= 4:  # a longer form of it counts: "russian", not "russianness"
            if ordered is None:
                ordered = sorted(tokens)
            i = bisect_left(ordered, name)  # the tokens it starts sort right after it
            while i < len(ordered) and ordered[i].startswith(name):
                if len(ordered[i]) <= size + 3:
                    break
                i += 1
            else:
                gone += 1
            continue
        gone += 1
    return gone


def expand_dependent(sentence: Sentence) -> Sentence:
    """Take in the previous sentence when this one leans on it, as one contiguous slice."""
    text = sentence.doc.text
    if not _DEPENDENT.match(text[sentence.start : sentence.end]):
        return sentence
    # The antecedent must sit in the same section: never reach back over a heading.
    block_start = 0
    for b in blocks(text):
        if b.start > sentence.start:
            break
        if b.is_heading:
            block_start = b.end
    # Only the text just before it: a document of one huge paragraph must not be re-read whole.
    lo = max(block_start, sentence.start - ANTECEDENT_CHARS)
    prev = [sp for sp in sentence_spans(text, lo, sentence.start) if sp[1] <= sentence.start]
    if not prev or (prev[-1][0] == lo and lo > block_start):  # cut off by the window: too long
        return sentence
    sentence.start = prev[-1][0]
    return sentence


def verified_quote(store: DocumentStore, s: Sentence, n: int) -> Quote | None:
    """A Quote for a sentence, checked character by character against the stored document;
    None (and an error in the log) when it does not match: we never show a misquote."""
    stored = store.get_document(s.doc.doc_id)
    text = s.text
    if stored is None or stored.text[s.start : s.end] != text or not text:
        log.error("quote from %s [%d:%d] failed verification; dropped", s.doc.doc_id,
                  s.start, s.end)
        return None
    d = stored
    return Quote(text=text, score=round(s.score, 4), citation=Citation(
        n=n, doc_id=d.doc_id, title=d.title or fallback_title(d.text), publisher=d.publisher,
        url=d.url,
        published=d.published, source=d.source, char_start=s.start, char_end=s.end, quote=text))
