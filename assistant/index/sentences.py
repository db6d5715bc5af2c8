"""A live generation's stored sentences held in memory: their spans and int8 vectors.

Every reranked search reads the stored sentences of its 50 chunks (their vectors say how close
each chunk's best sentence comes to the query), and `ask` those of its 20. From SQLite that is
a 50-way statement and a few hundred rows of blobs, about 2 ms a search on a 36,000-chunk
archive; from these arrays, a slice per chunk. A generation never changes once live, so the
copy never goes stale.
"""

from __future__ import annotations

import sqlite3

import numpy as np

# One row a sentence: (doc_id, char_start, char_end, scale, vector), grouped by document and in
# document order (the table's primary key), as `SentenceVectors.read` fetches them.
ROWS_SQL = ("SELECT doc_id, char_start, char_end, scale, vector FROM sentences "
            "ORDER BY doc_id, char_start")
FETCH = 20_000  # rows fetched at a time (a whole table at once would double the peak memory)


class SentenceVectors:
    """Per document, its sentences' spans (ascending) and int8 codes with one scale a row."""

    def __init__(self, docs: dict[str, tuple[int, int]], starts: np.ndarray, ends: np.ndarray,
                 scales: np.ndarray, codes: np.ndarray) -> None:
        self.docs = docs  # doc_id -> (first row, row after its last)
        self.starts = starts
        self.ends = ends
        self.scales = scales
        self.codes = codes
        # Each row's document ordinal and start as one number, ascending (the table's primary
        # key), so that the rows of many ranges are found by binary searches all at once.
        self._ordinal = {doc: n for n, doc in enumerate(docs)}
        ordinals = np.zeros(len(starts), np.int64)
        for n, (lo, hi) in enumerate(docs.values()):
            ordinals[lo:hi] = n
        self._keys = (ordinals << 32) + starts

    def __len__(self) -> int:
        return len(self.starts)

    @property
    def nbytes(self) -> int:
        """Memory held by the arrays (the document dictionaries aside)."""
        return sum(a.nbytes for a in (self.starts, self.ends, self.scales, self.codes,
                                      self._keys))

    @classmethod
    def read(cls, conn: sqlite3.Connection) -> SentenceVectors:
        """Every row of the `sentences` table on `conn`."""
        (n,) = conn.execute("SELECT count(*) FROM sentences").fetchone()
        docs: dict[str, tuple[int, int]] = {}
        starts, ends = np.zeros(n, np.int64), np.zeros(n, np.int64)
        scales = np.zeros(n, np.float32)
        codes: np.ndarray | None = None
        doc, first, at = None, 0, 0
        cur = conn.execute(ROWS_SQL)
        while (rows := cur.fetchmany(FETCH)) and at < n:
            rows = rows[: n - at]  # the file never changes; this only guards the arrays
            for doc_id, _, _, _, _ in rows:
                if doc_id != doc:
                    if doc is not None:
                        docs[doc] = (first, at)
                    doc, first = doc_id, at
                at += 1
            lo = at - len(rows)
            starts[lo:at] = [r[1] for r in rows]
            ends[lo:at] = [r[2] for r in rows]
            scales[lo:at] = [r[3] for r in rows]
            if codes is None:  # filled in place: the whole table as one buffer would double it
                codes = np.zeros((n, len(rows[0][4])), np.int8)
            codes[lo:at] = np.frombuffer(b"".join(r[4] for r in rows), np.int8).reshape(
                len(rows), -1)
        if doc is not None:
            docs[doc] = (first, at)
        return cls(docs, starts[:at], ends[:at], scales[:at],
                   codes[:at] if codes is not None else np.zeros((0, 0), np.int8))

    def rows(self, ranges: list[tuple[str, int, int]]) -> tuple[np.ndarray, list[int]]:
        """The rows of the sentences inside each (doc_id, start, end) range, as `Store.sentences`
        selects them (char_start >= start and char_end <= end), range after range in document
        order; and how many each range has."""
        ordinals = np.array([self._ordinal.get(d, -1) for d, _, _ in ranges], np.int64)
        starts = np.array([s for _, s, _ in ranges], np.int64)
        ends = np.array([e for _, _, e in ranges], np.int64)
        # The rows starting inside the range are a run; of those, the ones that also end in it
        # (almost all: a sentence can reach past a chunk's end, or hold another one).
        first = np.searchsorted(self._keys, (ordinals << 32) + starts, side="left")
        stop = np.searchsorted(self._keys, (ordinals << 32) + ends, side="left")
        counts = np.where(ordinals >= 0, np.maximum(stop - first, 0), 0)
        before = np.cumsum(counts) - counts
        rows = np.repeat(first - before, counts) + np.arange(int(counts.sum()))
        owner = np.repeat(np.arange(len(ranges)), counts)
        inside = self.ends[rows] <= ends[owner]
        return rows[inside], np.bincount(owner[inside], minlength=len(ranges)).tolist()
