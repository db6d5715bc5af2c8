"""The SQLite store: documents, chunks and an FTS5 table for BM25."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from queue import Queue
from typing import Any

import numpy as np

from assistant.errors import IndexCorruptError, QueryError
from assistant.index.lexical import LexicalIndex
from assistant.index.sentences import SentenceVectors
from assistant.models import Chunk, Document, FactCheck, Filters
from assistant.text import STOPWORDS

SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    doc_id TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    title TEXT,
    publisher TEXT,
    author TEXT,
    url TEXT,
    published TEXT,
    text TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    added_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS chunks (
    chunk_id INTEGER PRIMARY KEY AUTOINCREMENT,
    doc_id TEXT NOT NULL REFERENCES documents(doc_id) ON DELETE CASCADE,
    ordinal INTEGER NOT NULL,
    section TEXT,
    char_start INTEGER NOT NULL,
    char_end INTEGER NOT NULL,
    embed_hash TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_doc ON chunks(doc_id);
CREATE INDEX IF NOT EXISTS chunks_embed_hash ON chunks(embed_hash);
CREATE INDEX IF NOT EXISTS documents_publisher ON documents(publisher COLLATE NOCASE);
CREATE INDEX IF NOT EXISTS documents_published ON documents(published);
CREATE TABLE IF NOT EXISTS words (
    word TEXT PRIMARY KEY,
    df INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS fact_checks (
    key TEXT PRIMARY KEY,
    claim TEXT NOT NULL,
    data TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    vector BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS chunk_words (
    word TEXT PRIMARY KEY,
    df INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS sentences (
    doc_id TEXT NOT NULL,
    char_start INTEGER NOT NULL,
    char_end INTEGER NOT NULL,
    scale REAL NOT NULL,
    vector BLOB NOT NULL,
    PRIMARY KEY (doc_id, char_start)
) WITHOUT ROWID;
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(
    title, section, body, tokenize = 'porter unicode61 remove_diacritics 2'
);
"""

log = logging.getLogger("assistant")
_TOKEN = re.compile(r"\w+", re.UNICODE)
# BM25 column weights: title, section, body. Titles and headings count as much as the body: on
# SciFact equal weights gave nDCG@10 0.699, against 0.690 with (0.3, 0.3, 1) and 0.680 body only.
BM25_WEIGHTS = (1.0, 1.0, 1.0)

CHUNK_COLUMNS = """
    c.chunk_id, c.doc_id, c.ordinal, c.section, c.char_start, c.char_end,
    substr(d.text, c.char_start + 1, c.char_end - c.char_start) AS text,
    d.source, d.title, d.publisher, d.published, d.url
"""


def filter_sql(filters: Filters, *, dialect: str = "sqlite") -> tuple[str, list[object]]:
    """An SQL condition over `d` (documents) for the filters, and its parameters (`dialect`
    sqlite or postgres: placeholders and case folding differ)."""
    pg = dialect == "postgres"
    mark = "%s" if pg else "?"
    clauses: list[str] = []
    params: list[object] = []
    if filters.publishers:
        if pg:
            marks = ",".join(["lower(%s)"] * len(filters.publishers))
            clauses.append(f"lower(d.publisher) IN ({marks})")
        else:
            marks = ",".join("?" * len(filters.publishers))
            clauses.append(f"d.publisher COLLATE NOCASE IN ({marks})")
        params.extend(filters.publishers)
    if filters.sources:
        parts = []
        for s in filters.sources:
            if s.endswith(("/", "*")):
                parts.append(f"d.source LIKE {mark} ESCAPE '\\'")
                prefix = s.rstrip("*").replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
                params.append(prefix + "%")
            else:
                parts.append(f"d.source = {mark}")
                params.append(s)
        clauses.append("(" + " OR ".join(parts) + ")")
    if filters.since:
        clauses.append(f"substr(d.published, 1, 10) >= {mark}")
        params.append(filters.since[:10])
    if filters.until:
        clauses.append(f"substr(d.published, 1, 10) <= {mark}")
        params.append(filters.until[:10])
    return (" AND ".join(clauses) or ("TRUE" if pg else "1")), params


def fts_words(text: str) -> list[str]:
    """The content words of `text` an FTS5 query is made of, lower-cased, each once, in order."""
    return list(dict.fromkeys(t for t in _TOKEN.findall(text.lower()) if t not in STOPWORDS))


def query_words(text: str, *, common: set[str] | frozenset[str] = frozenset()) -> list[str]:
    """The words a text-rank query ORs: the content words of `text`, less those in `common`
    while at least two others remain; all its words when it has only stop words."""
    seen = dict.fromkeys(fts_words(text))
    if common and sum(1 for t in seen if t not in common) >= 2:
        seen = {t: None for t in seen if t not in common}
    if not seen:
        # A query of stop words only ("Who is it?") still deserves lexical matching.
        seen = dict.fromkeys(_TOKEN.findall(text.lower()))
    return list(seen)


