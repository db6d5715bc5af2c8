"""The on-disk index: generations of (SQLite store, FAISS vectors) switched by the manifest.

Layout of an index directory::

    manifest.json            names the live generation's files; replaced atomically
    store.<gen>.sqlite       documents, chunks, FTS5 (immutable once live)
    vectors.<gen>.faiss      chunk vectors keyed by chunk id
    .lock                    held by the one writer
    conversations.sqlite     chat turns (outside every generation: they outlive new ones)
    feedback.sqlite          readers' ratings of answers (outside every generation too)
    fetched.sqlite           validators of pages fetched from the web (see assistant.ingest.web)

A writer copies the live generation, applies its changes to the copy, flushes it, and then
renames a new manifest over the old one. Until that rename, readers (and a crash) see only the
previous generation; after it, only the new one. Files of dead generations are removed by the
next writer.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from assistant.errors import (
    ConfigError,
    EmbedderMismatchError,
    IndexBusyError,
    IndexCorruptError,
    IndexNotFoundError,
)
from assistant.index.conversations import FILE as CONVERSATIONS_FILE
from assistant.index.conversations import SqliteConversations
from assistant.index.feedback import FILE as FEEDBACK_FILE
from assistant.index.feedback import SqliteFeedback
from assistant.index.store import LEXICAL_MAX_CHUNKS, SENTENCE_MEMORY_MB, Store
from assistant.index.vectors import COMPRESS_ABOVE, KINDS, VectorIndex

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
log = logging.getLogger("assistant")


@dataclass
class Manifest:
    """What `manifest.json` records about the live generation."""

    generation: int
    embedder: dict[str, Any]
    chunker: dict[str, Any]
    counts: dict[str, int] = field(default_factory=dict)
    built_at: str = ""
    format: int = FORMAT_VERSION

    @property
    def store_file(self) -> str:
        """File name of this generation's SQLite store."""
        return f"store.{self.generation:06d}.sqlite"

    @property
    def vectors_file(self) -> str:
        """File name of this generation's FAISS index."""
        return f"vectors.{self.generation:06d}.faiss"

    def to_json(self) -> dict[str, Any]:
        """The manifest as written to disk."""
        return {
            "format": self.format,
            "generation": self.generation,
            "embedder": self.embedder,
            "chunker": self.chunker,
            "counts": self.counts,
            "built_at": self.built_at,
            "files": {"store": self.store_file, "vectors": self.vectors_file},
        }


