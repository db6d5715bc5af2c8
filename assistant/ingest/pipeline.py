"""Ingesting: sources → documents → chunks → vectors, written as one new index generation."""

from __future__ import annotations

import contextlib
import hashlib
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from itertools import accumulate
from pathlib import Path
from queue import Empty, Queue

import numpy as np

from assistant.config import Settings
from assistant.embedding import Embedder
from assistant.errors import IndexNotFoundError, MalformedSourceError, SourceError
from assistant.index import Manifest, Writer, open_backend
from assistant.ingest.chunking import Chunker
from assistant.ingest.composed import compose as compose_vectors
from assistant.ingest.sources import count_documents, iter_documents
from assistant.ingest.web import is_url, iter_web
from assistant.models import Chunk, Document, FactCheck, IngestReport, NotIngested, Unchanged
from assistant.text import sentence_spans, sentence_text

EMBED_BATCH_CHUNKS = 256  # chunks embedded and written per step (bounds memory, feeds progress)


def embedding_text(title: str | None, section: str | None, text: str) -> str:
    """What the model sees for a chunk: its document title and section give it context."""
    head = " — ".join(p for p in (title, section) if p)
    return f"{head}\n{text}" if head else text


def document_sentences(doc: Document, chunks: list[Chunk]) -> list[tuple[int, int, str | None]]:
    """Every sentence of a document's chunks once, as (start, end, section), in order."""
    found: dict[int, tuple[int, int, str | None]] = {}
    for c in chunks:
        for s, e in sentence_spans(doc.text, c.char_start, c.char_end):
            found.setdefault(s, (s, e, c.section))
    return [found[s] for s in sorted(found)]


