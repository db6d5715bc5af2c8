"""The index in PostgreSQL with pgvector: one schema holds documents, chunks (a weighted
`tsvector` with a GIN index, ranked by BM25 as FTS5 ranks, and a pgvector column with an HNSW
index), words, sentences and fact-checks, shared by any number of `assistant serve` replicas.

A writer works in one transaction under an advisory lock (one writer at a time, like the
embedded index's lock file): readers see all of an ingest or none of it, and a failed or killed
ingest rolls back. The `manifest` row (generation, embedder, chunker, counts) is bumped by each
commit, so replicas notice new generations with one cheap read.

Chosen by `ASSISTANT_DATABASE_URL=postgresql://...`; needs `pip install assistant[postgres]`.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import zlib
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import numpy as np

from assistant.errors import (
    ConfigError,
    IndexBusyError,
    IndexCorruptError,
    IndexNotFoundError,
)
from assistant.index.generations import Manifest, check_chunker, check_embedder
from assistant.index.store import (
    BM25_WEIGHTS,
    CHUNK_COLUMNS,
    DocumentReads,
    _chunk_words,
    _TOKEN,
    _words,
    dequantize,
    filter_sql,
    quantize,
    query_words,
)
from assistant.index.feedback import stamped
from assistant.models import Chunk, Document, FactCheck, Feedback, Filters

if TYPE_CHECKING:
    import psycopg

# The HNSW search keeps this many candidates at least (pgvector's default, 40, would cap a
# search at 40 hits).
EF_SEARCH = 200

_TABLES = """
CREATE TABLE IF NOT EXISTS manifest (
    one BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (one),
    generation BIGINT NOT NULL,
    embedder JSONB NOT NULL,
    chunker JSONB NOT NULL,
    counts JSONB NOT NULL,
    built_at TEXT NOT NULL
);
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
CREATE INDEX IF NOT EXISTS documents_publisher ON documents (lower(publisher));
CREATE INDEX IF NOT EXISTS documents_published ON documents (published);
CREATE TABLE IF NOT EXISTS chunks (
    chunk_id BIGSERIAL PRIMARY KEY,
    doc_id TEXT NOT NULL REFERENCES documents (doc_id) ON DELETE CASCADE,
    ordinal INTEGER NOT NULL,
    section TEXT,
    char_start INTEGER NOT NULL,
    char_end INTEGER NOT NULL,
    embed_hash TEXT NOT NULL,
    n_tokens INTEGER NOT NULL,
    tsv TSVECTOR NOT NULL,
    embedding VECTOR({dim})
);
CREATE INDEX IF NOT EXISTS chunks_doc ON chunks (doc_id);
CREATE INDEX IF NOT EXISTS chunks_embed_hash ON chunks (embed_hash);
CREATE INDEX IF NOT EXISTS chunks_tsv ON chunks USING gin (tsv);
CREATE INDEX IF NOT EXISTS chunks_embedding ON chunks USING hnsw (embedding vector_ip_ops);
CREATE TABLE IF NOT EXISTS stats (
    one BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (one),
    chunks BIGINT NOT NULL,
    tokens BIGINT NOT NULL
);
INSERT INTO stats VALUES (TRUE, 0, 0) ON CONFLICT DO NOTHING;
CREATE TABLE IF NOT EXISTS words (
    word TEXT COLLATE "C" PRIMARY KEY,
    df INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS chunk_words (
    word TEXT COLLATE "C" PRIMARY KEY,
    df INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS sentences (
    doc_id TEXT NOT NULL REFERENCES documents (doc_id) ON DELETE CASCADE,
    char_start INTEGER NOT NULL,
    char_end INTEGER NOT NULL,
    scale REAL NOT NULL,
    vector BYTEA NOT NULL,
    PRIMARY KEY (doc_id, char_start)
);
CREATE TABLE IF NOT EXISTS conversations (
    id TEXT PRIMARY KEY,
    turns JSONB NOT NULL,
    touched TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS conversations_touched ON conversations (touched);
CREATE TABLE IF NOT EXISTS fact_checks (
    key TEXT PRIMARY KEY,
    claim TEXT NOT NULL,
    data TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    vector BYTEA NOT NULL
);
"""

# Okapi BM25 as FTS5's bm25() computes it (k1 = 1.2, b = 0.75, idf floored at 1e-6), over the
# tsvector's term frequencies, title, section and body weighted like the FTS5 columns. Not
# ts_rank_cd: the chunk reranker and the answer confidence were trained on BM25 scores, and on
# ts_rank_cd's scale the seed questions' confidences moved by up to 0.18.
_K1, _B = 1.2, 0.75
_BM25 = f"""
WITH terms AS (
    SELECT DISTINCT lex FROM unnest(tsvector_to_array(to_tsvector('english', %s))) AS lex
), idf AS (
    SELECT t.lex, greatest(ln((s.chunks - t.n + 0.5) / (t.n + 0.5)), 1e-6) AS w FROM (
        SELECT lex, (SELECT count(*) FROM chunks WHERE tsv @@ plainto_tsquery('simple', lex)) AS n
        FROM terms) t CROSS JOIN stats s
)
SELECT c.chunk_id, sum(i.w * (u.f * {_K1 + 1}) / (u.f + {_K1} * ({1 - _B} + {_B} * c.n_tokens
       / greatest(s.tokens::float8 / greatest(s.chunks, 1), 1)))) AS score
FROM chunks c JOIN documents d ON d.doc_id = c.doc_id CROSS JOIN stats s
CROSS JOIN LATERAL (
    SELECT e.lexeme, (SELECT sum(CASE w WHEN 'A' THEN {BM25_WEIGHTS[0]} WHEN 'B' THEN
                      {BM25_WEIGHTS[1]} ELSE {BM25_WEIGHTS[2]} END) FROM unnest(e.weights) AS w) AS f
    FROM unnest(c.tsv) AS e(lexeme, positions, weights)
) u
JOIN idf i ON i.lex = u.lexeme
WHERE c.tsv @@ to_tsquery('english', %s) AND {{where}}
GROUP BY c.chunk_id ORDER BY score DESC, c.chunk_id LIMIT %s
"""
_TSV = ("setweight(to_tsvector('english', %s), 'A') || setweight(to_tsvector('english', %s), 'B')"
        " || setweight(to_tsvector('english', %s), 'C')")


def redact(url: str) -> str:
    """The URL without its password, for messages and logs."""
    return re.sub(r"(//[^:/@]+):[^@]*@", r"\1:***@", url)


def _connect(url: str, schema: str, *, autocommit: bool) -> psycopg.Connection:
    try:
        import psycopg
        from psycopg.rows import dict_row
    except ImportError:
        raise ConfigError("ASSISTANT_DATABASE_URL needs the PostgreSQL driver: pip install "
                          "'assistant[postgres]'") from None
    try:
        conn = psycopg.connect(url, autocommit=autocommit, row_factory=dict_row,
                               connect_timeout=10)
    except psycopg.Error as exc:
        raise ConfigError(f"cannot connect to PostgreSQL at {redact(url)}: "
                          f"{str(exc).strip().splitlines()[0]}") from None
    conn.execute(f'SET search_path TO "{schema}", public')
    return conn


def missing(where: str) -> IndexNotFoundError:
    """No index in this schema yet."""
    return IndexNotFoundError(f"no index in {where}: run `assistant ingest PATH` (with the same "
                              "ASSISTANT_DATABASE_URL and ASSISTANT_DATABASE_SCHEMA) first")


def _register_vector(conn: psycopg.Connection) -> None:
    from pgvector.psycopg import register_vector

    register_vector(conn)


def _exists(conn: psycopg.Connection, schema: str) -> bool:
    row = conn.execute("SELECT to_regclass(%s) AS t", (f'"{schema}".manifest',)).fetchone()
    return row is not None and row["t"] is not None


def _manifest(conn: psycopg.Connection, schema: str) -> Manifest | None:
    if not _exists(conn, schema):
        return None
    row = conn.execute("SELECT * FROM manifest").fetchone()
    if row is None:
        return None
    return Manifest(generation=int(row["generation"]), embedder=dict(row["embedder"]),
                    chunker=dict(row["chunker"]), counts=dict(row["counts"]),
                    built_at=row["built_at"])


class PgStore(DocumentReads):
    """Documents, chunks, words, sentences and fact-checks in one PostgreSQL schema."""

    DIALECT = "postgres"

    def __init__(self, conn: psycopg.Connection, lock: threading.RLock) -> None:
        self.conn = conn
        self.lock = lock

    def _q(self, sql: str, params: tuple | list = ()) -> list[dict[str, Any]]:
        with self.lock:
            return self.conn.execute(sql, params).fetchall()

    def close(self) -> None:
        """Nothing to do: the reader or writer owns the connection."""

    # --- writes -------------------------------------------------------------------------------

    def add_document(self, doc: Document, chunks: list[Chunk], embed_hashes: list[str]) -> list[int]:
        """Insert a document and its chunks (text rank included); the new chunk ids in order."""
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        with self.lock:
            c = self.conn
            c.execute(
                "INSERT INTO documents (doc_id, source, title, publisher, author, url, published, "
                "text, content_hash, added_at) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)",
                (doc.doc_id, doc.source, doc.title, doc.publisher, doc.author, doc.url,
                 doc.published, doc.text, doc.content_hash, now))
            ids = []
            tokens = 0
            for chunk, eh in zip(chunks, embed_hashes, strict=True):
                # FTS5 counts a row's length in tokens of all its columns.
                n_tokens = sum(len(_TOKEN.findall(t)) for t in (doc.title or "",
                                                                chunk.section or "", chunk.text))
                tokens += n_tokens
                row = c.execute(
                    "INSERT INTO chunks (doc_id, ordinal, section, char_start, char_end, "
                    f"embed_hash, n_tokens, tsv) VALUES (%s,%s,%s,%s,%s,%s,%s, {_TSV}) "
                    "RETURNING chunk_id",
                    (doc.doc_id, chunk.ordinal, chunk.section, chunk.char_start, chunk.char_end,
                     eh, n_tokens, doc.title or "", chunk.section or "", chunk.text)).fetchone()
                chunk.chunk_id = int(row["chunk_id"])
                ids.append(chunk.chunk_id)
            c.execute("UPDATE stats SET chunks = chunks + %s, tokens = tokens + %s",
                      (len(ids), tokens))
            with c.cursor() as cur:
                cur.executemany("INSERT INTO words (word, df) VALUES (%s, 1) ON CONFLICT (word) "
                                "DO UPDATE SET df = words.df + 1", _words(doc))
                cur.executemany("INSERT INTO chunk_words (word, df) VALUES (%s, %s) ON CONFLICT "
                                "(word) DO UPDATE SET df = chunk_words.df + excluded.df",
                                _chunk_words(doc.text, chunks))
        return ids

    def add_sentences(self, doc_id: str, spans: list[tuple[int, int]], vectors: np.ndarray) -> None:
        """Store a document's sentence spans with their vectors (int8, one scale a row)."""
        scales, codes = quantize(vectors)
        with self.lock, self.conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO sentences (doc_id, char_start, char_end, scale, vector) "
                "VALUES (%s,%s,%s,%s,%s) ON CONFLICT (doc_id, char_start) DO UPDATE SET "
                "char_end = excluded.char_end, scale = excluded.scale, vector = excluded.vector",
                [(doc_id, s, e, float(sc), code.tobytes())
                 for (s, e), sc, code in zip(spans, scales, codes, strict=True)])

    def delete_document(self, doc_id: str) -> list[int]:
        """Remove a document with its chunks and sentences; returns the removed chunk ids."""
        with self.lock:
            c = self.conn
            old = self.get_document(doc_id)
            if old is None:
                return []
            spans = c.execute("SELECT chunk_id, char_start, char_end, n_tokens FROM chunks "
                              "WHERE doc_id = %s", (doc_id,)).fetchall()
            c.execute("UPDATE stats SET chunks = chunks - %s, tokens = tokens - %s",
                      (len(spans), sum(r["n_tokens"] for r in spans)))
            pieces = [Chunk(doc_id=doc_id, ordinal=0, text=old.text[r["char_start"]:r["char_end"]],
                            char_start=r["char_start"], char_end=r["char_end"]) for r in spans]
            with c.cursor() as cur:
                cur.executemany("UPDATE words SET df = df - 1 WHERE word = %s", _words(old))
                cur.executemany("UPDATE chunk_words SET df = df - %s WHERE word = %s",
                                [(n, w) for w, n in _chunk_words(old.text, pieces)])
            c.execute("DELETE FROM words WHERE df <= 0")
            c.execute("DELETE FROM chunk_words WHERE df <= 0")
            c.execute("DELETE FROM documents WHERE doc_id = %s", (doc_id,))  # cascades
            return [int(r["chunk_id"]) for r in spans]

    def add_fact_check(self, fc: FactCheck, vector: np.ndarray) -> None:
        """Insert or replace a published fact-check with the embedding of its claim."""
        self._q("INSERT INTO fact_checks (key, claim, data, content_hash, vector) VALUES "
                "(%s,%s,%s,%s,%s) ON CONFLICT (key) DO UPDATE SET claim = excluded.claim, "
                "data = excluded.data, content_hash = excluded.content_hash, "
                "vector = excluded.vector RETURNING key",
                (fc.key, fc.claim, json.dumps(fc.to_dict(), ensure_ascii=False), fc.content_hash,
                 np.asarray(vector, np.float32).tobytes()))

    # --- reads --------------------------------------------------------------------------------

    def fact_checks(self) -> tuple[list[FactCheck], np.ndarray]:
        """Every stored fact-check and the matrix of their claims' embeddings."""
        rows = self._q("SELECT data, vector FROM fact_checks ORDER BY key")
        checks = [FactCheck(**json.loads(r["data"])) for r in rows]
        vecs = (np.vstack([np.frombuffer(bytes(r["vector"]), np.float32) for r in rows]) if rows
                else np.zeros((0, 0), np.float32))
        return checks, vecs

    def sentences(self, ranges: list[tuple[str, int, int]]
                  ) -> dict[tuple[str, int, int], tuple[list[tuple[int, int]], np.ndarray]]:
        """For each (doc_id, start, end) range, the stored sentences inside it and their vectors."""
        keys = list(dict.fromkeys(ranges))
        out: dict[tuple[str, int, int], tuple[list[tuple[int, int]], np.ndarray]] = {}
        if not keys:
            return out
        # One round trip for all ranges.
        rows = self._q(
            "SELECT r.n, s.char_start, s.char_end, s.scale, s.vector FROM unnest(%s::text[], "
            "%s::int[], %s::int[]) WITH ORDINALITY AS r(doc_id, lo, hi, n) JOIN sentences s ON "
            "s.doc_id = r.doc_id AND s.char_start >= r.lo AND s.char_end <= r.hi "
            "ORDER BY r.n, s.char_start",
            ([k[0] for k in keys], [k[1] for k in keys], [k[2] for k in keys]))
        found: dict[int, list[dict[str, Any]]] = {}
        for r in rows:
            found.setdefault(int(r["n"]), []).append(r)
        for n, key in enumerate(keys, start=1):
            got = found.get(n, [])
            out[key] = ([(r["char_start"], r["char_end"]) for r in got],
                        dequantize([r["scale"] for r in got], [bytes(r["vector"]) for r in got]))
        return out

    def chunk_ids_by_embed_hash(self, hashes: Iterable[str]) -> dict[str, int]:
        """For each embedding-text hash already stored, one chunk id that has it."""
        rows = self._q("SELECT embed_hash, min(chunk_id) AS chunk_id FROM chunks WHERE "
                       "embed_hash = ANY(%s) GROUP BY embed_hash", (list(dict.fromkeys(hashes)),))
        return {r["embed_hash"]: int(r["chunk_id"]) for r in rows}

    def counts(self) -> dict[str, int]:
        """Numbers of documents and chunks."""
        row = self._q("SELECT (SELECT count(*) FROM documents) AS documents, "
                      "(SELECT count(*) FROM chunks) AS chunks")[0]
        return {"documents": int(row["documents"]), "chunks": int(row["chunks"])}

    def chunks(self, ids: Iterable[int]) -> dict[int, dict[str, Any]]:
        """Chunk rows (text sliced from the stored document, plus document metadata) by id."""
        rows = self._q(f"SELECT {CHUNK_COLUMNS} FROM chunks c JOIN documents d ON "
                       "d.doc_id = c.doc_id WHERE c.chunk_id = ANY(%s)", ([int(i) for i in ids],))
        return {int(r["chunk_id"]): r for r in rows}

    def term_chunk_count(self, word: str) -> int:
        """In how many chunks a word occurs (stemmed as the index stems it)."""
        return int(self._q("SELECT count(*) AS n FROM chunks WHERE tsv @@ "
                           "plainto_tsquery('english', %s)", (word,))[0]["n"])

    def chunk_df(self, word: str) -> int | None:
        """In how many chunks a (lower-case, unstemmed) word occurs."""
        rows = self._q("SELECT df FROM chunk_words WHERE word = %s", (word,))
        return int(rows[0]["df"]) if rows else 0

    def has_chunk_words(self) -> bool:
        """Always: this store keeps per-chunk word counts."""
        return True

    def bm25(self, query: str, limit: int, filters: Filters | None = None, *,
             common: set[str] | frozenset[str] = frozenset()) -> list[tuple[int, float]]:
        """Chunk ids and BM25 scores (higher is better) for the query's content words, any of
        them (those in `common` left out while two others remain), as the embedded index
        scores them; the GIN index finds the chunks."""
        words = query_words(query, common=common)
        if not words:
            return []
        where_sql, params = filter_sql(filters, dialect="postgres") if filters else ("TRUE", [])
        rows = self._q(_BM25.replace("{where}", where_sql),
                       [" ".join(words), " | ".join(words), *params, limit])
        return [(int(r["chunk_id"]), float(r["score"])) for r in rows]


class PgVectors:
    """Chunk vectors in the chunks table's pgvector column (HNSW, inner product)."""

    def __init__(self, conn: psycopg.Connection, lock: threading.RLock) -> None:
        self.conn = conn
        self.lock = lock

    def add(self, ids: list[int], vectors: np.ndarray) -> None:
        """Set the vectors of the given chunk ids (rows the store has just inserted)."""
        vecs = np.ascontiguousarray(vectors, dtype=np.float32)
        with self.lock, self.conn.cursor() as cur:
            cur.executemany("UPDATE chunks SET embedding = %s WHERE chunk_id = %s",
                            [(v, int(i)) for i, v in zip(ids, vecs, strict=True)])

    def remove(self, ids: list[int]) -> int:
        """Nothing left to do: a chunk's vector goes with its row."""
        return len(ids)

    def reconstruct(self, chunk_id: int) -> np.ndarray:
        """The stored vector of one chunk id."""
        with self.lock:
            row = self.conn.execute("SELECT embedding FROM chunks WHERE chunk_id = %s",
                                    (int(chunk_id),)).fetchone()
        if row is None or row["embedding"] is None:
            raise IndexCorruptError(f"no vector for chunk {chunk_id}")
        vec = row["embedding"]
        return np.asarray(vec.to_numpy() if hasattr(vec, "to_numpy") else vec, dtype=np.float32)

    def search(self, query: np.ndarray, k: int, allowed: Sequence[int] | None = None
               ) -> list[tuple[int, float]]:
        """The k nearest chunk ids with cosine scores (vectors are unit length), optionally
        only among `allowed` ids: those are scored exactly, not through the HNSW graph, which
        would drop filtered-out neighbours after the search and return fewer than k."""
        if k <= 0 or (allowed is not None and not allowed):
            return []
        q = np.ascontiguousarray(query.reshape(-1), dtype=np.float32)
        with self.lock, self.conn.transaction():
            if allowed is None:
                self.conn.execute(f"SET LOCAL hnsw.ef_search = {max(EF_SEARCH, int(k))}")
                rows = self.conn.execute(
                    "SELECT chunk_id, embedding <#> %s AS d FROM chunks ORDER BY d LIMIT %s",
                    (q, int(k))).fetchall()
            else:
                self.conn.execute("SET LOCAL enable_indexscan = off")
                rows = self.conn.execute(
                    "SELECT chunk_id, embedding <#> %s AS d FROM chunks WHERE chunk_id = ANY(%s) "
                    "ORDER BY d LIMIT %s", (q, [int(i) for i in allowed], int(k))).fetchall()
        # <#> is the negated inner product.
        return [(int(r["chunk_id"]), -float(r["d"])) for r in rows]

    def close(self) -> None:
        """Nothing to do: the reader or writer owns the connection."""


class PgReader:
    """A reader of the live index in PostgreSQL (its own connection, shared by threads)."""

    def __init__(self, url: str, schema: str) -> None:
        self.root = f"{redact(url)} (schema {schema})"
        self._conn = _connect(url, schema, autocommit=True)
        try:
            manifest = _manifest(self._conn, schema)
            if manifest is None:
                raise missing(self.root)
            _register_vector(self._conn)
        except BaseException:
            self._conn.close()
            raise
        self.manifest = manifest
        lock = threading.RLock()
        self.store = PgStore(self._conn, lock)
        self.vectors = PgVectors(self._conn, lock)

    @property
    def generation(self) -> int:
        """The generation that was live when this reader opened (later writes are seen too)."""
        return self.manifest.generation

    def close(self) -> None:
        """Close the connection."""
        self._conn.close()


class PgWriter:
    """The one writer: a transaction under an advisory lock; `commit()` makes it visible."""

    def __init__(self, url: str, schema: str, *, model_id: str, dim: int,
                 chunker: dict[str, Any]) -> None:
        self.where = f"{redact(url)} (schema {schema})"
        self.chunker = dict(chunker)
        self.model_id, self.dim = model_id, dim
        self._conn = _connect(url, schema, autocommit=False)
        self._done = False
        try:
            c = self._conn
            got = c.execute("SELECT pg_try_advisory_xact_lock(%s) AS ok",
                            (zlib.crc32(schema.encode()),)).fetchone()
            if not got["ok"]:
                raise IndexBusyError(f"another process is writing the index in {self.where}; "
                                     "try again when it finishes")
            import psycopg

            try:
                c.execute("CREATE EXTENSION IF NOT EXISTS vector")
            except psycopg.Error as exc:
                raise ConfigError(f"the pgvector extension is not available in {self.where} "
                                  f"({str(exc).strip().splitlines()[0]}): install pgvector, or "
                                  "have an administrator run CREATE EXTENSION vector") from None
            c.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
            _register_vector(c)
            old = _manifest(c, schema)
            if old is not None:
                check_embedder(old, model_id, dim, self.where)
                check_chunker(old, chunker, self.where)
            else:
                c.execute(_TABLES.replace("{dim}", str(int(dim))))
            self.previous = old
        except BaseException:
            self._conn.rollback()
            self._conn.close()
            raise
        lock = threading.RLock()
        self.store = PgStore(self._conn, lock)
        self.vectors = PgVectors(self._conn, lock)

    def commit(self) -> Manifest:
        """Bump the manifest and commit: readers see every change at once."""
        c = self._conn
        missing = c.execute("SELECT count(*) AS n FROM chunks WHERE embedding IS NULL").fetchone()
        if missing["n"]:
            self.abort()
            raise IndexCorruptError(f"internal inconsistency: {missing['n']} chunks without a "
                                    "vector; the previous index is unchanged")
        gen = (self.previous.generation + 1) if self.previous else 1
        manifest = Manifest(generation=gen, embedder={"model": self.model_id, "dim": self.dim},
                            chunker=self.chunker, counts=self.store.counts(),
                            built_at=datetime.now(timezone.utc).isoformat(timespec="seconds"))
        c.execute("INSERT INTO manifest (one, generation, embedder, chunker, counts, built_at) "
                  "VALUES (TRUE, %s, %s, %s, %s, %s) ON CONFLICT (one) DO UPDATE SET "
                  "generation = excluded.generation, embedder = excluded.embedder, "
                  "chunker = excluded.chunker, counts = excluded.counts, "
                  "built_at = excluded.built_at",
                  (gen, json.dumps(manifest.embedder), json.dumps(manifest.chunker),
                   json.dumps(manifest.counts), manifest.built_at))
        c.commit()
        self._done = True
        c.close()
        return manifest

    def abort(self) -> None:
        """Roll back: the live index is untouched."""
        if self._done:
            return
        self._done = True
        try:
            self._conn.rollback()
        finally:
            self._conn.close()

    def __enter__(self) -> PgWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.abort()


class _Connection:
    """One autocommit connection, opened on first use (and again after it broke), used by one
    thread at a time."""

    def __init__(self, url: str, schema: str) -> None:
        self.url, self.schema = url, schema
        self._conn: psycopg.Connection | None = None
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def __call__(self) -> Iterator[psycopg.Connection]:
        with self._lock:
            if self._conn is None or self._conn.closed:
                self._conn = _connect(self.url, self.schema, autocommit=True)
            yield self._conn


class PgConversations:
    """Chat turns in the schema's conversations table, shared by every replica."""

    def __init__(self, url: str, schema: str) -> None:
        self._db = _Connection(url, schema)

    def load(self, conversation_id: str, *, ttl: float) -> list[dict[str, Any]] | None:
        """The turns of a conversation touched within `ttl` seconds, else None."""
        with self._db() as c:
            row = c.execute(
                "SELECT turns FROM conversations WHERE id = %s AND touched > now() - "
                "make_interval(secs => %s)", (conversation_id, float(ttl))).fetchone()
        return list(row["turns"]) if row else None

    def save(self, conversation_id: str, turns: list[dict[str, Any]], *, ttl: float,
             capacity: int) -> None:
        """Keep the turns; forget conversations idle past `ttl` and the oldest past `capacity`."""
        with self._db() as c, c.transaction():
            c.execute("INSERT INTO conversations (id, turns, touched) VALUES (%s, %s, now()) "
                      "ON CONFLICT (id) DO UPDATE SET turns = excluded.turns, touched = now()",
                      (conversation_id, json.dumps(turns, ensure_ascii=False)))
            c.execute("DELETE FROM conversations WHERE touched < now() - make_interval(secs => %s)",
                      (float(ttl),))
            c.execute("DELETE FROM conversations WHERE id IN (SELECT id FROM conversations "
                      "ORDER BY touched DESC OFFSET %s)", (int(capacity),))


class PgFeedback:
    """Readers' ratings in the schema's feedback table (made on first use)."""

    def __init__(self, url: str, schema: str) -> None:
        self._db = _Connection(url, schema)
        self._ready = False

    def _table(self, c: psycopg.Connection) -> None:
        if not self._ready:
            c.execute("CREATE TABLE IF NOT EXISTS feedback (id TEXT PRIMARY KEY, created TEXT NOT "
                      "NULL, rating TEXT NOT NULL, item JSONB NOT NULL)")
            self._ready = True

    def put(self, item: Feedback) -> Feedback:
        """Keep a rating (replacing an earlier one of the same answer); returns it as stored."""
        item = stamped(item)
        with self._db() as c:
            self._table(c)
            c.execute("INSERT INTO feedback VALUES (%s, %s, %s, %s) ON CONFLICT (id) DO UPDATE "
                      "SET created = excluded.created, rating = excluded.rating, "
                      "item = excluded.item", (item.id, item.created, item.rating,
                                               item.model_dump_json()))
        return item

    def items(self, *, since: str | None = None, rating: str | None = None) -> Iterator[Feedback]:
        """Every rating, oldest first, optionally only from `since` (an ISO date) or of one kind."""
        with self._db() as c:
            self._table(c)
            rows = c.execute("SELECT item FROM feedback WHERE created >= %s AND "
                             "(%s::text IS NULL OR rating = %s) ORDER BY created, id",
                             (since or "", rating, rating)).fetchall()
        for row in rows:
            yield Feedback.model_validate(row["item"])


class PostgresBackend:
    """The index in one schema of a PostgreSQL database with pgvector."""

    def __init__(self, url: str, schema: str = "assistant") -> None:
        self.url, self.schema = url, schema
        self.where = f"{redact(url)} (schema {schema})"
        # One small connection for manifest reads (replicas poll it about once a second).
        self._probe = _Connection(url, schema)

    def manifest(self) -> Manifest | None:
        """The live manifest, or None when nothing was ever ingested in this schema."""
        with self._probe() as c:
            return _manifest(c, self.schema)

    def version(self) -> object | None:
        """The live generation number and when it was built (a schema dropped and ingested
        again starts at generation 1 once more: its chunk ids and kept results are new)."""
        m = self.manifest()
        return (m.generation, m.built_at) if m is not None else None

    def reader(self) -> PgReader:
        """A reader (its own connection)."""
        return PgReader(self.url, self.schema)

    def missing(self) -> IndexNotFoundError:
        """No index in this schema yet."""
        return missing(self.where)

    def conversations(self) -> PgConversations:
        """Chat turns in the database: a follow-up may land on any replica."""
        return PgConversations(self.url, self.schema)

    def feedback(self) -> PgFeedback:
        """Readers' ratings in the database, shared by every replica."""
        return PgFeedback(self.url, self.schema)

    def writer(self, *, model_id: str, dim: int, chunker: dict[str, Any],
               vector_index: str = "auto") -> PgWriter:
        """The writer (pgvector's HNSW serves every size, so `vector_index` does not apply)."""
        return PgWriter(self.url, self.schema, model_id=model_id, dim=dim, chunker=chunker)

