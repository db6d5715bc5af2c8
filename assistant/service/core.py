"""The service: the one place where the parts are put together. The CLI, the HTTP API, the MCP
server and the evaluations all call it, and nothing else below it."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from assistant.answers import Conversations, FollowUp, Turn, check_question, resolve
from assistant.claims import (
    Aligner,
    Checker,
    Stance,
    StanceVerifier,
    check_claim_text,
    check_publish_url,
    constrain,
    export,
    load_verifier,
)
from assistant.config import Settings
from assistant.embedding import CachedEmbedder, Embedder, load_embedder
from assistant.errors import (
    AssistantError,
    IndexNotFoundError,
    NotReadyError,
    QueryError,
    SourceError,
)
from assistant.index import after_memory_reads
from assistant.ingest import Chunker, from_record, ingest, ingest_documents, read_upload, remove
from assistant.models import (
    Answer,
    ChatReply,
    Document,
    EditorReview,
    FactCheck,
    Feedback,
    Filters,
    IngestReport,
    ScoredHit,
    TextVerdicts,
    Verdict,
)
from assistant.search import Mode
from assistant.service.live import Generation, LiveIndex
from assistant.service.memory import return_large_blocks_to_the_system, settle, tune_for_serving

log = logging.getLogger("assistant")


class Service:
    """One loaded model, the live index generation, and everything asked of them."""

    def __init__(self, settings: Settings, embedder: Embedder | None = None, *,
                 cache: bool = True) -> None:
        """`embedder` is used as given; without one the configured model is loaded on first
        use, behind an LRU cache of recent texts. `cache` off (for timings) turns that off and
        keeps no results (`ASSISTANT_RESULT_CACHE`) either."""
        if not cache:  # timings must work every request out
            settings = settings.model_copy(update={"result_cache": 0})
        self.settings = settings
        self.embedder = embedder
        self.cache = cache
        self.index = LiveIndex(settings)
        self.conversations = Conversations(ttl=settings.conversation_ttl_seconds,
                                           capacity=settings.max_conversations,
                                           store=self.index.backend.conversations())
        self._verifier: StanceVerifier | None = None
        self._model_lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._check_lock = threading.Lock()
        self._loaded = threading.Event()
        self._failure: BaseException | None = None  # why the model could not be loaded

    # --- loading ------------------------------------------------------------------------------

    def start(self) -> None:
        """Begin loading without blocking start-up (readiness is reported separately)."""
        # A long-running process: keep its memory flat and its collections short.
        return_large_blocks_to_the_system()
        tune_for_serving()
        after_memory_reads(settle)

        def load_and_settle() -> None:
            self._load(report=True)
            settle()  # the model and the index are the long-lived objects

        threading.Thread(target=load_and_settle, name="assistant-load", daemon=True).start()

    def load(self, *, index_required: bool = True) -> Service:
        """Load the index and the model now, in this thread, raising what stops either (an
        index that is not there fails before the model is loaded). Without `index_required`,
        only the model's failure is raised; reads report the index's."""
        if index_required:
            self.index.check_present()
        self._load(report=not index_required)
        if self._failure is not None:
            raise self._failure
        if index_required and self.index.problem is not None:
            raise self.index.problem
        return self

    def _load(self, *, report: bool) -> None:
        """Load the model, then the index. With `report` (a server) problems are logged, for
        its operator; a command raises them instead (`load`). The index's problem is kept by
        the live index (`LiveIndex.problem`), the model's here."""
        try:
            embedder = self.model()
            try:
                self.index.reload(embedder)
            except AssistantError as exc:
                if report:
                    log.warning("%s", exc)
        except AssistantError as exc:
            self._failure = exc
            if report:
                log.error("%s", exc)
        except Exception as exc:  # keep serving /healthz and report it on /readyz
            self._failure = exc
            if report:
                log.exception("loading failed")
        finally:
            self._loaded.set()

    @property
    def error(self) -> str | None:
        """Why the service cannot answer (the model's failure, else the index's), or None."""
        if isinstance(self._failure, AssistantError):
            return str(self._failure)
        if self._failure is not None:
            return f"{type(self._failure).__name__}: {self._failure}"
        return str(self.index.problem) if self.index.problem is not None else None

    def model(self) -> Embedder:
        """The embedder, loaded on first use (with a cache: questions and sentences repeat)."""
        if self.embedder is None:
            with self._model_lock:
                if self.embedder is None:
                    model = load_embedder(self.settings)
                    self.embedder = CachedEmbedder(model) if self.cache else model
        return self.embedder

    @property
    def ready(self) -> bool:
        """True once the model and an index are loaded."""
        return self.embedder is not None and self.index.loaded

    def _generation(self) -> AbstractContextManager[Generation]:
        """A lease on the newest generation."""
        if self.embedder is None:
            if not self._loaded.is_set():
                raise NotReadyError("the service is still loading the model and index")
            raise NotReadyError(self.error or "the embedding model failed to load")
        return self.index.lease(self.embedder)

    def close(self) -> None:
        """Close the live generation once no read holds it (the service is going away)."""
        self.index.close()

    def open_generations(self) -> list[int]:
        """Generation numbers loaded: the live one, plus retired ones a request still reads."""
        return self.index.open_generations()

    def status(self) -> tuple[int, dict[str, int]]:
        """(live generation number, its counts); an error before there is one."""
        with self._generation() as gen:
            return gen.number, dict(gen.reader.manifest.counts)

    def manifest(self) -> dict[str, Any]:
        """What the index on disk records about itself (no model needed)."""
        manifest = self.index.backend.manifest()
        if manifest is None:
            raise IndexNotFoundError(f"no index at {self.index.root}: run `assistant "
                                     "ingest` first")
        return manifest.to_json()

    def counts(self) -> dict[str, int]:
        """Documents and chunks in the live generation (zeros when there is none)."""
        manifest = self.index.backend.manifest()
        return dict(manifest.counts) if manifest else {"documents": 0, "chunks": 0}

    # --- checking input before any work -------------------------------------------------------

    def check_question(self, question: object) -> str:
        """The stripped question, or a QueryError (no model needed)."""
        return check_question(question, self.settings)

    def check_claim(self, claim: object) -> str:
        """The stripped claim, or a QueryError (no model needed)."""
        return check_claim_text(claim, self.settings)

    @property
    def location(self) -> str:
        """Where the index is: its directory, or its database and schema."""
        return self.index.root

    def check_chunking(self) -> None:
        """A ConfigError when the chunk size and overlap do not fit together."""
        Chunker(size=self.settings.chunk_size, overlap=self.settings.chunk_overlap)

    def check_batch(self, n: int) -> None:
        """A QueryError when a batch of `n` documents is over the limit."""
        if n > self.settings.max_batch_documents:
            raise QueryError(f"a batch holds at most {self.settings.max_batch_documents} "
                             f"documents (ASSISTANT_MAX_BATCH_DOCUMENTS), got {n}: send it in "
                             "parts")

    def check_upload(self, n: int) -> None:
        """A QueryError when an upload holds more files than allowed."""
        if n > self.settings.max_upload_files:
            raise QueryError(f"an upload holds at most {self.settings.max_upload_files} files "
                             f"(ASSISTANT_MAX_UPLOAD_FILES), got {n}: send them in parts")

    # --- reads --------------------------------------------------------------------------------

    def search(self, query: str, *, k: int | None = None, filters: Filters | None = None,
               mode: Mode = "hybrid") -> list[ScoredHit]:
        """Hybrid (or dense, or BM25) search over chunks."""
        with self._generation() as gen:
            def work() -> list[ScoredHit]:
                return gen.retriever.search(query, k=k, filters=filters, mode=mode)

            if k is not None and k > self.settings.k:  # deep searches are not kept: their size
                return work()
            key = ("search", query, k, filters.key() if filters else None, mode)
            hits, _ = gen.results.get(key, work)
            return hits

    def ask(self, question: str, *, filters: Filters | None = None) -> Answer:
        """A quoted, cited answer (or an abstention)."""
        started = time.perf_counter()
        with self._generation() as gen:
            key = ("ask", question, filters.key() if filters else None)
            answer, kept = gen.results.get(key, lambda: gen.answerer.ask(question, filters=filters))
        if kept:  # this request's own time, not that of the one that worked it out
            answer.timings_ms = {"cached": 1.0,
                                 "total": round((time.perf_counter() - started) * 1000, 1)}
        return answer

    def chat(self, message: str, conversation_id: str | None = None, *,
             filters: Filters | None = None) -> ChatReply:
        """One chat turn, read in the context of the conversation's earlier turns."""
        message = self.check_question(message)  # before any work, and before a conversation
        conv = self.conversations.get_or_create(conversation_id)
        turn = resolve(message, conv.history)
        if turn.ask_back:  # nothing said so far names what the message leans on: ask, never guess
            return ChatReply(conversation_id=conv.id, question=message, ask_back=turn.ask_back,
                             answer=Answer(question=message, answer=turn.ask_back, quotes=[],
                                           citations=[], confidence=0.0, abstained=True))
        answer = self.ask(turn.question, filters=filters)
        conv.add(message, turn.question, answer)
        self.conversations.save(conv)
        return ChatReply(conversation_id=conv.id, question=turn.question, answer=answer)

    def rate(self, item: Feedback) -> Feedback:
        """Keep a reader's thumbs up or down on an answer; returns it as stored."""
        return self.index.backend.feedback().put(item)

    def feedback(self, *, since: str | None = None, rating: str | None = None
                 ) -> Iterator[Feedback]:
        """Readers' ratings, oldest first (for `assistant feedback` and GET /v1/feedback)."""
        return self.index.backend.feedback().items(since=since, rating=rating)

    def follow_up(self, message: str, previous: list[str] | list[Turn]) -> FollowUp:
        """What a follow-up stands for, given the earlier turns (questions, or questions with
        the text of their answers)."""
        return resolve(self.check_question(message), previous)

    def verifier(self) -> StanceVerifier:
        """The configured stance verifier, loaded once (it may be a large model)."""
        with self._check_lock:
            if self._verifier is None:
                self._verifier = load_verifier(self.settings, self.model())
            return self._verifier

    def judge(self, claim: str, sentences: list[str]) -> list[Stance]:
        """The stance of each sentence towards a claim (no index needed), with the detail
        constraint the checker applies: no support from a sentence whose details disagree."""
        verifier = self.verifier()
        aligner = getattr(verifier, "aligner", None) or Aligner(self.settings.spacy_model)
        return [constrain(st, aligner.align(claim, s))
                for st, s in zip(verifier.judge(claim, sentences), sentences, strict=True)]

    def _checker(self, gen: Generation) -> Checker:
        verifier = self.verifier()  # its own lock: an NLI model loading holds up no answer
        with self._check_lock:
            if gen.checker is None:
                gen.checker = Checker(gen.retriever, verifier)
            return gen.checker

    def check(self, claim: str, *, filters: Filters | None = None) -> Verdict:
        """A Verdict on one claim: evidence with stances, corroboration, earlier fact-checks."""
        with self._generation() as gen:
            return self._checker(gen).check(claim, filters=filters)

    def check_text(self, text: str, *, filters: Filters | None = None) -> TextVerdicts:
        """A Verdict for each check-worthy sentence of a paragraph."""
        with self._generation() as gen:
            verdicts = self._checker(gen).check_text(text, filters=filters)
        return TextVerdicts(text=text, claims=verdicts)

    def claimreview(self, claim: str, *, url: str = "", filters: Filters | None = None,
                    editor: EditorReview | None = None) -> dict[str, Any]:
        """A check of one claim as schema.org ClaimReview JSON-LD, authored by the newsroom (with
        the editor's verdict in place of the checker's, when one is given)."""
        check_publish_url(url)  # said before the check, not after it
        verdict = self.check(claim, filters=filters)
        return export(verdict, author=self.settings.publisher_name,
                      author_url=self.settings.publisher_url, url=url, editor=editor)

    def get_document(self, doc_id: str) -> Document | None:
        """A stored document by id."""
        with self._generation() as gen:
            return gen.reader.store.get_document(doc_id)

    def list_documents(self, *, limit: int, offset: int) -> tuple[int, list[Document]]:
        """(total, one page of documents by id)."""
        with self._generation() as gen:
            store = gen.reader.store
            return store.counts()["documents"], store.list_documents(limit=limit, offset=offset)

    # --- writes -------------------------------------------------------------------------------

    def ingest(self, paths: Iterable[Path | str], *, progress: bool = False,
               ray_address: str | None = None, ray_workers: int | None = None) -> IngestReport:
        """Add new and changed documents under `paths` as one new generation (embedded on a
        Ray cluster with `ray_address`)."""
        with self._write_lock:
            report = ingest(paths, settings=self.settings, embedder=self.model(),
                            progress=progress, ray_address=ray_address, ray_workers=ray_workers)
        self.index.stale()  # the next read loads what was written
        return report

    def add_documents(self, items: Iterable[Document | FactCheck | SourceError]) -> IngestReport:
        """Write documents as one new generation and switch to it before returning."""
        if self.embedder is None:
            raise NotReadyError("the service is still loading the model")
        with self._write_lock:
            report = ingest_documents(items, settings=self.settings, embedder=self.embedder)
            if report.documents or report.fact_checks:
                self.index.reload(self.embedder, force=True)
        return report

    def add_urls(self, urls: list[str]) -> IngestReport:
        """Fetch article pages, feeds and sitemaps and write what they hold as one new
        generation, switched to before returning."""
        from assistant.ingest import is_url

        if self.embedder is None:
            raise NotReadyError("the service is still loading the model")
        self.check_batch(len(urls))
        for n, url in enumerate(urls):
            if not is_url(url) or not url.lower().startswith(("http://", "https://")):
                raise QueryError(f"must be an http:// or https:// URL, got {url[:80]!r}",
                                 field=f"urls[{n}]")
        with self._write_lock:
            report = ingest(urls, settings=self.settings, embedder=self.embedder, progress=False)
            if report.documents or report.fact_checks:
                self.index.reload(self.embedder, force=True)
        return report

    def document(self, record: dict[str, Any], *, source: str) -> Document:
        """A Document from a JSON record with the JSONL fields (a SourceError if it is bad)."""
        return from_record(record, source=source, max_chars=self.settings.max_file_bytes)

    def read_upload(self, name: str, data: bytes) -> list[Document | FactCheck | SourceError]:
        """What an uploaded file holds, read exactly as `ingest` reads files."""
        return read_upload(name, data, max_bytes=self.settings.max_file_bytes)

    def delete_documents(self, doc_ids: list[str]) -> tuple[list[str], list[str]]:
        """Delete documents in one new generation; returns (removed, not found)."""
        with self._write_lock:
            removed, missing = remove(doc_ids, settings=self.settings)
            if removed and self.embedder is not None and self.index.loaded:
                self.index.reload(self.embedder, force=True)
            else:
                self.index.stale()
        return removed, missing
