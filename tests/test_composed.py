"""Chunk vectors composed from sentence vectors: the formula, and what ingest stores."""

import numpy as np
import pytest

from assistant.index import IndexReader, read_manifest
from assistant.ingest import Chunker, ingest
from assistant.ingest.composed import TITLE_WEIGHT, compose
from assistant.ingest.pipeline import embedding_text, embedding_texts
from assistant.models import Document
from assistant.search import Retriever
from assistant.errors import ConfigError

from .conftest import CORPUS, SEEDS


def unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


def test_a_chunk_is_the_length_weighted_mean_of_its_sentences_and_its_title():
    text = "Alpha one. Beta two two. Gamma three three three."
    doc = Document(doc_id="d", source="d", text=text, title="Greek letters")
    chunks = Chunker(size=16, overlap=1).split(doc)
    assert len(chunks) == 1
    spans = [(0, 10), (11, 24), (25, len(text))]
    rng = np.random.default_rng(3)
    vecs = np.array([unit(v) for v in rng.normal(size=(3, 8))], np.float32)
    title = unit(rng.normal(size=8)).astype(np.float32)
    lengths = [e - s for s, e in spans]
    got, empty = compose(chunks, spans, lengths, vecs, (len(doc.title), title))
    want = unit(sum(n * v for n, v in zip(lengths, vecs, strict=True))
                + TITLE_WEIGHT * len(doc.title) * title)
    assert empty == [] and np.allclose(got[0], want, atol=1e-6)
    untitled, _ = compose(chunks, spans, lengths, vecs, None)
    assert np.allclose(untitled[0], unit(sum(n * v for n, v in zip(lengths, vecs, strict=True))),
                       atol=1e-6)


def test_overlapping_chunks_share_their_common_sentence():
    text = " ".join(f"Sentence {i} is about the port of Burgas." for i in range(12))
    doc = Document(doc_id="d", source="d", text=text)
    chunks = Chunker(size=24, overlap=1).split(doc)
    assert len(chunks) > 2
    _, spans, sentence_texts = embedding_texts(doc, chunks)
    vecs = np.eye(len(spans), 16, dtype=np.float32)  # one axis per sentence
    got, empty = compose(chunks, [(s, e) for s, e, _ in spans], [len(t) for t in sentence_texts],
                         vecs, None)
    assert empty == []
    for c, v in zip(chunks, got, strict=True):
        inside = {i for i, (s, e, _) in enumerate(spans) if c.char_start <= s and e <= c.char_end}
        assert inside and set(np.flatnonzero(v > 0)) == inside  # exactly its own sentences
    for a, b in zip(got, got[1:], strict=False):
        assert float(a @ b) > 0  # neighbours share a sentence


def test_a_chunk_without_a_whole_sentence_is_reported():
    doc = Document(doc_id="d", source="d", text="One two three. Four five six.")
    chunks = Chunker(size=16, overlap=0).split(doc)
    _, empty = compose(chunks, [], [], np.zeros((0, 4), np.float32), None)
    assert empty == list(range(len(chunks)))


def test_chunk_vectors_must_be_a_known_method():
    with pytest.raises(ConfigError, match="chunk vectors must be one of sentences, model"):
        Chunker(vectors="average")


