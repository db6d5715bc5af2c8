"""Near-duplicate documents (the same wire story republished), by MinHash over word shingles."""

from __future__ import annotations

import re

from datasketch import MinHash

SHINGLE_WORDS = 5
NUM_PERM = 128
THRESHOLD = 0.7  # estimated Jaccard similarity of shingle sets at which two texts are one story
_WORD = re.compile(r"\w+", re.UNICODE)


def signature(text: str) -> MinHash:
    """The MinHash of a text's 5-word shingles (lower-cased words)."""
    words = _WORD.findall(text.lower())
    shingles = {" ".join(words[i : i + SHINGLE_WORDS])
                for i in range(max(1, len(words) - SHINGLE_WORDS + 1))}
    m = MinHash(num_perm=NUM_PERM, seed=1)
    m.update_batch([s.encode("utf-8") for s in shingles])
    return m


def groups(texts: dict[str, str], threshold: float = THRESHOLD) -> list[list[str]]:
    """Ids grouped so that near-duplicates share a group (single link), in first-seen order."""
    ids = list(texts)
    sigs = {i: signature(texts[i]) for i in ids}
    parent = {i: i for i in ids}

    def find(i: str) -> str:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for a_pos, a in enumerate(ids):
        for b in ids[a_pos + 1 :]:
            if sigs[a].jaccard(sigs[b]) >= threshold:
                parent[find(b)] = find(a)
    out: dict[str, list[str]] = {}
    for i in ids:
        out.setdefault(find(i), []).append(i)
    return list(out.values())
