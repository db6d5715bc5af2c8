"""Embedding backends: int8 ONNX against fp32 torch, backend selection and fallback, the cache."""

from __future__ import annotations

import logging
import sys
from typing import Any

import numpy as np
import pytest

from assistant.embedding import (
    CachedEmbedder,
    OnnxEmbedder,
    SentenceTransformerEmbedder,
    load_embedder,
)
from assistant.errors import ModelError

from .conftest import CORPUS, SEEDS

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def texts() -> list[str]:
    """Real news text of every length: single words, sentences, whole paragraphs (>256 tokens)."""
    body = (CORPUS / SEEDS[0]).read_text(encoding="utf-8")
    lines = [x for x in body.split("\n") if x.strip()]
    return ["Rosatom", "Why did Putin attend the BRICS summit virtually?", *lines[:40],
            " ".join(lines[:12])]


def test_int8_onnx_is_within_cosine_099_of_fp32(texts: list[str]) -> None:
    onnx, torch = OnnxEmbedder(), SentenceTransformerEmbedder()
    assert onnx.model_id == torch.model_id and onnx.dim == torch.dim == 384
    a, b = onnx.embed(texts), torch.embed(texts)
    assert a.shape == b.shape == (len(texts), 384) and a.dtype == np.float32
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    cos = (a * b).sum(axis=1)
    assert cos.min() >= 0.99, cos.min()
    # Batching and length sorting do not change a text's vector.
    single = np.vstack([onnx.embed([t]) for t in texts[:5]])
    assert np.allclose(single, a[:5], atol=1e-5)
    assert onnx.embed([]).shape == (0, 384)


def test_backend_selection(make_settings: Any) -> None:
    assert isinstance(load_embedder(make_settings()), OnnxEmbedder)  # auto: onnx where it loads
    assert isinstance(load_embedder(make_settings(backend="torch")), SentenceTransformerEmbedder)
    with pytest.raises(ModelError, match="ASSISTANT_BACKEND=torch"):
        load_embedder(make_settings(backend="onnx", model="/some/other/model"))


def test_fallback_when_onnxruntime_is_missing(make_settings: Any, monkeypatch: pytest.MonkeyPatch,
                                              caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import fails as if not installed
    with caplog.at_level(logging.WARNING, logger="assistant"):
        embedder = load_embedder(make_settings())
    assert isinstance(embedder, SentenceTransformerEmbedder)
    assert "onnxruntime" in caplog.text and "sentence-transformers fp32" in caplog.text
    with pytest.raises(ModelError, match=r"needs onnxruntime \(pip install onnxruntime"):
        load_embedder(make_settings(backend="onnx"))


class Counting:
    """An embedder that records what it was asked to embed (the cache is what is tested)."""

    model_id, dim = "counting", 3

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def embed(self, texts: list[str]) -> np.ndarray:
        self.calls.append(list(texts))
        return np.array([[len(t), 1.0, 0.0] for t in texts], dtype=np.float32)


def test_cache_hits_and_eviction() -> None:
    inner = Counting()
    cache = CachedEmbedder(inner, size=3)
    first = cache.embed(["a", "bb", "a"])
    assert inner.calls == [["a", "bb"]] and first[0, 0] == first[2, 0] == 1
    again = cache.embed(["bb", "ccc", "a"])
    assert inner.calls[-1] == ["ccc"] and again[0, 0] == 2 and again[1, 0] == 3
    assert (cache.hits, cache.misses) == (2, 3)  # a text repeated within one call is one miss
    cache.embed(["dddd"])  # over size 3: the least recently used ("bb") goes
    cache.embed(["bb"])
    assert inner.calls[-1] == ["bb"]
    calls = len(inner.calls)
    cache.embed(["dddd", "ccc"])  # still cached: eviction dropped only the least recently used
    assert len(inner.calls) == calls


def test_cache_in_front_of_the_real_model(embedder: Any) -> None:
    cache = CachedEmbedder(embedder)
    q = ["Who builds the Bushehr nuclear power plant?"]
    assert np.array_equal(cache.embed(q), cache.embed(q)) and cache.hits == 1
    assert np.allclose(cache.embed(q), embedder.embed(q), atol=1e-6)