def fts_query(text: str, *, common: set[str] | frozenset[str] = frozenset()) -> str | None:
    """An FTS5 OR-query of `query_words`, each quoted; None when none are left."""
    return " OR ".join(f'"{tok}"' for tok in query_words(text, common=common)) or None


class DocumentReads:
    """The reads that are the same SQL in SQLite and PostgreSQL but for the placeholder; a store
    provides `_q(sql, params)` (rows by column name) and its `DIALECT`."""

    DIALECT = "sqlite"

    def _q(self, sql: str, params: tuple | list = ()) -> list[Any]:
        raise NotImplementedError

    @property
    def _m(self) -> str:
        return "%s" if self.DIALECT == "postgres" else "?"

    def fact_check_hash(self, key: str) -> str | None:
        """The stored content hash of a fact-check, or None if absent."""
        rows = self._q(f"SELECT content_hash FROM fact_checks WHERE key = {self._m}", (key,))
        return rows[0]["content_hash"] if rows else None

    def content_hash(self, doc_id: str) -> str | None:
        """The stored content hash of a document, or None if absent."""
        rows = self._q(f"SELECT content_hash FROM documents WHERE doc_id = {self._m}", (doc_id,))
        return rows[0]["content_hash"] if rows else None

    def get_document(self, doc_id: str) -> Document | None:
        """A stored document, or None."""
        rows = self._q(f"SELECT * FROM documents WHERE doc_id = {self._m}", (doc_id,))
        return row_document(rows[0]) if rows else None

    def iter_documents(self) -> Iterator[Document]:
        """Every stored document, by doc_id."""
        for row in self._q("SELECT * FROM documents ORDER BY doc_id"):
            yield row_document(row)

    def list_documents(self, *, limit: int, offset: int) -> list[Document]:
        """One page of documents, by doc_id."""
        return [row_document(r) for r in self._q(
            f"SELECT * FROM documents ORDER BY doc_id LIMIT {self._m} OFFSET {self._m}",
            (limit, offset))]

    def document_chunks(self, doc_id: str) -> list[Any]:
        """A document's chunks in order."""
        return self._q(
            f"SELECT {CHUNK_COLUMNS} FROM chunks c JOIN documents d ON d.doc_id = c.doc_id "
            f"WHERE c.doc_id = {self._m} ORDER BY c.ordinal", (doc_id,))

    def word_df(self, word: str) -> int:
        """In how many documents a (lower-case, unstemmed) word occurs."""
        rows = self._q(f"SELECT df FROM words WHERE word = {self._m}", (word,))
        return int(rows[0]["df"]) if rows else 0

    def words_like(self, word: str, spread: int) -> dict[str, int]:
        """Vocabulary words with the same first letter and a length within `spread`, with df."""
        first, m = word[0], self._m
        rows = self._q(
            f"SELECT word, df FROM words WHERE word >= {m} AND word < {m} AND length(word) "
            f"BETWEEN {m} AND {m}",
            (first, first + "\U0010ffff", len(word) - spread, len(word) + spread))
        return {r["word"]: int(r["df"]) for r in rows}

    def chunk_ids(self, filters: Filters) -> Sequence[int]:
        """Ids of all chunks whose document passes the filters."""
        where_sql, params = filter_sql(filters, dialect=self.DIALECT)
        # The documents first, then their chunks by index: a join driven by the chunks looked
        # every chunk's document up (twice as slow on a news archive, 36k chunks).
        return [int(r["chunk_id"]) for r in self._q(
            f"SELECT c.chunk_id FROM chunks c WHERE c.doc_id IN "
            f"(SELECT d.doc_id FROM documents d WHERE {where_sql})", params)]


# A live generation's postings are read into memory once its keyword searches have spent as long
# in FTS5 as the read takes (about this long a chunk, measured on the news archive): a ski-rental
# rule, so a one-shot command or a generation soon replaced never pays more than twice the
# cheaper choice, and a server's generation pays once for every later search.
LEXICAL_READ_SECONDS_PER_CHUNK = 275e-6
# Most chunks whose postings are held in memory (~0.7 KB a chunk of 160 words); above it, FTS5.
LEXICAL_MAX_CHUNKS = 500_000

# Filters whose allowed chunk ids a live generation keeps (it never changes, and a reader's
# filters repeat: a date range, a publisher).
FILTERS_KEPT = 32

# Chunk rows a live generation keeps once read (it never changes): a search reads the same
# 50 candidates query after query, 0.7-1.6 ms from SQLite on a 36,000-chunk archive. About
# 1.5 KB a row of 160 words; when full, the kept rows are dropped and kept afresh.
CHUNK_ROWS_KEPT = 20_000

