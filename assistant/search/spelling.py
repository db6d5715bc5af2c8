"""Spelling correction of queries against the corpus's own vocabulary."""

from __future__ import annotations

import re
from collections.abc import Collection

from rapidfuzz import distance, process

from assistant.index import DocumentStore

_WORD = re.compile(r"\w+", re.UNICODE)
MIN_LENGTH = 4  # shorter words have too many neighbours to correct safely


def correct(text: str, store: DocumentStore, dictionary: Collection[str] = frozenset()) -> str:
    """`text` with each misspelt word replaced by its closest word in the corpus.

    A word is taken as misspelt when neither the corpus nor `dictionary` (real words, e.g. the
    embedding model's vocabulary) knows it: "tanks" stays "tanks" even in a corpus that only
    speaks of "talks". One edit for words of 4-7 letters, two for longer ones; among equally
    close words the most common wins. The case of the first letter is kept.
    """
    out: list[str] = []
    last = 0
    for m in _WORD.finditer(text):
        word = m.group()
        low = word.lower()
        fixed = word
        if len(low) >= MIN_LENGTH and low.isalpha() and low not in dictionary \
                and store.word_df(low) == 0:
            budget = 1 if len(low) < 8 else 2
            vocab = store.words_like(low, budget)
            best = process.extract(low, list(vocab), scorer=distance.DamerauLevenshtein.distance,
                                   score_cutoff=budget, limit=None)
            if best:
                top = min(best, key=lambda b: (b[1], -vocab[b[0]]))[0]
                fixed = top.capitalize() if word[0].isupper() else top
        out.append(text[last : m.start()] + fixed)
        last = m.end()
    out.append(text[last:])
    return "".join(out)
