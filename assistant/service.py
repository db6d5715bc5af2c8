"""The running service: one loaded model, the live index generation, answers, chat and writes.

The HTTP API and the MCP server are thin layers over this object.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
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


class NotReadyError(AssistantError):
    """The model or index is still loading."""


class Service:
    """Loads the model once (in the background) and swaps in new index generations atomically."""

    def __init__(self, settings: Settings, embedder: Embedder | None = None) -> None:
        self.settings = settings
        self.embedder = embedder
        self.error: str | None = None
        self.conversations = Conversations(ttl=settings.conversation_ttl_seconds,
                                           capacity=settings.max_conversations)
        self._answerer: Answerer | None = None
        self._checker: Checker | None = None
        self._verifier: StanceVerifier | None = None
        self._manifest_mtime: int | None = None
        self._checked = 0.0
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._check_lock = threading.Lock()
        self._loaded = threading.Event()

    # --- loading ------------------------------------------------------------------------------

    def start(self) -> None:
        """Begin loading without blocking start-up (readiness is reported separately)."""
        threading.Thread(target=self._load, name="assistant-load", daemon=True).start()

    def load(self) -> None:
        """Load the model and index now, in this thread."""
        self._load()
        if self.error and self._answerer is None and self.embedder is None:
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
        return self.embedder is not None and self._answerer is not None

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
        self._answerer = Answerer(Retriever(reader, self.embedder, self.settings))
        self._manifest_mtime = mtime
        self.error = None
        log.info("index generation %s loaded (%s)", reader.generation, reader.manifest.counts)

    def answerer(self) -> Answerer:
        """The answerer over the newest generation (checked for changes at most once a second)."""
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
                        if self._answerer is None:
                            self.error = str(exc)
        if self._answerer is None:
            if not self._loaded.is_set():
                raise NotReadyError("the service is still loading the model and index")
            if self.embedder is None:
                raise NotReadyError(self.error or "the embedding model failed to load")
            raise IndexNotFoundError(self.error or "no index loaded")
        return self._answerer

    def retriever(self) -> Retriever:
        """The retriever over the newest generation."""
        return self.answerer().retriever

    # --- reads --------------------------------------------------------------------------------

    def search(self, query: str, *, k: int | None = None, filters: Filters | None = None
               ) -> list[SearchHit]:
        """Hybrid search."""
        return self.retriever().search(query, k=k, filters=filters)

    def ask(self, question: str, *, filters: Filters | None = None) -> Answer:
        """A quoted, cited answer (or an abstention)."""
        return self.answerer().ask(question, filters=filters)

    def chat(self, message: str, conversation_id: str | None = None, *,
             filters: Filters | None = None) -> tuple[str, str, Answer]:
        """One chat turn: (conversation id, the standalone question asked, the Answer)."""
        conv = self.conversations.get_or_create(conversation_id)
        question = standalone_question(message, conv.questions)
        answer = self.ask(question, filters=filters)
        conv.add(message, question, answer)
        return conv.id, question, answer

    def checker(self) -> Checker:
        """The claim checker over the newest generation, with the configured stance verifier."""
        answerer = self.answerer()
        # Its own lock: loading an NLI model must not hold up answers (they take self._lock).
        with self._check_lock:
            if self._verifier is None:
                assert self.embedder is not None
                self._verifier = load_verifier(self.settings, self.embedder)
            if self._checker is None or self._checker.retriever is not answerer.retriever:
                self._checker = Checker(answerer.retriever, self._verifier)
            return self._checker

    def check(self, claim: str, *, filters: Filters | None = None) -> Verdict:
        """A Verdict on one claim: evidence with stances, corroboration, earlier fact-checks."""
        return self.checker().check(claim, filters=filters)

    def check_text(self, text: str, *, filters: Filters | None = None) -> list[Verdict]:
        """A Verdict for each check-worthy sentence of a paragraph."""
        return self.checker().check_text(text, filters=filters)

    def get_document(self, doc_id: str) -> Document | None:
        """A stored document by id."""
        return self.retriever().reader.store.get_document(doc_id)

    def list_documents(self, *, limit: int, offset: int) -> tuple[int, list[Document]]:
        """(total, one page of documents by id)."""
        store = self.retriever().reader.store
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
