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
# document order (the table's primary key).
ROWS_SQL = ("SELECT doc_id, char_start, char_end, scale, vector FROM sentences "
            "ORDER BY doc_id, char_start")
FETCH = 20_000  # rows fetched at a time (a whole table at once would double the peak memory)


class SentenceVectors:
    """Every stored sentence of a generation, grouped by document and in document order: its
    span and its int8 code with one scale a row."""

    def __init__(self, ordinals: dict[str, int], row_ordinals: np.ndarray, starts: np.ndarray,
                 ends: np.ndarray, scales: np.ndarray, codes: np.ndarray) -> None:
        self.ordinals = ordinals  # doc_id -> its place among the documents
        self.starts = starts
        self.ends = ends
        self.scales = scales
        self.codes = codes
        # Each row's document ordinal and start as one number, ascending (the table's primary
        # key), so that the rows of many ranges are found by binary searches all at once.
        self._keys = (row_ordinals << 32) + starts

    def __len__(self) -> int:
        return len(self.starts)

    @property
    def nbytes(self) -> int:
        """Memory held by the arrays (the document dictionary aside)."""
        return sum(a.nbytes for a in (self.starts, self.ends, self.scales, self.codes,
                                      self._keys))

    @classmethod
    def read(cls, conn: sqlite3.Connection) -> SentenceVectors:
        """Every row of the `sentences` table on `conn` (a live generation's: it never
        changes between the count and the rows)."""
        (n,) = conn.execute("SELECT count(*) FROM sentences").fetchone()
        ordinals: dict[str, int] = {}
        row_ordinals, starts, ends = (np.zeros(n, np.int64) for _ in range(3))
        scales = np.zeros(n, np.float32)
        codes = np.zeros((0, 0), np.int8)
        lo = 0
        cur = conn.execute(ROWS_SQL)
        while rows := cur.fetchmany(FETCH):
            at = lo + len(rows)
            row_ordinals[lo:at] = [ordinals.setdefault(r[0], len(ordinals)) for r in rows]
            starts[lo:at] = [r[1] for r in rows]
            ends[lo:at] = [r[2] for r in rows]
            scales[lo:at] = [r[3] for r in rows]
            if not lo:  # filled in place: the whole table as one buffer would double it
                codes = np.zeros((n, len(rows[0][4])), np.int8)
            codes[lo:at] = np.frombuffer(b"".join(r[4] for r in rows), np.int8).reshape(
                len(rows), -1)
            lo = at
        return cls(ordinals, row_ordinals, starts, ends, scales, codes)

    def rows(self, ranges: list[tuple[str, int, int]]) -> tuple[np.ndarray, list[int]]:
        """The rows of the sentences inside each (doc_id, start, end) range, as `Store.sentences`
        selects them (char_start >= start and char_end <= end), range after range in document
        order; and how many each range has."""
        ordinals = np.array([self.ordinals.get(d, -1) for d, _, _ in ranges], np.int64)
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
