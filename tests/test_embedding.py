"""Embedding backends: int8 ONNX against fp32 torch, backend selection and fallback, the cache."""

from __future__ import annotations

import json
import logging
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from assistant.embedding import (
    CachedEmbedder,
    OnnxEmbedder,
    SentenceTransformerEmbedder,
    load_embedder,
    quantize,
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
    assert onnx.model_file.name.startswith("all-MiniLM-L6-v2-int8-r")  # the local build
    a, b = onnx.embed(texts), torch.embed(texts)
    assert a.shape == b.shape == (len(texts), 384) and a.dtype == np.float32
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    cos = (a * b).sum(axis=1)
    assert cos.min() >= 0.99, cos.min()
    # A text's vector does not depend on what it is embedded with, nor on thread counts: a query
    # embedded alone matches the same words embedded during ingest exactly.
    single = np.vstack([onnx.embed([t]) for t in texts[:5]])
    assert np.array_equal(single, a[:5])
    assert np.array_equal(OnnxEmbedder(threads=1).embed(texts), a)
    assert np.array_equal(onnx.embed(texts[::-1]), a[::-1])
    assert onnx.embed([]).shape == (0, 384)


@pytest.mark.parametrize(("machine", "flags", "reduce"), [
    ("x86_64", "fpu sse2 avx2 fma", True),               # AVX2 only (a Zen 3 EPYC): 7-bit weights
    ("x86_64", "fpu avx2 avx512f avx512_vnni", False),   # VNNI: the full int8 range
    ("x86_64", "fpu avx2 avx_vnni", False),
    ("aarch64", "fp asimd asimddp", False),              # ARM: no saturating pairs
    ("x86_64", None, True),                              # no /proc/cpuinfo: the safe range
])
def test_int8_weights_use_7_bits_on_x86_without_vnni(tmp_path: Path, monkeypatch, machine: str,
                                                     flags: str | None, reduce: bool) -> None:
    info = tmp_path / "cpuinfo"
    if flags is not None:
        info.write_text(f"processor\t: 0\nflags\t\t: {flags}\n")
    monkeypatch.setattr(quantize, "CPUINFO", info)
    monkeypatch.setattr(quantize.platform, "machine", lambda: machine)
    assert quantize.needs_reduce_range() is reduce
    # The two kinds of build never share a cache file.
    monkeypatch.setattr(quantize, "needs_reduce_range", lambda: not reduce)
    other = quantize.cached_path(tmp_path)
    monkeypatch.undo()
    monkeypatch.setattr(quantize, "needs_reduce_range", lambda: reduce)
    assert quantize.cached_path(tmp_path) != other


def test_int8_build_is_quantised_checked_and_cached(tmp_path: Path) -> None:
    import onnx as onnx_lib

    # Built by the script setup runs, into a given cache folder; it prints the path.
    run = subprocess.run([sys.executable, "-m", "assistant.embedding.quantize", "--cache-dir", str(tmp_path)],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    path = Path(run.stdout.strip())
    assert path == quantize.cached_path(tmp_path) and path.is_file()
    assert "building the int8 embedding model" in run.stderr
    assert list(tmp_path.iterdir()) == [path]  # no temporary files left behind
    built = onnx_lib.load(str(path))
    graph = built.graph
    ops = {n.op_type for n in graph.node}
    # Integer kernels, not int8 storage dequantised to fp32; attention fused and quantised.
    assert {"MatMulInteger", "QAttention", "DynamicQuantizeLinear"} <= ops, ops
    # Skip + layer norm stays plain ops, in the file and in what a session runs of it (its
    # fused kernel is the slow one; onnxruntime would fuse them again at load).
    assert "SkipLayerNormalization" not in ops and "LayerNormalization" in ops, ops
    import onnxruntime as ort

    from assistant.embedding.model import open_session

    opts = ort.SessionOptions()
    opts.optimized_model_filepath = str(tmp_path / "as-run" / "model.onnx")
    (tmp_path / "as-run").mkdir()
    open_session(str(path), opts)
    run_ops = {n.op_type for n in onnx_lib.load(opts.optimized_model_filepath).graph.node}
    assert "SkipLayerNormalization" not in run_ops and "LayerNormalization" in run_ops, run_ops
    default = tmp_path / "as-run" / "default.onnx"
    opts.optimized_model_filepath = str(default)
    ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    # (Without open_session's exclusion it would be fused again: the exclusion is what holds.)
    assert "SkipLayerNormalization" in {n.op_type for n in onnx_lib.load(str(default)).graph.node}
    # Only the outlier channels of three feed-forward projections are multiplied in fp32.
    sizes = {i.name: tuple(i.dims) for i in graph.initializer}
    fp32 = [sizes.get(n.input[1]) for n in graph.node if n.op_type == "MatMul"]
    assert fp32 == [(quantize.OUTLIER_CHANNELS, 384)] * len(quantize.OUTLIER_LAYERS), fp32
    # The fp32 probe vectors travel inside the model, for the check at every load.
    meta = {p.key: p.value for p in built.metadata_props}
    assert len(json.loads(meta[quantize.PROBES_KEY])) == len(quantize.PROBES)
    stamp = path.stat().st_mtime_ns
    assert quantize.ensure(tmp_path) == path and path.stat().st_mtime_ns == stamp  # reused
    embedder = OnnxEmbedder(cache_dir=tmp_path)
    assert embedder.model_file == path
    # The stored fp32 probes are what this embedder computes for the same texts, within 0.99.
    stored = np.array(json.loads(meta[quantize.PROBES_KEY]), dtype=np.float32)
    assert quantize.agreement(embedder.embed(quantize.PROBES), stored) >= quantize.MIN_COSINE


def test_outlier_split_is_exact_before_quantising(tmp_path: Path, texts: list[str]) -> None:
    # Step 3 permutes channels and splits three products in two: in fp32 it must change nothing,
    # so all the int8 build loses is rounding.
    from transformers import AutoModel

    from assistant.embedding.model import load_tokenizer, open_session, pooled_vector, resolve_model

    fp32, fused, split = (tmp_path / n for n in ("fp32.onnx", "fused.onnx", "split.onnx"))
    quantize._export(AutoModel.from_pretrained(resolve_model("all-MiniLM-L6-v2")[1],
                                               attn_implementation="eager").eval(), fp32)
    quantize._fuse(fp32, fused)
    tokenizer = load_tokenizer()
    fp32_products = quantize._split_outliers(fused, split, tokenizer)
    assert len(fp32_products) == len(quantize.OUTLIER_LAYERS)
    before, after = ([pooled_vector(s, e.ids) for e in tokenizer.encode_batch(texts)]
                     for s in (open_session(str(m)) for m in (fused, split)))
    assert np.abs(np.array(before) - np.array(after)).max() < 1e-5
    # The split really happened: the three whole products are gone.
    import onnx as onnx_lib

    model = onnx_lib.load(str(split))
    names = {n.name for n in model.graph.node}
    assert set(fp32_products) <= names
    assert not [n for n in names for i in quantize.OUTLIER_LAYERS
                if n.endswith(f"layer.{i}/output/dense/MatMul")]
    # And the fp32 side holds the largest channels: each of them at least as large on the
    # probes as any channel left to int8.
    slices = {n.name: n.output[0] for n in model.graph.node if n.op_type == "Slice"}
    peaks = dict(zip(slices, quantize.channel_peaks(model, list(slices.values()), tokenizer),
                     strict=True))
    for k in range(len(quantize.OUTLIER_LAYERS)):
        bulk = peaks[f"outliers_{k}/SliceBulk"]
        outliers = peaks[f"outliers_{k}/SliceOutliers"]
        assert outliers.size == quantize.OUTLIER_CHANNELS
        assert outliers.min() >= bulk.max()


def _with_probes_negated(built: Path, dest: Path) -> None:
    """`built` written to `dest` with its stored fp32 probe vectors turned round, as if built on
    a CPU whose int8 kernels round differently from this one's."""
    import onnx as onnx_lib

    model = onnx_lib.load(str(built))
    for prop in model.metadata_props:
        if prop.key == quantize.PROBES_KEY:
            prop.value = json.dumps((-np.array(json.loads(prop.value))).tolist())
    onnx_lib.save(model, str(dest))


def test_an_explicit_model_file_is_that_file_or_an_error(tmp_path: Path) -> None:
    # bench/embedders.py --also measures another build beside the default one: never a
    # stand-in under its name.
    with pytest.raises(ModelError, match=r"no ONNX model at .*none\.onnx"):
        OnnxEmbedder(model_file=tmp_path / "none.onnx")
    default = OnnxEmbedder()
    copy = tmp_path / "copy.onnx"
    copy.write_bytes(default.model_file.read_bytes())
    other = OnnxEmbedder(model_file=copy)
    assert other.model_file == copy
    assert np.array_equal(other.embed(["Rosatom"]), default.embed(["Rosatom"]))
    with pytest.raises(ModelError, match="model_file alone"):
        OnnxEmbedder(model_file=copy, prebuilt=True)
    # A build whose probes disagree here is refused, not swapped for the prebuilt model.
    _with_probes_negated(copy, copy)
    with pytest.raises(ModelError, match="agrees with fp32 only"):
        OnnxEmbedder(model_file=copy)


def test_a_build_that_disagrees_on_this_cpu_is_not_used(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    # As if the model had been built on another CPU (a Docker image) whose int8 kernels round
    # differently: its stored fp32 probe vectors no longer match what this machine computes.
    _with_probes_negated(OnnxEmbedder().model_file, quantize.cached_path(tmp_path))
    with caplog.at_level(logging.WARNING, logger="assistant"):
        embedder = OnnxEmbedder(cache_dir=tmp_path)
    assert re.search(r"on this CPU the int8 build agrees with fp32 only to cosine -0\.99\d+ "
                     r"\(needs 0\.99\); running the prebuilt int8 model", caplog.text), caplog.text
    assert embedder.model_file.name == "model.onnx"  # the prebuilt copy


def test_prebuilt_model_when_the_build_cannot_be_made(
        tmp_path: Path, texts: list[str], monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setitem(sys.modules, "onnx", None)  # the quantisation tools cannot load
    with caplog.at_level(logging.WARNING, logger="assistant"):
        embedder = OnnxEmbedder(cache_dir=tmp_path)
    assert "building the int8 model needs onnx" in caplog.text
    assert "prebuilt int8 model" in caplog.text
    assert embedder.model_file.name == "model.onnx" and not any(tmp_path.iterdir())
    cos = (embedder.embed(texts[:10]) * SentenceTransformerEmbedder().embed(texts[:10])).sum(1)
    assert cos.min() >= 0.99


def test_a_build_that_disagrees_with_fp32_is_refused(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(quantize, "MIN_COSINE", 1.01)  # no int8 build can reach this
    with pytest.raises(ModelError, match=r"agrees with fp32 only to cosine 0\.99\d+ \(needs 1\.01\)"):
        quantize.ensure(tmp_path)
    assert not any(tmp_path.iterdir())  # nothing half-made is left to be picked up later


def test_backend_selection(make_settings: Any) -> None:
    assert isinstance(load_embedder(make_settings()), OnnxEmbedder)  # auto: onnx where it loads
    assert isinstance(load_embedder(make_settings(backend="torch")), SentenceTransformerEmbedder)
    with pytest.raises(ModelError, match="ASSISTANT_BACKEND=torch"):
        load_embedder(make_settings(backend="onnx", model="/some/other/model"))
    with pytest.raises(ModelError, match="threads must be at least 1, got 0"):
        OnnxEmbedder(threads=0)


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

    model_id, dim, vocabulary = "counting", 3, frozenset({"alpha"})

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