@pytest.mark.slow
def test_ingest_composes_chunk_vectors_and_an_index_keeps_its_way(make_settings, embedder,
                                                                tmp_path):
    composed = make_settings(index=tmp_path / "composed")
    whole = make_settings(index=tmp_path / "whole", chunk_vectors="model")
    ingest([CORPUS], settings=composed, embedder=embedder, progress=False)
    ingest([CORPUS], settings=whole, embedder=embedder, progress=False)
    assert read_manifest(composed.index).chunker["vectors"] == "sentences"
    assert "vectors" not in read_manifest(whole.index).chunker  # as indexes built before
    for settings, made in ((composed, "sentences"), (whole, "model")):
        reader = IndexReader(settings.index)
        try:
            doc = reader.store.get_document(SEEDS[0])
            rows = reader.store.document_chunks(doc.doc_id)
            chunks = Chunker().split(doc)
            chunk_texts, spans, sentence_texts = embedding_texts(doc, chunks)
            stored = np.stack([reader.vectors.reconstruct(r["chunk_id"]) for r in rows])
            if made == "model":
                want = embedder.embed(chunk_texts)
            else:
                svecs = embedder.embed(sentence_texts)
                title = (len(doc.title), embedder.embed([doc.title])[0]) if doc.title else None
                want, _ = compose(chunks, [(s, e) for s, e, _ in spans],
                                  [len(t) for t in sentence_texts], svecs, title)
            # fp16 (the default kind) rounds each stored float to half precision: at most
            # half a unit in its last place, 2^-11 of its size.
            half = reader.vectors.kind == "fp16"
            tol = 1e-5 + (2**-11 * np.abs(want).max() if half else 0.0)
            assert np.abs(stored - want).max() < tol
            hit = Retriever(reader, embedder, settings).search(
                "Who builds the Bushehr nuclear power plant?", k=1)[0]
            assert "Bushehr" in hit.text
        finally:
            reader.close()
    # A later plain ingest into the older kind of index keeps embedding whole chunks.
    extra = tmp_path / "extra.txt"
    extra.write_text("Varna\nThe port of Varna handled record grain exports in May.\n")
    ingest([extra], settings=make_settings(index=whole.index), embedder=embedder, progress=False)
    assert "vectors" not in read_manifest(whole.index).chunker
    reader = IndexReader(whole.index)
    try:
        row = reader.store.document_chunks("extra.txt")[0]
        doc = reader.store.get_document("extra.txt")
        want = embedder.embed([embedding_text(doc.title, row["section"], row["text"])])[0]
        # Stored at half precision (fp16, the default kind): a cosine within 1e-4.
        assert float(reader.vectors.reconstruct(row["chunk_id"]) @ want) > 1 - 1e-4
    finally:
        reader.close()


@pytest.mark.slow
def test_an_edited_document_embeds_only_its_new_sentences(make_settings, embedder, corpus_copy):
    settings = make_settings()
    ingest([corpus_copy], settings=settings, embedder=embedder, progress=False)

    class Counting:
        def __init__(self, inner):
            self.inner, self.texts = inner, []
            self.model_id, self.dim, self.vocabulary = inner.model_id, inner.dim, inner.vocabulary

        def embed(self, texts):
            self.texts += texts
            return self.inner.embed(texts)

    path = corpus_copy / SEEDS[1]
    added = "Brazil sold coffee to Moscow in record volumes."
    path.write_text(path.read_text() + "\nBrazil\n" + added + "\n")
    counting = Counting(embedder)
    report = ingest([corpus_copy], settings=settings, embedder=counting, progress=False)
    assert report.documents == 1 and report.reused_vectors >= 1
    assert any(added in t for t in counting.texts)
    reader = IndexReader(settings.index)
    try:
        doc = reader.store.get_document(SEEDS[1])
        _, spans, _ = embedding_texts(doc, Chunker().split(doc))
        assert len(counting.texts) < len(spans) / 2  # the untouched sentences were read back
        stored = reader.store.sentences([(doc.doc_id, 0, len(doc.text))])
        assert len(stored[(doc.doc_id, 0, len(doc.text))][0]) == len(spans)
        # The vectors read back belong to their own sentences (int8 round trip: cosine ~0.999).
        _, _, sentence_texts = embedding_texts(doc, Chunker().split(doc))
        fresh = embedder.embed(sentence_texts)
        kept = stored[(doc.doc_id, 0, len(doc.text))][1]
        assert float(np.min(np.sum(kept * fresh, axis=1))) > 0.99
    finally:
        reader.close()
