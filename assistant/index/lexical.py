"""FTS5's BM25 of one live generation, scored from arrays in memory.

SQLite's `bm25()` walks every posting list of an OR-query and sorts every matching row: a long
question over a 36,000-chunk archive costs ~10 ms of CPU that way. A generation never changes
once live, so its postings can be read out of FTS5 once (through `fts5vocab`) and each query
scored with numpy in a fraction of that. The scores are FTS5's own formula on FTS5's own tokens
(the trained reranker and the answer confidence were fitted on that scale), so both paths rank
alike; the FTS5 query stays the fallback for anything this one cannot score the same way.
"""

from __future__ import annotations

import math
import sqlite3
import threading
from array import array
from collections.abc import Sequence

import numpy as np

# FTS5's bm25() constants (fts5_aux.c): k1, b, and the floor of a negative IDF.
K1 = 1.2
B = 0.75
IDF_FLOOR = 1e-6
FTS_TOKENIZER = "porter unicode61 remove_diacritics 2"
COLUMNS = ("title", "section", "body")


class LexicalIndex:
    """The postings of an FTS5 table (`chunks_fts`) as arrays: per term, the rows holding it and
    its column-weighted frequency there; per row, its length in tokens."""

    def __init__(self, rowids: np.ndarray, lengths: np.ndarray, terms: dict[str, int],
                 indptr: np.ndarray, rows: np.ndarray, freqs: np.ndarray) -> None:
        self.rowids = rowids          # row -> FTS5 rowid (the chunk id), ascending
        self.lengths = lengths        # row -> tokens in all columns
        self.terms = terms            # term -> column of the postings
        self.indptr = indptr          # postings of term t: rows[indptr[t]:indptr[t + 1]]
        self.rows = rows
        self.freqs = freqs
        self.avgdl = float(lengths.sum()) / max(1, len(lengths))
        # The length part of each row's BM25 denominator, the same for every query.
        self._norm = K1 * (1.0 - B + B * lengths / self.avgdl) if len(lengths) else lengths
        self._tokens: dict[str, tuple[str, ...]] = {}
        self._tokenizer: sqlite3.Connection | None = None
        self._tokenizer_lock = threading.Lock()

    @property
    def nbytes(self) -> int:
        """Memory held by the arrays (the term dictionary aside)."""
        return sum(a.nbytes for a in (self.rowids, self.lengths, self.indptr, self.rows,
                                      self.freqs))

    @classmethod
    def read(cls, conn: sqlite3.Connection, *, weights: Sequence[float],
             table: str = "chunks_fts") -> LexicalIndex:
        """Read the postings of `table` through a temporary fts5vocab table on `conn`."""
        if len(weights) != len(COLUMNS):
            raise ValueError(f"weights needs one value per column {COLUMNS}, got {weights!r}")
        conn.execute(f"CREATE VIRTUAL TABLE IF NOT EXISTS temp.lexical_instances "
                     f"USING fts5vocab(main, '{table}', 'instance')")
        try:
            rowids = np.array([r[0] for r in conn.execute(
                f"SELECT id FROM main.{table}_docsize ORDER BY id")], dtype=np.int64)
            weight_sql = " ".join(f"WHEN '{c}' THEN {float(w)!r}"
                                  for c, w in zip(COLUMNS, weights, strict=True))
            cur = conn.execute(
                f"SELECT term, doc, count(*), sum(CASE col {weight_sql} ELSE 0 END) "
                "FROM temp.lexical_instances GROUP BY term, doc ORDER BY term, doc")
            terms: dict[str, int] = {}
            # Typed arrays, not lists: a list holds an object per posting (about 80 bytes each
            # with the ints and floats), which at a few million postings peaked at 15x the
            # arrays kept.
            starts = array("q")
            docs = array("q")
            counts = array("q")
            freqs = array("d")
            last = None
            for i, (term, doc, count, freq) in enumerate(cur):
                if term != last:
                    terms[term] = len(starts)
                    starts.append(i)
                    last = term
                docs.append(doc)
                counts.append(count)
                freqs.append(freq)
        finally:
            conn.execute("DROP TABLE IF EXISTS temp.lexical_instances")
        n = len(docs)
        starts.append(n)
        indptr = np.frombuffer(starts, dtype=np.int64)
        rows = np.searchsorted(rowids, np.frombuffer(docs, dtype=np.int64)).astype(np.int32)
        del docs
        # A row's length is the count of its token instances over all columns, as FTS5's docsize.
        lengths = np.bincount(rows, weights=np.frombuffer(counts, dtype=np.int64),
                              minlength=len(rowids))
        del counts
        return cls(rowids, lengths, terms, indptr, rows,
                   np.frombuffer(freqs, dtype=np.float64).astype(np.float32))

    def tokens(self, word: str) -> tuple[str, ...]:
        """The FTS5 tokens of a query word (stemmed by the same tokenizer), memoised."""
        got = self._tokens.get(word)
        if got is not None:
            return got
        with self._tokenizer_lock:
            if self._tokenizer is None:
                conn = sqlite3.connect(":memory:", check_same_thread=False)
                conn.execute(f"CREATE VIRTUAL TABLE t USING fts5(x, tokenize = '{FTS_TOKENIZER}')")
                conn.execute("CREATE VIRTUAL TABLE v USING fts5vocab(t, 'instance')")
                self._tokenizer = conn
            c = self._tokenizer
            c.execute("INSERT INTO t (rowid, x) VALUES (1, ?)", (word,))
            got = tuple(r[0] for r in c.execute("SELECT term FROM v ORDER BY \"offset\""))
            c.execute("DELETE FROM t")
        if len(self._tokens) < 200_000:
            self._tokens[word] = got
        return got

    def search(self, words: Sequence[str], limit: int, allowed: Sequence[int] | None = None
               ) -> list[tuple[int, float]] | None:
        """Rowids and BM25 scores (higher is better) of the top `limit` rows matching any of the
        words, as FTS5 scores an OR of those words quoted; None when a word is a phrase of several
        tokens (FTS5 wants them adjacent), which this index does not score."""
        cols: list[int] = []
        for w in words:
            toks = self.tokens(w)
            if len(toks) > 1:
                return None
            # FTS5 sums over the query's phrases: two words of one stem ("taxes", "tax") count
            # twice, so a repeated term is kept; a word with no token or no posting adds nothing.
            if toks and toks[0] in self.terms:
                cols.append(self.terms[toks[0]])
        n_rows = len(self.rowids)
        if not cols or n_rows == 0:
            return []
        acc = np.zeros(n_rows, dtype=np.float64)
        hit = np.zeros(n_rows, dtype=bool)
        norm = self._norm
        for t in cols:
            lo, hi = self.indptr[t], self.indptr[t + 1]
            r = self.rows[lo:hi]
            f = self.freqs[lo:hi].astype(np.float64)
            n_hit = hi - lo
            idf = math.log((n_rows - n_hit + 0.5) / (n_hit + 0.5))
            idf = idf if idf > 0.0 else IDF_FLOOR
            acc[r] += idf * (f * (K1 + 1.0)) / (f + norm[r])
            hit[r] = True
        if allowed is not None:
            keep = np.zeros(n_rows, dtype=bool)
            ids = np.asarray(allowed, dtype=np.int64)
            pos = np.searchsorted(self.rowids, ids)
            ok = pos < n_rows
            pos, ids = pos[ok], ids[ok]
            keep[pos[self.rowids[pos] == ids]] = True
            hit &= keep
        cand = np.flatnonzero(hit)
        if len(cand) > limit:
            part = np.argpartition(-acc[cand], limit - 1)[:limit]
            # Rows scoring the same as the last one kept are all considered, so ties break by
            # rowid as FTS5's sort does.
            cut = acc[cand[part]].min()
            cand = cand[acc[cand] >= cut]
        order = np.lexsort((self.rowids[cand], -acc[cand]))[:limit]
        top = cand[order]
        return [(int(self.rowids[i]), float(acc[i])) for i in top]

    def close(self) -> None:
        """Close the tokenizer's connection."""
        with self._tokenizer_lock:
            if self._tokenizer is not None:
                self._tokenizer.close()
                self._tokenizer = None