# A live generation's stored sentences are read into memory by the same rule, up to
# SENTENCE_MEMORY_MB of them: 0.35 s for the 200,000 sentences of 36,000 chunks of news.
SENTENCE_READ_SECONDS_PER_CHUNK = 1e-5
SENTENCE_MEMORY_MB = 512.0
SENTENCE_ROW_OVERHEAD = 20  # bytes a sentence holds in memory besides its vector

# Sentence ranges read by one statement (SQLite allows 500 terms in a compound SELECT).
SENTENCE_RANGES_PER_QUERY = 100
# Connections a live generation's readers share (requests on a 2-core machine rarely need more).
READ_CONNECTIONS = max(2, min(8, 2 * (os.cpu_count() or 1)))

# Called (no arguments, in the reading thread) after each read of a generation's postings or
# sentences into memory: a server settles its heap then (`assistant.service.memory.settle`).
_AFTER_MEMORY_READS: list[Callable[[], None]] = []


def after_memory_reads(hook: Callable[[], None]) -> None:
    """Have `hook` called after each read of postings or sentences into memory (once each)."""
    if hook not in _AFTER_MEMORY_READS:
        _AFTER_MEMORY_READS.append(hook)


def _memory_read_done() -> None:
    for hook in list(_AFTER_MEMORY_READS):
        try:
            hook()
        except Exception:  # a hook's failure must not undo the read
            log.exception("after a read into memory")