def read_manifest(root: Path) -> Manifest | None:
    """The live manifest of an index directory, or None when nothing was ever ingested there."""
    path = root / MANIFEST
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("format") != FORMAT_VERSION:
            raise IndexCorruptError(
                f"{path} has index format {data.get('format')!r}; this version reads format "
                f"{FORMAT_VERSION}: rebuild the index with `assistant ingest`")
        return Manifest(
            generation=int(data["generation"]), embedder=dict(data["embedder"]),
            chunker=dict(data["chunker"]), counts=dict(data.get("counts", {})),
            built_at=str(data.get("built_at", "")),
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise IndexCorruptError(f"{path} is unreadable ({exc}); rebuild the index") from None


def check_embedder(manifest: Manifest, model_id: str, dim: int, root: Path | str) -> None:
    """Refuse to mix vectors from two embedding models."""
    built = manifest.embedder
    if built.get("model") != model_id or int(built.get("dim", -1)) != dim:
        raise EmbedderMismatchError(
            f"the index at {root} was built with embedding model {built.get('model')!r} "
            f"(dim {built.get('dim')}), but the configured model is {model_id!r} (dim {dim}): "
            f"set ASSISTANT_MODEL={built.get('model')} or ingest into a new --index directory"
        )


def check_chunker(manifest: Manifest, chunker: dict[str, Any], root: Path | str) -> None:
    """Refuse to mix chunks cut two ways in one index."""
    if manifest.chunker != chunker:
        raise ConfigError(
            f"the index at {root} was chunked with {manifest.chunker}, the settings ask for "
            f"{chunker}: set ASSISTANT_CHUNK_SIZE/ASSISTANT_CHUNK_OVERLAP to match, or "
            "ingest into a new --index directory"
        )


def no_index(root: Path) -> IndexNotFoundError:
    """The error for a directory where nothing was ever ingested."""
    return IndexNotFoundError(f"no index at {root}: run `assistant ingest PATH --index {root}` "
                              "first")


class IndexReader:
    """A read-only, consistent view of one generation."""

    def __init__(self, root: Path, *, lexical_max_chunks: int = LEXICAL_MAX_CHUNKS,
                 sentence_memory_mb: float = SENTENCE_MEMORY_MB) -> None:
        self.root = root
        manifest = read_manifest(root)
        if manifest is None:
            raise no_index(root)
        self.manifest = manifest
        self.store = Store(root / manifest.store_file, readonly=True,
                           lexical_max_chunks=lexical_max_chunks,
                           sentence_memory_mb=sentence_memory_mb)
        vec_path = root / manifest.vectors_file
        if not vec_path.exists():
            raise IndexCorruptError(f"index file {vec_path} is missing; rebuild the index")
        self.vectors = VectorIndex.load(vec_path)
        self.vectors.sieve_when_worth_it()
        # Touch the store now so a missing or broken file fails at open, not at first query.
        self.store.counts()

    @property
    def generation(self) -> int:
        """The generation this reader sees."""
        return self.manifest.generation

    def close(self) -> None:
        """Close the store's connection and free the vectors (no query may use them after)."""
        self.store.close()
        self.vectors.close()


@contextlib.contextmanager
def write_lock(root: Path) -> Iterator[None]:
    """Hold the index's single-writer lock, or fail at once with IndexBusyError."""
    root.mkdir(parents=True, exist_ok=True)
    fd = os.open(root / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise IndexBusyError(
                f"another process is writing the index at {root}; try again when it finishes"
            ) from None
        yield
    finally:
        os.close(fd)


# The kinds `auto` moves an index up through as it grows; a hand-set sq8 stays as it is
# (decoding 8-bit vectors into fp16 would double the size and gain no precision).
_AUTO_ORDER = ("flat", "fp16", "ivf-sq8")


def target_kind(setting: str, current: str, chunks: int) -> str | None:
    """The kind a generation's vectors are re-encoded to at commit, None to keep `current`:
    the kind set by hand, or under `auto` fp16 up to COMPRESS_ABOVE chunks and ivf-sq8 above,
    never back down the way (a flat index of an older version moves to fp16 once)."""
    if setting != "auto":
        return setting if setting != current else None
    want = "ivf-sq8" if chunks > COMPRESS_ABOVE else "fp16"
    if current not in _AUTO_ORDER:  # sq8, set by hand: only past the size limit
        return want if want == "ivf-sq8" else None
    return want if _AUTO_ORDER.index(want) > _AUTO_ORDER.index(current) else None


class IndexWriter:
    """Builds the next generation; `commit()` makes it live, anything else leaves no trace."""

    def __init__(self, root: Path, *, model_id: str, dim: int, chunker: dict[str, Any],
                 vector_index: str = "auto") -> None:
        if vector_index not in ("auto", *KINDS):
            raise ConfigError(f"ASSISTANT_VECTOR_INDEX must be auto or one of {', '.join(KINDS)}, "
                              f"got {vector_index!r}")
        self.root = root
        self.vector_index = vector_index
        self._lock = write_lock(root)
        self._lock.__enter__()
        try:
            self._cleanup()
            old = read_manifest(root)
            if old is not None:
                check_embedder(old, model_id, dim, root)
                check_chunker(old, chunker, root)
            gen = (old.generation + 1) if old else 1
            self.manifest = Manifest(generation=gen, embedder={"model": model_id, "dim": dim},
                                     chunker=dict(chunker))
            store_path = root / self.manifest.store_file
            if old is not None:
                shutil.copyfile(root / old.store_file, store_path)
                self.vectors = VectorIndex.load(root / old.vectors_file)
            else:  # the kinds that need training start flat and are converted at commit
                self.vectors = VectorIndex(
                    dim, kind="fp16" if vector_index in ("auto", "fp16") else "flat")
            self.store = Store(store_path, readonly=False)
            self.previous = old
        except BaseException:
            self._lock.__exit__(None, None, None)
            raise
        self._done = False

    def _cleanup(self) -> None:
        """Remove files of dead or abandoned generations (the lock is held, so none is in use
        by a writer; readers that still have one open keep reading it until they close)."""
        live = read_manifest(self.root)
        keep = {MANIFEST, ".lock", "README.md"}
        if live is not None:
            keep |= {live.store_file, live.vectors_file}
        for entry in self.root.iterdir():
            if entry.name in keep or not entry.is_file():
                continue
            if entry.name.startswith(("store.", "vectors.", "manifest.json.")):
                entry.unlink(missing_ok=True)

    def commit(self) -> Manifest:
        """Flush the new generation and switch the manifest to it in one rename."""
        self.store.commit()
        self.manifest.counts = self.store.counts()
        self.store.close()
        _fsync(self.root / self.manifest.store_file)
        n = self.manifest.counts["chunks"]
        want = target_kind(self.vector_index, self.vectors.kind, n)
        if want is not None:
            self.vectors = self.vectors.converted(want)
        self.vectors.save(self.root / self.manifest.vectors_file)
        if len(self.vectors) != self.manifest.counts["chunks"]:
            raise IndexCorruptError(
                f"internal inconsistency: {len(self.vectors)} vectors for "
                f"{self.manifest.counts['chunks']} chunks; the previous index is unchanged")
        self.manifest.built_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
        tmp = self.root / f"{MANIFEST}.{os.getpid()}.tmp"
        tmp.write_text(json.dumps(self.manifest.to_json(), indent=2) + "\n", encoding="utf-8")
        _fsync(tmp)
        os.replace(tmp, self.root / MANIFEST)
        _fsync(self.root)
        self._done = True
        self._cleanup()
        self._lock.__exit__(None, None, None)
        return self.manifest

    def abort(self) -> None:
        """Drop the unfinished generation; the live one is untouched."""
        if self._done:
            return
        self._done = True
        with contextlib.suppress(Exception):
            self.store.close()
        with contextlib.suppress(Exception):
            self._cleanup()
        self._lock.__exit__(None, None, None)

    def __enter__(self) -> IndexWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.abort()


class FileBackend:
    """The embedded default: generations of files in one directory."""

    def __init__(self, root: Path, *, lexical_max_chunks: int = LEXICAL_MAX_CHUNKS,
                 sentence_memory_mb: float = SENTENCE_MEMORY_MB) -> None:
        self.root = root
        self.where = str(root)
        self.lexical_max_chunks = lexical_max_chunks
        self.sentence_memory_mb = sentence_memory_mb

    def manifest(self) -> Manifest | None:
        """The live manifest, or None."""
        return read_manifest(self.root)

    def version(self) -> object | None:
        """The manifest's modification time: it is replaced once per new generation."""
        try:
            return (self.root / MANIFEST).stat().st_mtime_ns
        except FileNotFoundError:
            return None

    def reader(self) -> IndexReader:
        """A reader of the live generation."""
        return IndexReader(self.root, lexical_max_chunks=self.lexical_max_chunks,
                           sentence_memory_mb=self.sentence_memory_mb)

    def missing(self) -> IndexNotFoundError:
        """No index in this directory yet."""
        return no_index(self.root)

    def conversations(self) -> SqliteConversations | None:
        """Chat turns in a file beside the generations, so they outlive a restart; None (kept
        in memory) where the directory cannot be written, as on a read-only mount."""
        existing = next((p for p in (self.root, *self.root.parents) if p.exists()), None)
        if existing is None or not os.access(existing, os.W_OK):
            log.warning("index directory %s is not writable: conversations are kept in memory "
                        "and lost on restart", self.root)
            return None
        return SqliteConversations(self.root / CONVERSATIONS_FILE)

    def feedback(self) -> SqliteFeedback:
        """Readers' ratings in a file beside the generations."""
        return SqliteFeedback(self.root / FEEDBACK_FILE)

    def writer(self, *, model_id: str, dim: int, chunker: dict[str, Any],
               vector_index: str = "auto") -> IndexWriter:
        """The next generation's writer."""
        return IndexWriter(self.root, model_id=model_id, dim=dim, chunker=chunker,
                           vector_index=vector_index)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
