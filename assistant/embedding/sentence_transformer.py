"""Any sentence-transformers model by name or local path, run by torch (fp32)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import numpy as np

from assistant.config import DEFAULT_MODEL
from assistant.embedding.model import resolve_model
from assistant.errors import ModelError

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer


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