class Store(DocumentReads):
    """One generation's SQLite file. Writable while it is being built, read-only once live."""

    def __init__(self, path: Path, *, readonly: bool,
                 lexical_max_chunks: int = LEXICAL_MAX_CHUNKS,
                 sentence_memory_mb: float = SENTENCE_MEMORY_MB) -> None:
        self.path = path
        self.readonly = readonly
        # BM25 from postings held in memory (`LexicalIndex`), read in the background once FTS5
        # has cost as much (LEXICAL_READ_SECONDS_PER_CHUNK); None until then.
        self._lexical: LexicalIndex | None = None
        self._lexical_max = lexical_max_chunks if readonly else 0
        self._fts_seconds = 0.0
        self._read_budget: float | None = None  # seconds; set at the first keyword search
        # The background read's own connection and thread, so close() can stop them: an old
        # generation's file must not stay open (deleted) after a writer has replaced it.
        self._postings_conn: sqlite3.Connection | None = None
        self._postings_thread: threading.Thread | None = None
        # The stored sentences held in memory (`SentenceVectors`), read the same way once
        # reading them from SQLite has cost as long; None until then (or when over the bound).
        self._sentences: SentenceVectors | None = None
        self._sentence_mb = sentence_memory_mb if readonly else 0.0
        self._sentence_seconds = 0.0
        self._sentence_budget: float | None = None
        self._sentences_conn: sqlite3.Connection | None = None
        self._sentences_thread: threading.Thread | None = None
        # One connection, opened now and shared by all threads under a lock. Opening it eagerly
        # matters: a reader keeps its generation's file open even after a writer has replaced
        # and deleted it, so requests in flight finish on the generation they started with.
        self._lock = threading.RLock()
        self._has_chunk_words: bool | None = None
        self._allowed: OrderedDict[tuple[object, ...], tuple[int, ...]] = OrderedDict()
        self._rows: dict[int, sqlite3.Row] = {}  # CHUNK_ROWS_KEPT, of a live generation only
        self._conn: sqlite3.Connection | None = self._open()
        # A live generation is read by many request threads at once: each read borrows one of
        # a few connections (all opened now, for the reason above) instead of queueing on one.
        self._readers: Queue[sqlite3.Connection] = Queue()
        if readonly:
            self._readers.put(self._conn)
            for _ in range(READ_CONNECTIONS - 1):
                self._readers.put(self._open())
        else:
            self._conn.executescript(SCHEMA)

    def _open(self) -> sqlite3.Connection:
        try:
            if self.readonly:
                if not self.path.exists():
                    raise IndexCorruptError(f"index store {self.path} is missing")
                # A live generation never changes, so SQLite may skip locking entirely.
                conn = sqlite3.connect(f"file:{self.path}?mode=ro&immutable=1", uri=True,
                                       check_same_thread=False)
            else:
                conn = sqlite3.connect(self.path, check_same_thread=False)
                # This file only goes live after a full commit and an fsync by the writer; a
                # crash before that discards it, so no journal is needed while building it.
                conn.execute("PRAGMA journal_mode = OFF")
                conn.execute("PRAGMA synchronous = OFF")
            conn.execute("PRAGMA foreign_keys = ON")
            conn.row_factory = sqlite3.Row
        except sqlite3.DatabaseError as exc:
            raise IndexCorruptError(f"cannot open index store {self.path}: {exc}") from None
        return conn

    @property
    def conn(self) -> sqlite3.Connection:
        """The connection (callers that iterate results must hold `lock`)."""
        if self._conn is None:
            raise IndexCorruptError(f"index store {self.path} is closed")
        return self._conn

    @property
    def lock(self) -> threading.RLock:
        """Serialises use of the shared connection."""
        return self._lock

    @contextlib.contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        """A connection to read with: a pooled one of a live generation, else the one."""
        if not self.readonly:
            with self._lock:
                yield self.conn
            return
        if self._conn is None:
            raise IndexCorruptError(f"index store {self.path} is closed")
        conn = self._readers.get()
        try:
            yield conn
        finally:
            if self._conn is None:  # closed meanwhile
                conn.close()
            else:
                self._readers.put(conn)

    def _q(self, sql: str, params: tuple | list = ()) -> list[sqlite3.Row]:
        with self._reading() as conn:
            return conn.execute(sql, params).fetchall()

    def _spent_in_fts(self, seconds: float) -> None:
        """Count a keyword search's FTS5 time; once they add up to the read's expected time,
        read the postings in the background."""
        if not self._lexical_max:
            return
        if self._read_budget is None:
            (n,) = self._q("SELECT count(*) FROM chunks")[0]
            if n > self._lexical_max:
                log.info("keyword search stays on FTS5: %s chunks > %s "
                         "(ASSISTANT_BM25_MEMORY_CHUNKS)", n, self._lexical_max)
                self._lexical_max = 0
                return
            self._read_budget = n * LEXICAL_READ_SECONDS_PER_CHUNK
        with self._lock:
            before = self._fts_seconds
            self._fts_seconds += seconds
            start = before < self._read_budget <= self._fts_seconds
        if start:
            thread = threading.Thread(target=self._read_postings, name="assistant-postings",
                                      daemon=True)
            with self._lock:  # started under the lock, so close() never joins an unstarted one
                if self._conn is None:
                    return
                self._postings_thread = thread
                thread.start()

    def read_postings(self) -> bool:
        """Read the postings now (as a long-lived process does after its first searches) unless
        they are read or off; whether keyword search now runs from memory."""
        if self._lexical is None and self._lexical_max and self._conn is not None:
            (n,) = self._q("SELECT count(*) FROM chunks")[0]
            thread = self._postings_thread
            if thread is not None:  # a background read is under way: wait for it
                thread.join()
            elif n <= self._lexical_max:
                self._read_postings()
        return self._lexical is not None

    @contextlib.contextmanager
    def _side_connection(self, name: str, held: str) -> Iterator[sqlite3.Connection | None]:
        """A connection of its own for a background read into memory, kept in attribute `name`
        while it lasts so that close() can interrupt it; None when the store is closed or
        replaced, or the copy (attribute `held`) is read or being read already."""
        conn = None
        with self._lock:
            if self._conn is not None and getattr(self, held) is None and not getattr(self, name):
                with contextlib.suppress(IndexCorruptError):  # replaced meanwhile
                    conn = self._open()
                setattr(self, name, conn)
        try:
            yield conn
        finally:
            if conn is not None:
                with self._lock:
                    setattr(self, name, None)
                    conn.close()

    def _read_postings(self) -> None:
        """Read this generation's postings into a LexicalIndex (on a connection of its own, so
        requests keep theirs); on any failure keep to FTS5."""
        started = time.perf_counter()
        with self._side_connection("_postings_conn", "_lexical") as conn:
            if conn is None:
                return
            try:
                lexical = LexicalIndex.read(conn, weights=BM25_WEIGHTS)
            except sqlite3.Error as exc:
                if self._conn is not None:  # else close() interrupted the read, as it should
                    log.warning("keyword search stays on FTS5: cannot read %s's postings: %s",
                                self.path, exc)
                return
        with self._lock:
            if self._conn is not None:
                self._lexical = lexical
            else:
                lexical.close()
                return
        log.info("keyword search runs from memory: %s's postings read in %.1f s",
                 self.path.name, time.perf_counter() - started)
        _memory_read_done()

    def _spent_on_sentences(self, seconds: float) -> None:
        """Count a read of stored sentences from SQLite; once such reads add up to the
        expected time of reading them all, read them all in the background."""
        if not self._sentence_mb:
            return
        if self._sentence_budget is None:  # the chunks, not the sentences: a far smaller count
            (n,) = self._q("SELECT count(*) FROM chunks")[0]
            self._sentence_budget = n * SENTENCE_READ_SECONDS_PER_CHUNK
        with self._lock:
            self._sentence_seconds += seconds
            if (self._sentences_thread is not None or self._conn is None
                    or self._sentence_seconds < self._sentence_budget):
                return
            # Started under the lock, so close() never joins an unstarted one.
            self._sentences_thread = threading.Thread(
                target=self._read_sentences, name="assistant-sentences", daemon=True)
            self._sentences_thread.start()

    def read_sentences(self) -> bool:
        """Read the stored sentences into memory now (as a long-lived process does after its
        first searches) unless they are read, too many or off; whether they are in memory."""
        if self._sentences is None and self._sentence_mb and self._conn is not None:
            thread = self._sentences_thread
            if thread is not None:  # a background read is under way: wait for it
                thread.join()
            else:
                self._read_sentences()
        return self._sentences is not None

    def _sentences_fit(self, conn: sqlite3.Connection) -> bool:
        """Whether this generation has stored sentences and they fit in `sentence_memory_mb`;
        if not, the store stops trying (and says why when they are too many)."""
        try:
            n, width = conn.execute(
                "SELECT count(*), max(length(vector)) FROM sentences").fetchone()
        except sqlite3.OperationalError:  # a store older than the sentences table
            n, width = 0, 0
        need_mb = n * ((width or 0) + SENTENCE_ROW_OVERHEAD) / 2**20
        if n and need_mb <= self._sentence_mb:
            return True
        if n:
            log.info("stored sentences stay in SQLite: %s of them need %.0f MB > %s "
                     "(ASSISTANT_SENTENCE_MEMORY_MB)", n, need_mb, self._sentence_mb)
        self._sentence_mb = 0.0
        return False

    def _read_sentences(self) -> None:
        """Read this generation's stored sentences into a SentenceVectors (on a connection of
        its own) when they fit in `sentence_memory_mb`; on any failure keep to SQLite."""
        started = time.perf_counter()
        with self._side_connection("_sentences_conn", "_sentences") as conn:
            if conn is None:
                return
            try:
                held = SentenceVectors.read(conn) if self._sentences_fit(conn) else None
            except sqlite3.Error as exc:
                if self._conn is not None:  # else close() interrupted the read, as it should
                    log.warning("stored sentences stay in SQLite: cannot read %s's: %s",
                                self.path, exc)
                return
        if held is None:
            return
        with self._lock:
            if self._conn is None:
                return
            self._sentences = held
        log.info("stored sentences read into memory: %s sentences of %s in %.1f s (%.0f MB)",
                 len(held), self.path.name, time.perf_counter() - started, held.nbytes / 2**20)
        _memory_read_done()

    def close(self) -> None:
        """Close the connections, stopping a postings or sentence read under way."""
        with self._lock:
            for loading in (self._postings_conn, self._sentences_conn):
                if loading is not None:
                    loading.interrupt()
            threads = [self._postings_thread, self._sentences_thread]
            self._postings_thread = self._sentences_thread = None
            self._sentences = None
            self._rows = {}
            if self._lexical is not None:
                self._lexical.close()
                self._lexical = None
            if self._conn is not None:
                self._conn.close()
                self._conn = None
            while not self._readers.empty():  # connections in use close when handed back
                with contextlib.suppress(sqlite3.Error):
                    self._readers.get_nowait().close()
        for thread in threads:
            if thread is not None and thread is not threading.current_thread():
                # Outside the lock: a read takes it to hand its connection back. Interrupted,
                # SQLite stops at once; the numpy part after its queries takes a moment at most.
                thread.join(timeout=30)

    def commit(self) -> None:
        """Commit pending writes."""
        with self._lock:
            self.conn.commit()

    # --- writes -------------------------------------------------------------------------------

    def add_document(self, doc: Document, chunks: list[Chunk], embed_hashes: list[str]) -> list[int]:
        """Insert a document and its chunks (FTS included); returns the new chunk ids in order."""
        with self._lock:
            return self._add_document(doc, chunks, embed_hashes)

    def _add_document(self, doc: Document, chunks: list[Chunk], embed_hashes: list[str]) -> list[int]:
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        c = self.conn
        c.execute(
            "INSERT INTO documents (doc_id, source, title, publisher, author, url, published, "
            "text, content_hash, added_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
            (doc.doc_id, doc.source, doc.title, doc.publisher, doc.author, doc.url, doc.published,
             doc.text, doc.content_hash, now),
        )
        ids = []
        for chunk, eh in zip(chunks, embed_hashes, strict=True):
            cur = c.execute(
                "INSERT INTO chunks (doc_id, ordinal, section, char_start, char_end, embed_hash) "
                "VALUES (?,?,?,?,?,?)",
                (doc.doc_id, chunk.ordinal, chunk.section, chunk.char_start, chunk.char_end, eh),
            )
            chunk_id = int(cur.lastrowid)  # type: ignore[arg-type]
            c.execute(
                "INSERT INTO chunks_fts (rowid, title, section, body) VALUES (?,?,?,?)",
                (chunk_id, doc.title or "", chunk.section or "", chunk.text),
            )
            chunk.chunk_id = chunk_id
            ids.append(chunk_id)
        c.executemany("INSERT INTO words (word, df) VALUES (?, 1) "
                      "ON CONFLICT(word) DO UPDATE SET df = df + 1", _words(doc))
        c.executemany("INSERT INTO chunk_words (word, df) VALUES (?, ?) "
                      "ON CONFLICT(word) DO UPDATE SET df = df + excluded.df",
                      _chunk_words(doc.text, chunks))
        return ids

    def add_sentences(self, doc_id: str, spans: list[tuple[int, int]], vectors: np.ndarray) -> None:
        """Store a document's sentence spans with their vectors (int8, one scale a row)."""
        scales, codes = quantize(vectors)
        with self._lock:
            self.conn.executemany(
                "INSERT OR REPLACE INTO sentences (doc_id, char_start, char_end, scale, vector) "
                "VALUES (?,?,?,?,?)",
                [(doc_id, s, e, float(sc), code.tobytes())
                 for (s, e), sc, code in zip(spans, scales, codes, strict=True)])

    def delete_document(self, doc_id: str) -> list[int]:
        """Remove a document with its chunks and FTS rows; returns the removed chunk ids."""
        with self._lock:
            return self._delete_document(doc_id)

    def _delete_document(self, doc_id: str) -> list[int]:
        c = self.conn
        old = self.get_document(doc_id)
        if old is not None:
            c.executemany("UPDATE words SET df = df - 1 WHERE word = ?", _words(old))
            c.execute("DELETE FROM words WHERE df <= 0")
        spans = c.execute("SELECT chunk_id, char_start, char_end FROM chunks WHERE doc_id = ?",
                          (doc_id,)).fetchall()
        ids = [r[0] for r in spans]
        if old is not None:
            pieces = [Chunk(doc_id=doc_id, ordinal=0, text=old.text[r[1]:r[2]], char_start=r[1],
                            char_end=r[2]) for r in spans]
            c.executemany("UPDATE chunk_words SET df = df - ? WHERE word = ?",
                          [(n, w) for w, n in _chunk_words(old.text, pieces)])
            c.execute("DELETE FROM chunk_words WHERE df <= 0")
        c.executemany("DELETE FROM chunks_fts WHERE rowid = ?", [(i,) for i in ids])
        c.execute("DELETE FROM chunks WHERE doc_id = ?", (doc_id,))
        c.execute("DELETE FROM sentences WHERE doc_id = ?", (doc_id,))
        c.execute("DELETE FROM documents WHERE doc_id = ?", (doc_id,))
        return ids

    def add_fact_check(self, fc: FactCheck, vector: np.ndarray) -> None:
        """Insert or replace a published fact-check with the embedding of its claim."""
        with self._lock:
            self.conn.execute(
                "INSERT OR REPLACE INTO fact_checks (key, claim, data, content_hash, vector) "
                "VALUES (?,?,?,?,?)", (fc.key, fc.claim, json.dumps(fc.to_dict(), ensure_ascii=False),
                                       fc.content_hash, np.asarray(vector, np.float32).tobytes()))

    # --- reads --------------------------------------------------------------------------------

    def fact_checks(self) -> tuple[list[FactCheck], np.ndarray]:
        """Every stored fact-check and the matrix of their claims' embeddings (row per check)."""
        try:
            rows = self._q("SELECT data, vector FROM fact_checks ORDER BY key")
        except sqlite3.OperationalError:  # a generation written before fact-checks existed
            return [], np.zeros((0, 0), np.float32)
        checks = [FactCheck(**json.loads(r[0])) for r in rows]
        vecs = (np.vstack([np.frombuffer(r[1], np.float32) for r in rows]) if rows
                else np.zeros((0, 0), np.float32))
        return checks, vecs

    def sentences(self, ranges: list[tuple[str, int, int]]
                  ) -> dict[tuple[str, int, int], tuple[list[tuple[int, int]], np.ndarray]]:
        """For each (doc_id, start, end) range, the stored sentences inside it and their vectors
        (float32, unit length); a range with none (a generation written before sentence vectors
        were stored) maps to an empty list."""
        keys = list(dict.fromkeys(ranges))
        held = self._sentences
        if held is not None:
            rows, counts = held.rows(keys)
            vecs = unit_vectors(held.codes[rows], held.scales[rows])
            pairs = list(zip(held.starts[rows].tolist(), held.ends[rows].tolist(), strict=True))
            spans, at = [], 0
            for n in counts:
                spans.append(pairs[at : at + n])
                at += n
        else:
            started = time.perf_counter()
            spans, scales, blobs = self._stored_sentences(keys)
            vecs = dequantize(scales, blobs)
            self._spent_on_sentences(time.perf_counter() - started)
        out: dict[tuple[str, int, int], tuple[list[tuple[int, int]], np.ndarray]] = {}
        at = 0
        for key, mine in zip(keys, spans, strict=True):
            out[key] = (mine, vecs[at : at + len(mine)] if mine
                        else np.zeros((0, 0), np.float32))
            at += len(mine)
        return out

    def _stored_sentences(self, keys: list[tuple[str, int, int]]
                          ) -> tuple[list[list[tuple[int, int]]], list[float], list[bytes]]:
        """Read from SQLite: per range its sentences' spans, and all their scales and vector
        codes in that order."""
        found: dict[int, list[tuple[int, int, float, bytes]]] = {}
        # One statement a batch (each range is its own index scan): a statement per range cost
        # more in Python than in SQLite, fifty times a reranked search.
        with self._reading() as conn:
            for lo in range(0, len(keys), SENTENCE_RANGES_PER_QUERY):
                part = keys[lo : lo + SENTENCE_RANGES_PER_QUERY]
                sql = " UNION ALL ".join(
                    f"SELECT {lo + i}, char_start, char_end, scale, vector FROM sentences "
                    "WHERE doc_id = ? AND char_start >= ? AND char_end <= ?"
                    for i in range(len(part)))
                try:
                    rows = conn.execute(sql, [v for key in part for v in key]).fetchall()
                except sqlite3.OperationalError:  # a store older than the sentences table
                    rows = []
                for n, start, end, scale, vector in rows:
                    found.setdefault(n, []).append((start, end, scale, vector))
        for mine in found.values():  # in document order (char_start is unique in a document)
            mine.sort(key=lambda r: r[0])
        got = [r for n in range(len(keys)) for r in found.get(n, [])]
        return ([[(r[0], r[1]) for r in found.get(n, [])] for n in range(len(keys))],
                [r[2] for r in got], [r[3] for r in got])

    def chunk_ids_by_embed_hash(self, hashes: Iterable[str]) -> dict[str, int]:
        """For each embedding-text hash already stored, one chunk id that has it."""
        out: dict[str, int] = {}
        hashes = list(dict.fromkeys(hashes))
        for i in range(0, len(hashes), 500):
            part = hashes[i : i + 500]
            rows = self._q(
                f"SELECT embed_hash, chunk_id FROM chunks WHERE embed_hash IN "
                f"({','.join('?' * len(part))})", part)
            for eh, cid in rows:
                out.setdefault(eh, cid)
        return out

    def chunk_ids(self, filters: Filters) -> Sequence[int]:
        """Ids of all chunks whose document passes the filters; a live generation keeps the
        last FILTERS_KEPT answers (the read costs tens of ms on a news archive, every search)."""
        if not self.readonly:
            return super().chunk_ids(filters)
        key = filters.key()
        with self._lock:
            if (kept := self._allowed.get(key)) is not None:
                self._allowed.move_to_end(key)
                return kept
        ids = tuple(super().chunk_ids(filters))
        with self._lock:
            self._allowed[key] = ids
            while len(self._allowed) > FILTERS_KEPT:
                self._allowed.popitem(last=False)
        return ids

    def counts(self) -> dict[str, int]:
        """Numbers of documents and chunks."""
        return {
            "documents": self._q("SELECT count(*) FROM documents")[0][0],
            "chunks": self._q("SELECT count(*) FROM chunks")[0][0],
        }

    def chunks(self, ids: Iterable[int]) -> dict[int, sqlite3.Row]:
        """Chunk rows (text sliced from the stored document, plus document metadata) by id."""
        kept = self._rows  # empty while the store is being written
        out: dict[int, sqlite3.Row] = {}
        missing = []
        for i in ids:
            row = kept.get(i)
            if row is None:
                missing.append(i)
            else:
                out[i] = row
        if missing:
            read = self._read_chunks(missing)
            if self.readonly:
                if len(kept) + len(read) > CHUNK_ROWS_KEPT:  # bounded: start afresh, not grow
                    kept.clear()
                kept.update(read)
            out.update(read)
        return out

    def _read_chunks(self, ids: list[int]) -> dict[int, sqlite3.Row]:
        out: dict[int, sqlite3.Row] = {}
        for i in range(0, len(ids), 500):
            part = ids[i : i + 500]
            rows = self._q(
                f"SELECT {CHUNK_COLUMNS} FROM chunks c JOIN documents d ON d.doc_id = c.doc_id "
                f"WHERE c.chunk_id IN ({','.join('?' * len(part))})", part)
            for r in rows:
                out[r["chunk_id"]] = r
        return out

    def term_chunk_count(self, word: str) -> int:
        """In how many chunks a word occurs (FTS5 applies the index's stemmer to it)."""
        phrase = '"' + word.replace('"', '""') + '"'
        try:
            return int(self._q("SELECT count(*) FROM chunks_fts WHERE chunks_fts MATCH ?",
                               (f"body : {phrase}",))[0][0])
        except sqlite3.OperationalError:
            return 0

    def chunk_df(self, word: str) -> int | None:
        """In how many chunks a (lower-case, unstemmed) word occurs; None in a store written
        before these counts were kept."""
        try:
            rows = self._q("SELECT df FROM chunk_words WHERE word = ?", (word,))
        except sqlite3.OperationalError:
            return None
        if rows:
            return int(rows[0][0])
        return 0 if self.has_chunk_words() else None

    def has_chunk_words(self) -> bool:
        """True when this store keeps per-chunk word counts (any store written by this version)."""
        if self._has_chunk_words is None:
            try:
                self._has_chunk_words = bool(self._q("SELECT 1 FROM chunk_words LIMIT 1"))
            except sqlite3.OperationalError:
                self._has_chunk_words = False
        return self._has_chunk_words

    def bm25(self, query: str, limit: int, filters: Filters | None = None, *,
             common: set[str] | frozenset[str] = frozenset()) -> list[tuple[int, float]]:
        """Chunk ids and BM25 scores (higher is better) for the query's content words (those in
        `common` left out while two others remain)."""
        match = fts_query(query, common=common)
        if match is None:
            return []
        lexical = self._lexical
        if lexical is not None:
            allowed = self.chunk_ids(filters) if filters else None
            got = lexical.search(query_words(query, common=common), limit, allowed)
            if got is not None:
                return got
        started = time.perf_counter()
        w = ", ".join(str(x) for x in BM25_WEIGHTS)
        if filters:
            where_sql, params = filter_sql(filters)
            sql = (f"SELECT f.rowid, bm25(chunks_fts, {w}) AS s FROM chunks_fts f "
                   f"JOIN chunks c ON c.chunk_id = f.rowid JOIN documents d ON d.doc_id = c.doc_id "
                   f"WHERE chunks_fts MATCH ? AND {where_sql} ORDER BY s LIMIT ?")
            args: list[object] = [match, *params, limit]
        else:
            sql = (f"SELECT rowid, bm25(chunks_fts, {w}) AS s FROM chunks_fts "
                   "WHERE chunks_fts MATCH ? ORDER BY s LIMIT ?")
            args = [match, limit]
        try:
            rows = self._q(sql, args)
        except sqlite3.OperationalError as exc:  # pragma: no cover - query is quoted tokens only
            raise QueryError(f"cannot run the keyword search: {exc}") from None
        if lexical is None:
            self._spent_in_fts(time.perf_counter() - started)
        # FTS5's bm25() is negated so that ORDER BY ascends; flip it back.
        return [(int(r[0]), -float(r[1])) for r in rows]


