"""Hybrid search: fusion, modes and metadata filters, with the real model."""

import json

import pytest

from assistant.errors import QueryError
from assistant.index import IndexReader
from assistant.ingest import ingest
from assistant.models import Filters
from assistant.search import Retriever
from assistant.search.rerank import DEPTH, chunk_features

from .conftest import SEEDS, run_cli

pytestmark = pytest.mark.slow

ARTICLES = [
    {"id": "w1", "title": "Port reopens", "publisher": "Wire", "published": "2023-02-01",
     "text": "The grain port at Odesa reopened after repairs. Ships queued for days."},
    {"id": "w2", "title": "Grain prices", "publisher": "Wire", "published": "2024-06-15",
     "text": "Grain prices fell as Odesa shipments resumed at full pace."},
    {"id": "g1", "title": "Odesa grain", "publisher": "Gazette", "published": "2024-01-10",
     "text": "Odesa grain exports doubled, the Gazette reported from the port."},
    {"id": "n1", "title": "Undated", "publisher": "Gazette",
     "text": "Grain from Odesa reached Egypt, officials said."},
]


@pytest.fixture(scope="module")
def dated(tmp_path_factory, embedder):
    from assistant.config import load_settings

    root = tmp_path_factory.mktemp("dated")
    src = root / "news.jsonl"
    src.write_text("\n".join(json.dumps(a) for a in ARTICLES))
    settings = load_settings(index=root / "index")
    ingest([src], settings=settings, embedder=embedder, progress=False)
    return Retriever(IndexReader(settings.index), embedder, settings), settings


def ids(hits):
    return sorted(h.doc_id for h in hits)


def test_filters_by_publisher_and_dates(dated):
    retriever, _ = dated
    q = "Odesa grain shipments"
    assert ids(retriever.search(q)) == ["g1", "n1", "w1", "w2"]
    assert ids(retriever.search(q, filters=Filters.create(publishers=["wire"]))) == ["w1", "w2"]
    assert ids(retriever.search(q, filters=Filters.create(since="2024-01-01"))) == ["g1", "w2"]
    assert ids(retriever.search(q, filters=Filters.create(until="2023-12-31"))) == ["w1"]
    both = Filters.create(publishers=["Gazette"], since="2024-01-01", until="2024-12-31")
    for mode in ("hybrid", "dense", "bm25"):
        assert ids(retriever.search(q, filters=both, mode=mode)) == ["g1"]
    assert retriever.search(q, filters=Filters.create(publishers=["Nobody"])) == []


def test_source_filter_and_cli_flags(seeds_index):
    out = run_cli("search", "--json", "Russia oil", "--index", str(seeds_index.index),
                  "--source", SEEDS[1], "-k", "20")
    assert out.returncode == 0, out.stderr
    results = json.loads(out.stdout)["results"]
    assert results and {r["doc_id"] for r in results} == {SEEDS[1]}


def test_hybrid_uses_both_retrievers(seeds_index, embedder):
    retriever = Retriever(IndexReader(seeds_index.index), embedder, seeds_index)
    hits = retriever.search("Who builds the Bushehr nuclear power plant?", k=5)
    assert hits[0].section == "IRAN" and "Bushehr" in hits[0].text
    assert {"dense", "bm25"} <= set(hits[0].scores)
    assert [h.rank for h in hits] == [1, 2, 3, 4, 5]
    assert all(a.score >= b.score for a, b in zip(hits, hits[1:]))