def _hash(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def _chunker(settings: Settings, manifest: Manifest | None) -> Chunker:
    """The chunker the settings name, or, where they name none, the existing index's own: an
    index built with ASSISTANT_CHUNK_SIZE=40 keeps taking plain ingests."""
    named = settings.model_fields_set
    size, overlap, vectors = settings.chunk_size, settings.chunk_overlap, settings.chunk_vectors
    if manifest is not None and manifest.chunker.get("method") == "sentences-v1":
        # Each knob the settings leave unnamed follows the index.
        if "chunk_size" not in named:
            size = int(manifest.chunker["size"])
        if "chunk_overlap" not in named:
            overlap = int(manifest.chunker["overlap"])
        if "chunk_vectors" not in named:
            vectors = str(manifest.chunker.get("vectors", "model"))
    return Chunker(size=size, overlap=overlap, vectors=vectors)


def ingest(paths: Iterable[Path | str], *, settings: Settings, embedder: Embedder,
           progress: bool = True, ray_address: str | None = None,
           ray_workers: int | None = None) -> IngestReport:
    """Add new and changed documents under `paths` to the index; unchanged ones are skipped.

    Bad files are reported in the result and do not stop the good ones. Nothing is visible to
    readers until every good document is written; an exception or a kill leaves the old index.
    With `ray_address`, the texts are embedded on that Ray cluster first (all of them at once,
    so each actor loads its model once), then written here as a local ingest writes them.
    """
    started = time.perf_counter()
    names = [str(p) if isinstance(p, Path) else p for p in paths]
    urls = [n for n in names if is_url(n)]
    files = [Path(n) for n in names if not is_url(n)]
    # Counting first (file names, JSONL lines) is cheap and gives the bar a total that holds.
    total = None if urls or not progress else count_documents(files)
    items: Iterable[Item] = _sources(files, urls, settings=settings)
    if ray_address:
        items = list(items)
        embedder = _embedded_on_ray(items, settings=settings, embedder=embedder,
                                    address=ray_address, workers=ray_workers, progress=progress)
    report = ingest_documents(items, settings=settings, embedder=embedder, progress=progress,
                              total=total)
    report.seconds = time.perf_counter() - started
    return report


Item = Document | FactCheck | SourceError | NotIngested | Unchanged


def _sources(files: list[Path], urls: list[str], *, settings: Settings) -> Iterator[Item]:
    """What the files hold, then what the URLs lead to (pages already in the index are asked
    for only if changed)."""
    yield from iter_documents(files, max_bytes=settings.max_file_bytes)
    if not urls:
        return
    backend = open_backend(settings)
    reader = backend.reader() if backend.manifest() is not None else None
    try:
        yield from iter_web(
            urls, settings=settings, log_path=settings.index / "fetched.sqlite",
            is_indexed=lambda doc_id: reader is not None
            and reader.store.content_hash(doc_id) is not None)
    finally:
        if reader is not None:
            reader.close()


class PrecomputedEmbedder:
    """Vectors computed elsewhere (a Ray cluster) for known texts; any other text is embedded
    by the local model."""

    def __init__(self, local: Embedder, vectors: dict[str, np.ndarray]) -> None:
        self.local = local
        self.vectors = vectors
        self.model_id, self.dim, self.vocabulary = local.model_id, local.dim, local.vocabulary

    def embed(self, texts: list[str]) -> np.ndarray:
        """The precomputed rows, the local model for the rest."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        rest = []
        for i, t in enumerate(texts):
            if t in self.vectors:
                out[i] = self.vectors[t]
            else:
                rest.append(i)
        if rest:
            out[rest] = self.local.embed([texts[i] for i in rest])
        return out


def _embedded_on_ray(items: list[Document | FactCheck | SourceError], *, settings: Settings,
                     embedder: Embedder, address: str, workers: int | None,
                     progress: bool) -> PrecomputedEmbedder:
    """Embed every new or changed document's sentences, and its title or its chunks' texts
    (as the chunk vectors are made), on the cluster."""
    from assistant.ingest.distributed import embed_on_ray

    backend = open_backend(settings)
    manifest = backend.manifest()
    chunker = _chunker(settings, manifest)
    reader = backend.reader() if manifest is not None else None
    texts: dict[str, None] = {}
    try:
        for item in items:
            if not isinstance(item, Document) or (
                    reader is not None and reader.store.content_hash(item.doc_id)
                    == item.content_hash):
                continue
            chunk_texts, _, sentence_texts = embedding_texts(item, chunker.split(item))
            # Composed chunk vectors need the title's instead of the chunks' own.
            wanted = [item.title] if chunker.vectors == "sentences" and item.title else chunk_texts
            texts.update(dict.fromkeys(sentence_texts + wanted))
    finally:
        if reader is not None:
            reader.close()
    todo = list(texts)
    vectors = embed_on_ray(todo, address=address, settings=settings, dim=embedder.dim,
                           workers=workers, progress=progress)
    return PrecomputedEmbedder(embedder, dict(zip(todo, vectors, strict=True)))


def embedding_texts(doc: Document, chunks: list[Chunk]
                    ) -> tuple[list[str], list[tuple[int, int, str | None]], list[str]]:
    """What the model embeds for a document: its chunks' texts, and its sentences (spans and
    texts)."""
    chunk_texts = [embedding_text(doc.title, c.section, c.text) for c in chunks]
    spans = document_sentences(doc, chunks)
    return chunk_texts, spans, [sentence_text(sec, doc.text[s:e]) for s, e, sec in spans]


def ingest_documents(items: Iterable[Item], *, settings: Settings, embedder: Embedder,
                     progress: bool = False, total: int | None = None) -> IngestReport:
    """Write Documents and FactChecks (the other items are only reported) as one new
    generation; `total` is how many items the progress bar expects."""
    from tqdm import tqdm

    started = time.perf_counter()
    report = IngestReport()
    backend = open_backend(settings)
    chunker = _chunker(settings, backend.manifest())
    compose = chunker.vectors == "sentences"
    with backend.writer(model_id=embedder.model_id, dim=embedder.dim, chunker=chunker.settings(),
                        vector_index=settings.vector_index) as writer:
        # Reading and chunking run in a thread, ahead of embedding: the encoder never waits
        # for the disk or the parsers, and they never wait for it (bounded queue).
        ready: Queue[tuple[Document, list[Chunk]] | None] = Queue(maxsize=4 * EMBED_BATCH_CHUNKS)
        seen: dict[str, str] = {}
        checks: dict[str, FactCheck] = {}
        failed: list[BaseException] = []
        # Documents done (written, unchanged or failed) against a total counted up front; the
        # chunks written ride along as a postfix.
        bar = tqdm(total=total, desc="ingesting", unit=" docs", file=sys.stderr,
                   disable=not progress, mininterval=0.5, delay=1.0, dynamic_ncols=True)
        stop = threading.Event()

        def read() -> None:
            try:
                for item in items:
                    if stop.is_set():
                        return
                    if isinstance(item, SourceError):
                        report.errors.append(item)
                        bar.update(1)
                    elif isinstance(item, NotIngested):
                        report.not_ingested.append(item)
                    elif isinstance(item, Unchanged):
                        report.skipped += 1
                        bar.update(1)
                    elif isinstance(item, FactCheck):
                        if writer.store.fact_check_hash(item.key) != item.content_hash:
                            checks[item.key] = item  # the last one read of the same key wins
                    elif item.doc_id in seen:
                        report.errors.append(MalformedSourceError(
                            item.source, f"duplicate document id {item.doc_id!r} (first seen in "
                            f"{seen[item.doc_id]}); this one is skipped"))
                    else:
                        seen[item.doc_id] = item.source
                        if writer.store.content_hash(item.doc_id) == item.content_hash:
                            report.skipped += 1
                            bar.update(1)
                            continue
                        ready.put((item, chunker.split(item)))
            except BaseException as exc:  # re-raised in the writing thread
                failed.append(exc)
            finally:
                ready.put(None)

        reader = threading.Thread(target=read, name="assistant-read", daemon=True)
        reader.start()
        try:
            # Embed in batches (reusing vectors of texts already indexed) and write.
            batch: list[tuple[Document, list[Chunk]]] = []
            size = 0
            while (got := ready.get()) is not None:
                batch.append(got)
                size += len(got[1])
                if size >= EMBED_BATCH_CHUNKS:
                    _write_batch(writer, embedder, batch, report, compose=compose)
                    bar.update(len(batch))
                    bar.set_postfix(chunks=report.chunks, refresh=False)
                    batch, size = [], 0
            if batch:
                _write_batch(writer, embedder, batch, report, compose=compose)
                bar.update(len(batch))
                bar.set_postfix(chunks=report.chunks, refresh=False)
        finally:
            stop.set()
            while reader.is_alive():  # unblock a reader waiting on a full queue, then join it
                with contextlib.suppress(Empty):
                    ready.get(timeout=0.1)
            bar.close()
        if failed:
            raise failed[0]
        if checks:
            vecs = embedder.embed([c.claim for c in checks.values()])
            for fc, vec in zip(checks.values(), vecs, strict=True):
                writer.store.add_fact_check(fc, vec)
            report.fact_checks = len(checks)

        if report.documents or report.fact_checks:
            report.generation = writer.commit().generation
        else:
            old = writer.previous
            report.generation = old.generation if old else None
    report.seconds = time.perf_counter() - started
    return report


def _write_batch(writer: Writer, embedder: Embedder, batch: list[tuple[Document, list[Chunk]]],
                 report: IngestReport, *, compose: bool) -> None:
    parts = [embedding_texts(d, chunks) for d, chunks in batch]
    texts = [t for chunk_texts, _, _ in parts for t in chunk_texts]
    hashes = [_hash(t) for t in texts]
    # Unchanged chunk texts (an edited document's untouched paragraphs, republished stories)
    # keep their vectors and their sentences' vectors: embedding is the expensive step.
    known = writer.store.chunk_ids_by_embed_hash(hashes)
    vecs = np.zeros((len(texts), embedder.dim), dtype=np.float32)
    for i, h in enumerate(hashes):
        if h in known:
            vecs[i] = writer.vectors.reconstruct(known[h])
    # Where each document's chunks and sentences start in the batch's flat lists.
    offsets = list(zip(accumulate([len(c) for _, c in batch], initial=0),
                       accumulate([len(spans) for _, spans, _ in parts], initial=0),
                       strict=True))[:-1]
    svecs = _sentence_vectors(writer, batch, parts, offsets, hashes, known, embedder)
    # Sentence vectors are stored beside the chunks: answering ranks sentences without
    # embedding them per question. With `compose`, a new chunk's vector is made from them.
    missing = [i for i, h in enumerate(hashes) if h not in known]
    if compose and missing:
        titles = list(dict.fromkeys(d.title for d, _ in batch if d.title))
        title_vecs = dict(zip(titles, embedder.embed(titles), strict=True))
        whole: list[int] = []
        for (doc, chunks), (_, spans, sentence_texts), (at, sat) in zip(batch, parts, offsets,
                                                                         strict=True):
            title = (len(doc.title), title_vecs[doc.title]) if doc.title else None
            made, empty = compose_vectors(chunks, [(s, e) for s, e, _ in spans],
                                          [len(t) for t in sentence_texts],
                                          svecs[sat : sat + len(spans)], title)
            for n in range(len(chunks)):
                if hashes[at + n] not in known:
                    vecs[at + n] = made[n]
            whole += [at + n for n in empty if hashes[at + n] not in known]
        missing = whole  # chunks with no whole sentence (rare) are embedded as they are
    if missing:
        vecs[missing] = embedder.embed([texts[i] for i in missing])
    report.reused_vectors += sum(h in known for h in hashes)
    for (doc, chunks), (_, spans, _), (at, sat) in zip(batch, parts, offsets, strict=True):
        writer.vectors.remove(writer.store.delete_document(doc.doc_id))
        ids = writer.store.add_document(doc, chunks, hashes[at : at + len(chunks)])
        writer.vectors.add(ids, vecs[at : at + len(chunks)])
        writer.store.add_sentences(doc.doc_id, [(s, e) for s, e, _ in spans],
                                   svecs[sat : sat + len(spans)])
        report.documents += 1
        report.chunks += len(chunks)
        report.written.append(doc.doc_id)


def _sentence_vectors(writer: Writer, batch: list[tuple[Document, list[Chunk]]],
                      parts: list[tuple[list[str], list[tuple[int, int, str | None]], list[str]]],
                      offsets: list[tuple[int, int]], hashes: list[str], known: dict[str, int],
                      embedder: Embedder) -> np.ndarray:
    """Every sentence's vector for the batch, in order: read back for the sentences of chunks
    already indexed with the same text, embedded for the rest."""
    n = sum(len(spans) for _, spans, _ in parts)
    out = np.zeros((n, embedder.dim), dtype=np.float32)
    have = np.zeros(n, dtype=bool)
    if known:
        rows = writer.store.chunks(known.values())
        ranges = {cid: (r["doc_id"], int(r["char_start"]), int(r["char_end"]))
                  for cid, r in rows.items()}
        stored = writer.store.sentences(list(ranges.values()))
        for (_, chunks), (_, spans, _), (at, sat) in zip(batch, parts, offsets, strict=True):
            where = {(s, e): sat + k for k, (s, e, _) in enumerate(spans)}
            for n_chunk, c in enumerate(chunks):
                cid = known.get(hashes[at + n_chunk])
                if cid is None or cid not in ranges:
                    continue
                old_spans, old_vecs = stored[ranges[cid]]
                shift = c.char_start - ranges[cid][1]
                for (s, e), v in zip(old_spans, old_vecs, strict=True):
                    k = where.get((s + shift, e + shift))
                    if k is not None and not have[k]:
                        out[k], have[k] = v, True
    todo = [i for i in range(n) if not have[i]]
    if todo:
        flat = [t for _, _, sentence_texts in parts for t in sentence_texts]
        out[todo] = embedder.embed([flat[i] for i in todo])
    return out


def remove(doc_ids: Iterable[str], *, settings: Settings) -> tuple[list[str], list[str]]:
    """Delete documents by id in one new generation; returns (removed ids, ids not found)."""
    backend = open_backend(settings)
    manifest = backend.manifest()
    if manifest is None:
        raise IndexNotFoundError(f"no index at {backend.where}: nothing to remove")
    removed: list[str] = []
    missing: list[str] = []
    with backend.writer(model_id=manifest.embedder["model"], dim=int(manifest.embedder["dim"]),
                        chunker=manifest.chunker, vector_index=settings.vector_index) as writer:
        for doc_id in dict.fromkeys(doc_ids):
            if writer.store.content_hash(doc_id) is None:
                missing.append(doc_id)
                continue
            writer.vectors.remove(writer.store.delete_document(doc_id))
            removed.append(doc_id)
        if removed:
            writer.commit()
    return removed, missing
