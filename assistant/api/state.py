"""The service's loaded state: the embedder and the live index generation, reloaded on change."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from assistant.config import Settings
from assistant.embedding import Embedder, load_embedder
from assistant.errors import AssistantError, IndexNotFoundError
from assistant.index import MANIFEST, IndexReader
from assistant.retrieval import Retriever

log = logging.getLogger("assistant")
RELOAD_CHECK_SECONDS = 1.0


class ServiceState:
    """Loads the model once, in the background, and swaps in new index generations atomically."""

    def __init__(self, settings: Settings, embedder: Embedder | None = None) -> None:
        self.settings = settings
        self.embedder = embedder
        self.error: str | None = None
        self._retriever: Retriever | None = None
        self._manifest_mtime: int | None = None
        self._checked = 0.0
        self._lock = threading.Lock()
        self._loaded = threading.Event()

    def start(self) -> None:
        """Begin loading without blocking start-up (readiness is reported by /readyz)."""
        threading.Thread(target=self._load, name="assistant-load", daemon=True).start()

    def _load(self) -> None:
        try:
            if self.embedder is None:
                self.embedder = load_embedder(self.settings)
            self._reload()
        except AssistantError as exc:
            self.error = str(exc)
            log.error("%s", exc)
        except Exception as exc:  # keep serving /healthz and report it on /readyz
            self.error = f"{type(exc).__name__}: {exc}"
            log.exception("loading failed")
        finally:
            self._loaded.set()

    def wait_loaded(self, timeout: float | None = None) -> bool:
        """Block until the first load attempt finished."""
        return self._loaded.wait(timeout)

    @property
    def ready(self) -> bool:
        """True once the model and an index are loaded."""
        return self.embedder is not None and self._retriever is not None

    def _reload(self) -> None:
        root = Path(self.settings.index)
        try:
            mtime = (root / MANIFEST).stat().st_mtime_ns
        except FileNotFoundError:
            self.error = f"no index at {root}: run `assistant ingest` first"
            return
        if mtime == self._manifest_mtime:
            return
        reader = IndexReader(root)
        assert self.embedder is not None
        self._retriever = Retriever(reader, self.embedder, self.settings)
        self._manifest_mtime = mtime
        self.error = None
        log.info("index generation %s loaded (%s)", reader.generation, reader.manifest.counts)

    def retriever(self) -> Retriever:
        """The retriever for the newest generation (checked for changes at most once a second)."""
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
                        if self._retriever is None:
                            self.error = str(exc)
        if self._retriever is None:
            if not self._loaded.is_set():
                raise NotReadyError("the service is still loading the model and index")
            raise IndexNotFoundError(self.error or "no index loaded")
        return self._retriever


class NotReadyError(AssistantError):
    """The model or index is still loading."""
