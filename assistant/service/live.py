"""The live index generation of a running service: loaded, leased by each read, retired and
closed when a newer one goes live."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator

from assistant.answers import Answerer
from assistant.claims import Checker
from assistant.config import Settings
from assistant.embedding import Embedder
from assistant.errors import AssistantError, IndexNotFoundError
from assistant.index import Reader, open_backend
from assistant.search import Retriever
from assistant.service.results import ResultCache

log = logging.getLogger("assistant")
RELOAD_CHECK_SECONDS = 1.0


class Generation:
    """One loaded index generation and what reads it; closed once retired and no request uses it.

    Every read takes a lease (`LiveIndex.lease`) for as long as it runs. When a newer generation
    goes live the old one is retired, and the last lease to end closes its SQLite connection and
    frees its FAISS index at once, rather than whenever the garbage collector gets to them (a
    Python sqlite3 connection sits in a reference cycle, so dropping it does not close it).
    """

    def __init__(self, reader: Reader, answerer: Answerer, *, results: int = 0) -> None:
        self.reader = reader
        self.answerer = answerer
        self.results = ResultCache(results)  # this generation's recent searches and answers
        self.users = 0  # leases held; changed under the live index's lease lock
        self.retired = False
        self.checker: Checker | None = None

    @property
    def number(self) -> int:
        """The generation number of its manifest."""
        return self.reader.generation

    @property
    def retriever(self) -> Retriever:
        """Its retriever."""
        return self.answerer.retriever

    def close(self) -> None:
        """Release its connection and vectors (no lease may be held)."""
        self.checker = None
        self.reader.close()


class LiveIndex:
    """The newest generation of the index (`settings.index`, or the database), swapped in
    atomically."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.backend = open_backend(settings)
        self.root = self.backend.where
        self.problem: AssistantError | None = None  # why there is no generation, if there is none
        self._generation: Generation | None = None
        self._open: list[Generation] = []  # the live generation and retired ones still leased
        self._version: object | None = None
        self._checked = 0.0
        self._lock = threading.Lock()  # loading and switching generations
        self._lease_lock = threading.Lock()  # leases: held only for a counter update

    @property
    def loaded(self) -> bool:
        """True once a generation is live."""
        return self._generation is not None

    def check_present(self) -> None:
        """IndexNotFoundError when nothing was ever ingested here (no model needed to tell)."""
        if self.backend.version() is None:
            raise self.backend.missing()

    def reload(self, embedder: Embedder, *, force: bool = False) -> None:
        """Load the generation on disk if it is new (or `force`); raises why it cannot."""
        with self._lock:
            self._reload(embedder, force)

    def stale(self) -> None:
        """Have the next read look for a new generation at once (a write just went live)."""
        self._checked = 0.0

    def _reload(self, embedder: Embedder, force: bool) -> None:
        version = self.backend.version()
        if version is None and self._generation is not None:
            return  # the index went away under us: keep answering from what is loaded
        if version is not None and version == self._version and not force:
            return
        try:
            reader = self.backend.reader()  # IndexNotFoundError when nothing is there yet
        except AssistantError as exc:
            if self._generation is None:
                self.problem = exc
            raise
        try:
            new = Generation(reader, Answerer(Retriever(reader, embedder, self.settings)),
                             results=self.settings.result_cache)
        except BaseException as exc:
            reader.close()
            if isinstance(exc, AssistantError) and self._generation is None:
                self.problem = exc
            raise
        with self._lease_lock:
            old, self._generation = self._generation, new
            self._open.append(new)
            done = old is not None and self._retire(old)
        if done:
            old.close()
        self._version = version
        self.problem = None
        log.info("index generation %s loaded (%s)", reader.generation, reader.manifest.counts)

    def _refresh(self, embedder: Embedder) -> None:
        """Move to a newer generation on disk, checked at most once a second."""
        now = time.monotonic()
        if now - self._checked <= RELOAD_CHECK_SECONDS:
            return
        with self._lock:
            if now - self._checked <= RELOAD_CHECK_SECONDS:
                return
            self._checked = now
            try:
                self._reload(embedder, False)
            except AssistantError as exc:
                if self._generation is not None:
                    # Keep answering from the generation we have; say why we could not move.
                    log.warning("index reload failed: %s", exc)

    @contextlib.contextmanager
    def lease(self, embedder: Embedder) -> Iterator[Generation]:
        """The newest generation, kept open until the block ends."""
        self._refresh(embedder)
        with self._lease_lock:
            gen = self._generation
            if gen is None:
                raise _fresh(self.problem) or IndexNotFoundError(f"no index at {self.root}")
            gen.users += 1
        try:
            yield gen
        finally:
            with self._lease_lock:
                gen.users -= 1
                done = self._drop_if_idle(gen)
            if done:
                gen.close()

    def close(self) -> None:
        """Retire the live generation: closed now if idle, else by its last lease."""
        with self._lease_lock:
            gen, self._generation = self._generation, None
            done = gen is not None and self._retire(gen)
        if done:
            gen.close()
        self._version = None

    def _retire(self, gen: Generation) -> bool:
        """Mark `gen` retired (lease lock held); True when the caller must close it now."""
        gen.retired = True
        return self._drop_if_idle(gen)

    def _drop_if_idle(self, gen: Generation) -> bool:
        """Forget a retired generation no lease holds (lease lock held); True when dropped."""
        if gen.retired and gen.users == 0:
            self._open.remove(gen)
            return True
        return False

    def open_generations(self) -> list[int]:
        """Generation numbers loaded: the live one, plus retired ones a request still reads."""
        with self._lease_lock:
            return [g.number for g in self._open]


def _fresh(problem: AssistantError | None) -> AssistantError | None:
    """A new exception like `problem`: one instance raised on every request would pile up
    tracebacks (and share them between threads)."""
    if problem is None:
        return None
    try:
        return type(problem)(*problem.args)
    except TypeError:  # an error with its own constructor signature
        return AssistantError(str(problem))