def test_reranker_reorders_the_fused_hits_and_can_be_turned_off(seeds_index, embedder):
    question = "Which company runs the Akkuyu plant?"
    plain = Retriever(IndexReader(seeds_index.index), embedder,
                      seeds_index.model_copy(update={"rerank": False}))
    fused = plain.search(question, k=10)
    # Without the reranker: fusion order, fusion score, no reranker score.
    assert plain.reranker is None and all("rerank" not in h.scores for h in fused)
    assert [h.scores["fused_rank"] for h in fused] == list(range(1, 11))
    assert all(h.score == h.scores["fused"] for h in fused)
    reranked = Retriever(IndexReader(seeds_index.index), embedder, seeds_index)
    hits = reranked.search(question, k=10)
    assert reranked.reranker is not None
    # The same candidates, ordered by the reranker's score, which becomes the hit's score.
    assert {h.chunk_id for h in hits} <= {h.chunk_id for h in plain.search(question, k=50)}
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert all(h.score == h.scores["rerank"] for h in hits)
    assert [h.rank for h in hits] == list(range(1, 11))
    expected = reranked.reranker.score(chunk_features(
        plain.search(question, k=DEPTH), embedder.embed([question])[0],
        reranked.reader.store.sentences([(h.doc_id, h.char_start, h.char_end)
                                         for h in plain.search(question, k=DEPTH)]),
        reranked.query_weights(question)))
    assert hits[0].score == pytest.approx(float(expected.max()), abs=1e-5)


@pytest.mark.parametrize("query,words", [("", "empty"), ("   ", "empty"), ("x" * 5000, "limit")])
def test_bad_queries(seeds_index, embedder, query, words):
    retriever = Retriever(IndexReader(seeds_index.index), embedder, seeds_index)
    with pytest.raises(QueryError, match=words):
        retriever.search(query)


def test_bad_filters():
    with pytest.raises(QueryError, match="since must be a date") as bad:
        Filters.create(since="March")
    assert bad.value.field == "since" and bad.value.worded({"since": "--since"}).startswith("--since")
    with pytest.raises(QueryError, match="after"):
        Filters.create(since="2024-05-01", until="2024-01-01")


def test_headline_less_document_shows_its_first_words_as_title(seeds_index, embedder):
    from assistant.service import Service

    retriever = Retriever(IndexReader(seeds_index.index), embedder, seeds_index)
    hits = retriever.search("sanctions against Russia isolated country", k=10)
    hit = next(h for h in hits if h.doc_id == SEEDS[0])
    # The file has no headline: its first words stand in (the file name stays the source).
    assert hit.title == "The sanctions imposed by the US and western countries sanctions…"
    assert hit.source == SEEDS[0]
    answer = Service(seeds_index, embedder=embedder).ask(
        "What were the Western sanctions against Russia intended to do?")
    assert answer.citations and all(c.title for c in answer.citations)


def test_sentences_of_many_ranges_match_one_range_at_a_time(seeds_index, monkeypatch):
    """The batched read (one statement per batch of ranges) gives each range exactly what a
    plain read of that range's rows gives: its sentences in order, and their vectors."""
    import numpy as np

    from assistant.index import store as store_module
    from assistant.index.store import dequantize

    store = IndexReader(seeds_index.index).store
    with store._reading() as conn:
        rows = conn.execute("SELECT doc_id, char_start, char_end FROM chunks").fetchall()
    # Whole documents, chunks, a range inside one sentence, a repeat and an unknown document.
    ranges = [tuple(r) for r in rows] + [(rows[0][0], 0, 10**9), (rows[0][0], 1, 2),
                                         tuple(rows[0]), ("no-such-doc", 0, 100)]
    monkeypatch.setattr(store_module, "SENTENCE_RANGES_PER_QUERY", 3)  # several batches
    together = store.sentences(ranges)
    assert set(together) == set(ranges)
    for key in ranges:
        with store._reading() as conn:  # the rows themselves, read one range at a time
            alone = conn.execute(
                "SELECT char_start, char_end, scale, vector FROM sentences WHERE doc_id = ? AND "
                "char_start >= ? AND char_end <= ? ORDER BY char_start", key).fetchall()
        spans, vecs = together[key]
        assert spans == [(r[0], r[1]) for r in alone] == sorted(spans)
        if alone:
            assert np.array_equal(vecs, dequantize([r[2] for r in alone], [r[3] for r in alone]))
        assert all(key[1] <= s and e <= key[2] for s, e in spans)
    assert together[("no-such-doc", 0, 100)][0] == []
    assert together[(rows[0][0], 1, 2)][0] == []
    whole = together[(rows[0][0], 0, 10**9)]
    assert len(whole[0]) > 1 and np.allclose(np.linalg.norm(whole[1], axis=1), 1.0, atol=1e-5)
