"""Kept results: a repeated search or question is served again, never stale, never shared."""

from __future__ import annotations

import pytest

from assistant.config import load_settings
from assistant.errors import ConfigError
from assistant.ingest import ingest
from assistant.models import Document, Filters, ScoredHit
from assistant.service import Service
from assistant.service.results import ResultCache

from .conftest import CORPUS


def hit(n: int) -> ScoredHit:
    return ScoredHit(rank=n, score=1.0 / n, chunk_id=n, doc_id=f"d{n}", source=f"s{n}", title=None,
                     section=None, char_start=0, char_end=5, text="hello", scores={"fused": 0.5})


def test_keeps_the_newest_and_gives_copies() -> None:
    cache = ResultCache(2)
    calls: list[str] = []

    def work(key: str) -> list[ScoredHit]:
        calls.append(key)
        return [hit(len(calls))]

    first, kept = cache.get("a", lambda: work("a"))
    assert not kept and calls == ["a"]
    first[0].scores["fused"] = -1.0  # the caller changes its copy ...
    again, kept = cache.get("a", lambda: work("a"))
    assert kept and calls == ["a"] and again[0].scores["fused"] == 0.5  # ... not the kept one
    cache.get("b", lambda: work("b"))
    cache.get("a", lambda: work("a"))  # "a" is now the newest: "b" goes when "c" comes
    cache.get("c", lambda: work("c"))
    assert cache.get("a", lambda: work("a"))[1] and not cache.get("b", lambda: work("b"))[1]
    assert (cache.hits, cache.misses) == (3, 4)


def test_filters_key_holds_every_field_and_lists() -> None:
    by_hand = Filters(sources=["a/"], until="2024-01-01")  # type: ignore[arg-type]
    assert by_hand.key() == Filters.create(sources=["a/"], until="2024-01-01").key()
    assert hash(by_hand.key()) and by_hand.key() != Filters.create(sources=["a/"]).key()
    assert Filters(publishers=("P",)).key() != Filters(sources=("P",)).key()


def test_size_zero_works_every_request_out() -> None:
    cache = ResultCache(0)
    calls = []
    for _ in range(3):
        assert cache.get("a", lambda: calls.append(1) or [hit(1)])[1] is False
    assert len(calls) == 3
    with pytest.raises(ValueError, match="0 \\(off\\) or more"):
        ResultCache(-1)


@pytest.mark.slow
def test_service_serves_a_repeat_from_the_live_generation_only(tmp_path, embedder) -> None:
    settings = load_settings(index=tmp_path / "index")
    ingest([CORPUS], settings=settings, embedder=embedder, progress=False)
    service = Service(settings, embedder).load()
    query = "tankers waiting at the Bosporus"
    first = service.search(query, k=3)
    assert len(first) == 3
    first[0].scores["fused"] = -1.0  # a caller's change to its copy ...
    again = service.search(query, k=3)
    assert again[0].scores["fused"] > 0 and [h.chunk_id for h in again] == [
        h.chunk_id for h in first]  # ... is not in the kept one
    assert service.search(query, k=2) == again[:2]  # another request: worked out, not kept
    assert len(service.search(query, k=50)) > 3  # deeper than the default k: never kept
    with service.index.lease(embedder) as gen:
        assert (gen.results.hits, gen.results.misses) == (1, 2)

    question = "Who builds the Bushehr nuclear power plant?"
    answer = service.ask(question)
    assert not answer.abstained and "cached" not in answer.timings_ms
    answer.quotes[0].text = "changed by the caller"
    again = service.ask(question)
    assert again.quotes[0].text != "changed by the caller" and again.answer == answer.answer
    assert set(again.timings_ms) == {"cached", "total"}
    dated = service.ask(question, filters=Filters.create(until="1990-01-01"))
    assert dated.abstained  # the filter is part of the request: no kept answer reused
    by_hand = Filters(sources=["no-such-source"])  # type: ignore[arg-type] - lists, as callers do
    assert service.search(query, k=3, filters=by_hand) == []

    # A write makes a new generation, which starts empty: the repeat sees the new document.
    service.add_documents([Document(doc_id="note-1", source="note-1", text=(
        "Shipping note: dozens of tankers were waiting at the Bosporus for four days."))])
    assert service.search(query, k=3)[0].doc_id == "note-1"

    # Off (as timings want it, or by the setting): nothing kept.
    for off in (Service(settings, embedder, cache=False),
                Service(settings.model_copy(update={"result_cache": 0}), embedder)):
        off.load()
        off.search(query, k=3)
        assert "cached" not in off.ask(question).timings_ms
        assert "cached" not in off.ask(question).timings_ms
        with off.index.lease(embedder) as gen:
            assert gen.results.size == 0 and gen.results.hits == 0
        off.close()
    service.close()


def test_setting_from_the_environment(monkeypatch) -> None:
    monkeypatch.setenv("ASSISTANT_RESULT_CACHE", "0")
    assert load_settings().result_cache == 0
    monkeypatch.setenv("ASSISTANT_RESULT_CACHE", "-1")
    with pytest.raises(ConfigError, match="ASSISTANT_RESULT_CACHE"):
        load_settings()


def test_kept_stems_give_the_features_stemming_gives(seeds_index, embedder, monkeypatch) -> None:
    """The reranker's features from a generation's kept chunk stems equal those of stemming each
    chunk again, also once the memo has been started afresh at its bound."""
    import numpy as np

    from assistant.index import IndexReader
    from assistant.search import Retriever
    from assistant.search import retrieval as retrieval_module
    from assistant.search.rerank import chunk_features

    retriever = Retriever(IndexReader(seeds_index.index), embedder, seeds_index)
    query = "Who builds the Bushehr nuclear power plant?"
    hits = retriever.search(query, k=8, mode="dense")
    qvec = embedder.embed([query])[0]
    stored = retriever.reader.store.sentences([(h.doc_id, h.char_start, h.char_end) for h in hits])
    weights = retriever.query_weights(query)
    fresh = chunk_features(hits, qvec, stored, weights)
    for _ in range(2):  # the second pass reads every one back from what the first kept
        kept = [retriever._chunk_stems(h) for h in hits]
        np.testing.assert_array_equal(chunk_features(hits, qvec, stored, weights, stems=kept),
                                      fresh)
    assert set(retriever._stems) == {h.chunk_id for h in hits}
    monkeypatch.setattr(retrieval_module, "STEMS_KEPT", 3)  # past the bound: start afresh
    retriever._stems.clear()
    kept = [retriever._chunk_stems(h) for h in hits]
    np.testing.assert_array_equal(chunk_features(hits, qvec, stored, weights, stems=kept), fresh)
    assert 0 < len(retriever._stems) <= 3
