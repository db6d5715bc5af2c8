"""FAISS index kinds: flat, fp16, sq8 and ivf-sq8 store, search, remove and convert by chunk
id."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from assistant.index import KINDS, IndexReader, VectorIndex
from assistant.index import generations as index_module
from assistant.ingest import ingest, remove
from assistant.search import Retriever

from .conftest import CORPUS, SEEDS


def unit(n: int, seed: int = 0) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal((n, 64)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


@pytest.mark.parametrize("kind", KINDS)
def test_kinds_search_remove_reconstruct(kind: str, tmp_path: Any) -> None:
    vecs = unit(2000)
    index = VectorIndex(64, kind=kind, train=vecs)
    ids = list(range(1000, 3000))
    index.add(ids, vecs)
    assert index.kind == kind and len(index) == 2000
    hits = index.search(vecs[7], 5)
    assert hits[0][0] == 1007 and hits[0][1] > 0.95  # itself, cosine ~1 (quantised: close)
    assert np.dot(index.reconstruct(1007), vecs[7]) > 0.99
    assert index.search(vecs[7], 5, allowed=[1008, 1009])[0][0] in (1008, 1009)
    assert {i for i, _ in index.search(vecs[7], 5, allowed=[1008, 1009])} == {1008, 1009}
    assert index.remove([1007, 1500]) == 2 and len(index) == 1998
    assert 1007 not in {i for i, _ in index.search(vecs[7], 5)}
    index.save(tmp_path / "v.faiss")
    again = VectorIndex.load(tmp_path / "v.faiss")
    assert again.kind == kind and again.search(vecs[8], 1)[0][0] == 1008
    got_ids, got = again.all_vectors()
    assert sorted(got_ids.tolist()) == sorted(set(ids) - {1007, 1500}) and got.shape == (1998, 64)


def test_half_precision_ranks_as_flat_does() -> None:
    """fp16 keeps each float to about 3 significant digits: of 50 hits out of 5,000 unit
    vectors, each rank's score is flat's within 1e-3, and where two swap places they were that
    close (random vectors have many near ties)."""
    vecs = unit(5000, seed=1)
    flat, half = VectorIndex(64, kind="flat"), VectorIndex(64, kind="fp16")
    for index in (flat, half):
        index.add(list(range(5000)), vecs)
    for q in unit(20, seed=2):
        exact, approx = flat.search(q, 50), half.search(q, 50)
        assert max(abs(a - b) for (_, a), (_, b) in zip(exact, approx, strict=True)) < 1e-3
        true_score = {i: float(vecs[i] @ q) for i, _ in approx}
        assert all(true_score[i] > s - 2e-3 for (i, _), (_, s) in zip(approx, exact, strict=True))
        assert approx[0][0] == exact[0][0] or abs(exact[0][1] - exact[1][1]) < 2e-3
        assert len({i for i, _ in approx} & {i for i, _ in exact}) >= 48


def test_auto_moves_up_the_kinds_and_never_back_down(monkeypatch: Any) -> None:
    """A flat index (built before fp16 was the default) is re-encoded once at its next write
    under `auto`; ivf-sq8 past the size limit, and never brought back down; a hand-set sq8 is
    kept; a kind set by hand is kept or converted to."""
    monkeypatch.setattr(index_module, "COMPRESS_ABOVE", 100)
    target = index_module.target_kind
    assert target("auto", "flat", 10) == "fp16"
    assert target("auto", "fp16", 10) is None
    assert target("auto", "fp16", 101) == "ivf-sq8"
    assert target("auto", "ivf-sq8", 10) is None
    assert target("auto", "sq8", 10) is None  # a hand-set sq8 is not doubled back to fp16
    assert target("auto", "sq8", 101) == "ivf-sq8"
    assert target("flat", "fp16", 10) == "flat" and target("sq8", "sq8", 10) is None


def test_unknown_kind() -> None:
    with pytest.raises(ValueError, match="flat, fp16, sq8, ivf-sq8"):
        VectorIndex(8, kind="hnsw")


@pytest.mark.slow
def test_compressed_kinds_end_to_end(make_settings: Any, embedder: Any, monkeypatch: Any) -> None:
    """Set by hand, or chosen by `auto` past the size limit: the index answers like flat."""
    flat = make_settings(index=make_settings().index.parent / "flat", vector_index="flat")
    ingest([CORPUS], settings=flat, embedder=embedder, progress=False)
    assert IndexReader(flat.index).vectors.kind == "flat"
    query = "Who builds the Bushehr nuclear power plant?"
    expected = Retriever(IndexReader(flat.index), embedder, flat).search(query, k=1)[0].chunk_id

    # The default: half-precision vectors, the same hits as flat.
    half = make_settings(index=flat.index.parent / "half")
    ingest([CORPUS], settings=half, embedder=embedder, progress=False)
    reader = IndexReader(half.index)
    assert reader.vectors.kind == "fp16"
    flat_hits = Retriever(IndexReader(flat.index), embedder, flat).search(query, k=5)
    half_hits = Retriever(reader, embedder, half).search(query, k=5)
    assert [h.chunk_id for h in half_hits] == [h.chunk_id for h in flat_hits]

    sq8 = make_settings(index=flat.index.parent / "sq8", vector_index="sq8")
    ingest([CORPUS], settings=sq8, embedder=embedder, progress=False)
    reader = IndexReader(sq8.index)
    assert reader.vectors.kind == "sq8"
    assert Retriever(reader, embedder, sq8).search(query, k=1)[0].chunk_id == expected

    monkeypatch.setattr(index_module, "COMPRESS_ABOVE", 10)
    auto = make_settings(index=flat.index.parent / "auto")
    ingest([CORPUS], settings=auto, embedder=embedder, progress=False)
    reader = IndexReader(auto.index)
    assert reader.vectors.kind == "ivf-sq8" and len(reader.vectors) == reader.manifest.counts["chunks"]
    assert Retriever(reader, embedder, auto).search(query, k=1)[0].chunk_id == expected
    before = len(reader.vectors)
    remove([SEEDS[0]], settings=auto)
    reader = IndexReader(auto.index)
    assert reader.vectors.kind == "ivf-sq8" and len(reader.vectors) == reader.manifest.counts["chunks"]
    assert len(reader.vectors) < before
    hits = Retriever(reader, embedder, auto).search(query, k=5)
    assert hits and all(h.doc_id != SEEDS[0] for h in hits)


def test_a_search_from_any_thread_keeps_to_the_set_thread_count() -> None:
    """OpenMP keeps its thread count per calling thread: a server's worker threads must not
    search with every core (their idle OpenMP threads spin beside BM25 and the encoder)."""
    import threading

    import faiss

    from assistant.index import set_search_threads

    index = VectorIndex(64)
    index.add(list(range(100)), unit(100))
    set_search_threads(1)
    seen: list[int] = []

    def search() -> None:
        index.search(unit(1, seed=1)[0], 5)
        seen.append(faiss.omp_get_max_threads())

    worker = threading.Thread(target=search)
    worker.start()
    worker.join()
    assert seen == [1]


def test_concurrent_reads_of_a_live_generation_agree(seeds_index, embedder) -> None:
    """Request threads read one generation's store at once (pooled connections) and each gets
    exactly what a lone reader gets."""
    from concurrent.futures import ThreadPoolExecutor

    reader = IndexReader(seeds_index.index)
    try:
        retriever = Retriever(reader, embedder, seeds_index)
        queries = ["Bushehr nuclear power plant", "drones supplied to Russia", "trade with China",
                   "Belarus Lukashenko", "Ramaphosa BRICS summit", "oil exports India"] * 5
        alone = [[h.chunk_id for h in retriever.search(q)] for q in queries]
        with ThreadPoolExecutor(8) as pool:
            together = list(pool.map(lambda q: [h.chunk_id for h in retriever.search(q)], queries))
        assert together == alone
    finally:
        reader.close()
    with pytest.raises(Exception, match="closed"):
        reader.store.get_document(SEEDS[0])
