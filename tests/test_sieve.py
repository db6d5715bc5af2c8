"""The 8-bit sieve of a live generation's flat and fp16 vectors: the same hits and scores as an
exhaustive search, built in the background once searches have paid for it, and dropped when
the vectors change or the generation closes."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pytest

from assistant.index import VectorIndex
from assistant.index import vectors as vectors_module


def clustered(n: int, dim: int = 64, seed: int = 0) -> np.ndarray:
    """Unit vectors around a few centres, so near neighbours crowd each other (as news does)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((20, dim))
    v = centres[rng.integers(0, 20, n)] + 0.6 * rng.standard_normal((n, dim))
    return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture
def small_sieves(monkeypatch: Any) -> None:
    monkeypatch.setattr(vectors_module, "SIEVE_ABOVE", 500)


def filled(kind: str, n: int = 3000) -> tuple[VectorIndex, np.ndarray]:
    vecs = clustered(n)
    index = VectorIndex(64, kind=kind)
    index.add(list(range(10_000, 10_000 + n)), vecs)
    return index, vecs


@pytest.mark.parametrize("kind", ["flat", "fp16"])
@pytest.mark.usefixtures("small_sieves")
def test_sieved_searches_give_the_exhaustive_hits_and_scores(kind: str) -> None:
    index, vecs = filled(kind)
    queries = clustered(60, seed=1)
    exhaustive = {k: [index.search(q, k) for q in queries] for k in (1, 10, 100)}
    assert index.keep_sieve()
    sieve, consulted = index._sieve, []
    real = sieve.search
    sieve.search = lambda q, k: consulted.append(k) or real(q, k)  # type: ignore[method-assign]
    for k, expected in exhaustive.items():
        assert [index.search(q, k) for q in queries] == expected
    assert len(consulted) == 3 * len(queries)  # the sieve picked every one's candidates
    assert index.search(vecs[5], 1)[0][0] == 10_005  # a stored vector finds itself first
    # Filtered searches keep the exhaustive path and its filter.
    consulted.clear()
    assert {i for i, _ in index.search(vecs[5], 5, allowed=[10_007, 10_008])} == {10_007, 10_008}
    assert consulted == []
    # A query of zeros has no byte scale: the exhaustive search answers it.
    zero = np.zeros(64, np.float32)
    assert len(index.search(zero, 4)) == 4


@pytest.mark.usefixtures("small_sieves")
def test_only_large_flat_and_fp16_indexes_keep_a_sieve() -> None:
    assert not filled("fp16", 400)[0].keep_sieve()  # below SIEVE_ABOVE
    vecs = clustered(1000)
    sq8 = VectorIndex(64, kind="sq8", train=vecs)
    sq8.add(list(range(1000)), vecs)
    assert not sq8.keep_sieve()


@pytest.mark.usefixtures("small_sieves")
def test_a_live_generation_builds_its_sieve_once_searches_have_paid_for_it(monkeypatch: Any) -> None:
    index, vecs = filled("fp16")
    index.search(vecs[0], 10)
    assert index._sieve is None  # no budget: a writer's or a one-off command's index never builds
    monkeypatch.setattr(vectors_module, "SIEVE_SECONDS_PER_VECTOR", 1e-9)  # ~one search's worth
    index.sieve_when_worth_it()
    expected = [index.search(q, 10) for q in vecs[:20]]
    deadline = time.monotonic() + 30
    while index._sieve is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert index._sieve is not None and len(index._sieve) == 3000
    assert [index.search(q, 10) for q in vecs[:20]] == expected


@pytest.mark.usefixtures("small_sieves")
def test_changes_and_closing_drop_the_sieve() -> None:
    index, vecs = filled("fp16")
    assert index.keep_sieve()
    index.add([1], clustered(1, seed=3))
    assert index._sieve is None  # it held the vectors as they were
    assert index.search(clustered(1, seed=3)[0], 1)[0][0] == 1
    assert index.keep_sieve()
    assert index.remove([1]) == 1 and index._sieve is None
    assert index.keep_sieve()
    index.close()
    assert index._sieve is None


def test_a_served_archive_sieves_and_answers_as_before(seeds_index: Any, embedder: Any,
                                                        monkeypatch: Any) -> None:
    """Through a real generation (IndexReader): the reader asks for a sieve, and once kept the
    retriever's hits are the same."""
    from assistant.index import IndexReader

    monkeypatch.setattr(vectors_module, "SIEVE_ABOVE", 1)
    reader = IndexReader(seeds_index.index)
    try:
        assert reader.vectors._sieve_budget is not None  # a live generation wants one
        q = embedder.embed(["How many people live in the city?"])[0]
        before = reader.vectors.search(q, 5)
        assert reader.vectors.keep_sieve()
        assert reader.vectors.search(q, 5) == before
    finally:
        reader.close()
