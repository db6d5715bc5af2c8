"""The running service: one loaded model, the live index generation, answers, chat and writes.

The HTTP API and the MCP server are thin layers over this object.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from assistant.answering import Answer, Answerer
from assistant.chat import Conversations, standalone_question
from assistant.checking import Checker, Verdict
from assistant.config import Settings
from assistant.embedding import CachedEmbedder, Embedder, load_embedder
from assistant.errors import AssistantError, IndexNotFoundError
from assistant.index import MANIFEST, IndexReader, read_manifest
from assistant.ingest import IngestReport, ingest_documents
from assistant.ingest import remove as remove_documents
from assistant.models import Document, SearchHit
from assistant.retrieval import Retriever
from assistant.stance import StanceVerifier, load_verifier
from assistant.store import Filters

log = logging.getLogger("assistant")
RELOAD_CHECK_SECONDS = 1.0
MMAP_THRESHOLD_BYTES = 1 << 20
_M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter number


def return_large_blocks_to_the_system() -> bool:
    """Fix glibc's mmap threshold, so that large freed blocks go back to the system at once.

    Each generation loads its vectors (and the writer its copy) in a few large blocks, 14 MB
    each on SciFact. glibc raises its mmap threshold after the first such block is freed, so
    later ones come from the heap, which keeps the space of retired generations: RSS grew from
    386 to over 800 MB in three mixed bursts with nothing leaked (`bench/generations.py`). With
    a fixed threshold such blocks stay mmapped and are unmapped when a generation closes.
    Returns False where the C library has no mallopt (not glibc): nothing changes there.
    """
    import ctypes

    try:
        libc = ctypes.CDLL("libc.so.6")
        return bool(libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES))
    except (OSError, AttributeError):
        return False


class NotReadyError(AssistantError):
    """The model or index is still loading."""


class Generation:
    """One loaded index generation and what reads it; closed once retired and no request uses it.

    Every read takes a lease (`Service._lease`) for as long as it runs. When a newer generation
    goes live the old one is retired, and the last lease to end closes its SQLite connection and
    frees its FAISS index at once, rather than whenever the garbage collector gets to them (a
    Python sqlite3 connection sits in a reference cycle, so dropping it does not close it).
    """

    def __init__(self, reader: IndexReader, answerer: Answerer) -> None:
        self.reader = reader
        self.answerer = answerer
        self.users = 0  # leases held; changed under the service's generation lock
        self.retired = False
        self.checker: Checker | None = None

    @property
    def number(self) -> int:
        """The generation number of its manifest."""
        return self.reader.generation

    def close(self) -> None:
        """Release its connection and vectors (no lease may be held)."""
        self.checker = None
        self.reader.close()


class Service:
    """Loads the model once (in the background) and swaps in new index generations atomically."""

    def __init__(self, settings: Settings, embedder: Embedder | None = None) -> None:
        self.settings = settings
        self.embedder = embedder
        self.error: str | None = None
        self.conversations = Conversations(ttl=settings.conversation_ttl_seconds,
                                           capacity=settings.max_conversations)
        self._generation: Generation | None = None
        self._open: list[Generation] = []  # the live generation and retired ones still leased
        self._verifier: StanceVerifier | None = None
        self._manifest_mtime: int | None = None
        self._checked = 0.0
        self._lock = threading.Lock()  # loading and switching generations
        self._gen_lock = threading.Lock()  # leases: held only for a counter update
        self._write_lock = threading.Lock()
        self._check_lock = threading.Lock()
        self._loaded = threading.Event()

    # --- loading ------------------------------------------------------------------------------

    def start(self) -> None:
        """Begin loading without blocking start-up (readiness is reported separately)."""
        return_large_blocks_to_the_system()  # a long-running process: keep its memory flat
        threading.Thread(target=self._load, name="assistant-load", daemon=True).start()

    def load(self) -> None:
        """Load the model and index now, in this thread."""
        self._load()
        if self.error and self._generation is None and self.embedder is None:
            raise NotReadyError(self.error)

    def _load(self) -> None:
        try:
            if self.embedder is None:
                # Questions repeat, and so do the sentences of the chunks they retrieve.
                self.embedder = CachedEmbedder(load_embedder(self.settings))
            with self._lock:
                self._reload()
        except AssistantError as exc:
            self.error = str(exc)
            log.error("%s", exc)
        except Exception as exc:  # keep serving /healthz and report it on /readyz
            self.error = f"{type(exc).__name__}: {exc}"
            log.exception("loading failed")
        finally:
            self._loaded.set()

    @property
    def ready(self) -> bool:
        """True once the model and an index are loaded."""
        return self.embedder is not None and self._generation is not None

    def _reload(self, force: bool = False) -> None:
        root = Path(self.settings.index)
        try:
            mtime = (root / MANIFEST).stat().st_mtime_ns
        except FileNotFoundError:
            self.error = f"no index at {root}: run `assistant ingest` or add documents first"
            return
        if mtime == self._manifest_mtime and not force:
            return
        assert self.embedder is not None
        reader = IndexReader(root)
        try:
            new = Generation(reader, Answerer(Retriever(reader, self.embedder, self.settings)))
        except BaseException:
            reader.close()
            raise
        with self._gen_lock:
            old, self._generation = self._generation, new
            self._open.append(new)
            if old is not None:
                old.retired = True
                idle = old.users == 0
                if idle:
                    self._open.remove(old)
        if old is not None and idle:
            old.close()
        self._manifest_mtime = mtime
        self.error = None
        log.info("index generation %s loaded (%s)", reader.generation, reader.manifest.counts)

    def _current(self) -> None:
        """Move to a newer generation on disk (checked at most once a second), or say why not."""
        now = time.monotonic()
        if self.embedder is not None and now - self._checked > RELOAD_CHECK_SECONDS:
            with self._lock:
                if now - self._checked > RELOAD_CHECK_SECONDS:
                    self._checked = now
                    try:
                        self._reload()
                    except AssistantError as exc:
                        # Keep answering from the generation we have; say why we could not move.
                        log.warning("index reload failed: %s", exc)
                        if self._generation is None:
                            self.error = str(exc)
        if self._generation is None:
            if not self._loaded.is_set():
                raise NotReadyError("the service is still loading the model and index")
            if self.embedder is None:
                raise NotReadyError(self.error or "the embedding model failed to load")
            raise IndexNotFoundError(self.error or "no index loaded")

    @contextlib.contextmanager
    def _lease(self) -> Iterator[Generation]:
        """The newest generation, kept open until the block ends."""
        self._current()
        with self._gen_lock:
            gen = self._generation
            assert gen is not None
            gen.users += 1
        try:
            yield gen
        finally:
            with self._gen_lock:
                gen.users -= 1
                done = gen.retired and gen.users == 0
                if done:
                    self._open.remove(gen)
            if done:
                gen.close()

    def open_generations(self) -> list[int]:
        """Generation numbers still loaded: the live one, plus retired ones a request still reads."""
        with self._gen_lock:
            return [g.number for g in self._open]

    def status(self) -> tuple[int, dict[str, int]]:
        """(live generation number, its counts); NotReadyError or IndexError_ before there is one."""
        with self._lease() as gen:
            return gen.number, dict(gen.reader.manifest.counts)

    # --- reads --------------------------------------------------------------------------------

    def search(self, query: str, *, k: int | None = None, filters: Filters | None = None
               ) -> list[SearchHit]:
        """Hybrid search."""
        with self._lease() as gen:
            return gen.answerer.retriever.search(query, k=k, filters=filters)

    def ask(self, question: str, *, filters: Filters | None = None) -> Answer:
        """A quoted, cited answer (or an abstention)."""
        with self._lease() as gen:
            return gen.answerer.ask(question, filters=filters)

    def chat(self, message: str, conversation_id: str | None = None, *,
             filters: Filters | None = None) -> tuple[str, str, Answer]:
        """One chat turn: (conversation id, the standalone question asked, the Answer)."""
        conv = self.conversations.get_or_create(conversation_id)
        question = standalone_question(message, conv.questions)
        answer = self.ask(question, filters=filters)
        conv.add(message, question, answer)
        return conv.id, question, answer

    def _checker(self, gen: Generation) -> Checker:
        """The generation's claim checker, with the configured stance verifier."""
        # Its own lock: loading an NLI model must not hold up answers (they take self._lock).
        with self._check_lock:
            if self._verifier is None:
                assert self.embedder is not None
                self._verifier = load_verifier(self.settings, self.embedder)
            if gen.checker is None:
                gen.checker = Checker(gen.answerer.retriever, self._verifier)
            return gen.checker

    def check(self, claim: str, *, filters: Filters | None = None) -> Verdict:
        """A Verdict on one claim: evidence with stances, corroboration, earlier fact-checks."""
        with self._lease() as gen:
            return self._checker(gen).check(claim, filters=filters)

    def check_text(self, text: str, *, filters: Filters | None = None) -> list[Verdict]:
        """A Verdict for each check-worthy sentence of a paragraph."""
        with self._lease() as gen:
            return self._checker(gen).check_text(text, filters=filters)

    def get_document(self, doc_id: str) -> Document | None:
        """A stored document by id."""
        with self._lease() as gen:
            return gen.reader.store.get_document(doc_id)

    def list_documents(self, *, limit: int, offset: int) -> tuple[int, list[Document]]:
        """(total, one page of documents by id)."""
        with self._lease() as gen:
            store = gen.reader.store
            return store.counts()["documents"], store.list_documents(limit=limit, offset=offset)

    def counts(self) -> dict[str, int]:
        """Documents and chunks in the live generation (zeros when there is none)."""
        manifest = read_manifest(Path(self.settings.index))
        return dict(manifest.counts) if manifest else {"documents": 0, "chunks": 0}

    # --- writes -------------------------------------------------------------------------------

    def add_documents(self, items: Iterable[Document | AssistantError]) -> IngestReport:
        """Write documents as one new generation and switch to it before returning."""
        if self.embedder is None:
            raise NotReadyError("the service is still loading the model")
        with self._write_lock:
            report = ingest_documents(items, settings=self.settings, embedder=self.embedder)
            if report.documents or report.fact_checks:
                with self._lock:
                    self._reload(force=True)
        return report

    def delete_documents(self, doc_ids: list[str]) -> tuple[list[str], list[str]]:
        """Delete documents in one new generation; returns (removed, not found)."""
        with self._write_lock:
            removed, missing = remove_documents(doc_ids, settings=self.settings)
            if removed:
                with self._lock:
                    self._reload(force=True)
        return removed, missing
