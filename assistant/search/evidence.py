"""Sentence-level evidence: the sentences inside retrieved chunks, scored against a question,
and the verified quotes made of them."""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass

from assistant.index import IndexReader, Store
from assistant.models import Citation, Document, Filters, Quote
from assistant.search.retrieval import Retriever
from assistant.text import (
    LONG_WORD_CHARS,
    MAX_SENTENCE_WORDS,
    blocks,
    content_terms,
    sentence_spans,
    stems,
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
    score: float = 0.0

    @property
    def text(self) -> str:
        """The verbatim quote: `doc.text[start:end]`."""
        return self.doc.text[self.start : self.end]

    def features(self) -> dict[str, float]:
        """What the answer calibration reads: combined score, cosine and term coverage."""
        return {"score": self.score, "cos": self.cos, "coverage": self.coverage}


class EvidenceFinder:
    """Scores every sentence of the top retrieved chunks by meaning and by term coverage."""

    def __init__(self, retriever: Retriever, *, chunks: int = 10, weight_dense: float = 0.5) -> None:
        self.retriever = retriever
        self.chunks = chunks
        self.weight_dense = weight_dense
        self._df_cache: dict[str, int] = {}

    @property
    def reader(self) -> IndexReader:
        """The index generation being read."""
        return self.retriever.reader

    def idf(self, word: str) -> float:
        """BM25-style inverse chunk frequency of a word (stemmed by FTS5 as in the index)."""
        if word not in self._df_cache:
            self._df_cache[word] = self.reader.store.term_chunk_count(word)
        n = max(1, self.reader.manifest.counts.get("chunks", 1))
        df = self._df_cache[word]
        return math.log((n - df + 0.5) / (df + 0.5) + 1.0)

    def find(self, question: str, *, filters: Filters | None = None) -> list[Sentence]:
        """Candidate sentences, best first, each with its cos, coverage and combined score."""
        hits = self.retriever.search(question, k=self.chunks, filters=filters)
        if not hits:
            return []
        store = self.reader.store
        docs: dict[str, Document] = {}
        cands: dict[tuple[str, int], Sentence] = {}
        for hit in hits:
            doc = docs.get(hit.doc_id) or store.get_document(hit.doc_id)
            if doc is None:  # pragma: no cover - a hit always has its document in one generation
                continue
            docs[hit.doc_id] = doc
            for s, e in sentence_spans(doc.text, hit.char_start, hit.char_end):
                key = (doc.doc_id, s)
                if key not in cands:
                    cands[key] = Sentence(doc=doc, start=s, end=e, section=hit.section,
                                          chunk_rank=hit.rank)
        sents = list(cands.values())

        # A word neither the corpus nor the model's vocabulary knows is a typo spelling
        # correction could not mend ("aly"): it carries no evidence either way, so it is ignored.
        dictionary = self.retriever.embedder.vocabulary
        q_terms = [w for w in dict.fromkeys(content_terms(question))
                   if w in dictionary or not w.isalpha() or store.word_df(w) > 0]
        q_stems = stems(q_terms)
        weights = {st: self.idf(w) for w, st in zip(q_terms, q_stems, strict=True)}
        total = sum(weights.values())

        texts = [f"{s.section}: {s.text}" if s.section else s.text for s in sents]
        vecs = self.retriever.embedder.embed([question, *texts])
        cos = vecs[1:] @ vecs[0]
        for s, c in zip(sents, cos, strict=True):
            words = set(stems(content_terms(s.text + " " + (s.section or ""))))
            s.cos = float(c)
            s.coverage = sum(w for st, w in weights.items() if st in words) / total if total else 0.0
            s.score = self.weight_dense * s.cos + (1 - self.weight_dense) * s.coverage
        sents.sort(key=lambda s: (-s.score, s.chunk_rank, s.start))
        return sents


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


def verified_quote(store: Store, s: Sentence, n: int) -> Quote | None:
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
        n=n, doc_id=d.doc_id, title=d.title, publisher=d.publisher, url=d.url,
        published=d.published, source=d.source, char_start=s.start, char_end=s.end, quote=text))