def quantize(vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row scales and int8 codes of float vectors (a quarter of the space; cosines to ~1e-3)."""
    v = np.asarray(vectors, np.float32)
    scales = np.abs(v).max(axis=1) / 127.0 if len(v) else np.zeros(0, np.float32)
    scales = np.where(scales > 0, scales, 1.0).astype(np.float32)
    return scales, np.round(v / scales[:, None]).astype(np.int8)


def dequantize(scales: list[float], blobs: list[bytes]) -> np.ndarray:
    """Unit-length float32 vectors back from int8 codes (bytes) and their scales."""
    if not blobs:
        return np.zeros((0, 0), np.float32)
    return unit_vectors(np.frombuffer(b"".join(blobs), np.int8).reshape(len(blobs), -1),
                        np.asarray(scales, np.float32))


def unit_vectors(codes: np.ndarray, scales: np.ndarray) -> np.ndarray:
    """Unit-length float32 vectors back from rows of int8 codes and their float32 scales."""
    if not len(codes):
        return np.zeros((0, 0), np.float32)
    v = codes.astype(np.float32) * scales[:, None]
    norms = np.linalg.norm(v, axis=1, keepdims=True)
    return v / np.where(norms > 0, norms, 1.0)


def _words(doc: Document) -> list[tuple[str]]:
    """The distinct lower-case words of a document (text and title), for the vocabulary."""
    return [(w,) for w in set(_TOKEN.findall(f"{doc.title or ''} {doc.text}".lower()))]


def _chunk_words(text: str, chunks: list[Chunk]) -> list[tuple[str, int]]:
    """Each lower-case word of a document's chunks with the number of its chunks holding it."""
    counts: dict[str, int] = {}
    for ch in chunks:
        for w in set(_TOKEN.findall(text[ch.char_start:ch.char_end].lower())):
            counts[w] = counts.get(w, 0) + 1
    return list(counts.items())


def row_document(row: Mapping[str, Any]) -> Document:
    """A Document from a documents row (SQLite or PostgreSQL)."""
    return Document(
        doc_id=row["doc_id"], text=row["text"], source=row["source"], title=row["title"],
        publisher=row["publisher"], author=row["author"], url=row["url"],
        published=row["published"], content_hash=row["content_hash"],
    )
