"""The recent results of one index generation, kept so a repeated request is not worked again."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from pydantic import BaseModel

from assistant.models import ScoredHit

T = TypeVar("T")


class ResultCache:
    """A bounded LRU of search hits and answers by request (thread-safe). It belongs to one
    generation, so a new generation starts empty and nothing stale is served; readers asking
    the same question (a widget's suggested questions, a tool polling) get a copy."""

    def __init__(self, size: int) -> None:
        if size < 0:
            raise ValueError(f"size must be 0 (off) or more, got {size}")
        self.size = size
        self.hits = self.misses = 0
        self._kept: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable, work: Callable[[], T]) -> tuple[T, bool]:
        """The kept result for `key`, else `work()` (kept), and whether it was kept; always a
        copy the caller may change."""
        if not self.size:
            return work(), False
        with self._lock:
            kept = self._kept.get(key)
            if kept is not None:
                self._kept.move_to_end(key)
                self.hits += 1
        hit = kept is not None
        if not hit:
            # Two threads missing together both work: cheaper than holding others up.
            kept = work()
            with self._lock:
                self.misses += 1
                self._kept[key] = kept
                while len(self._kept) > self.size:
                    self._kept.popitem(last=False)
        return _copy(kept), hit


def _copy(value: Any) -> Any:
    """A copy no change of which reaches the kept value."""
    if isinstance(value, list):
        return [_copy(v) for v in value]
    if isinstance(value, ScoredHit):  # its one mutable field: a shallow copy and that is enough
        return value.model_copy(update={"scores": dict(value.scores)})
    if isinstance(value, BaseModel):
        return value.model_copy(deep=True)
    raise TypeError(f"cannot keep a {type(value).__name__}")
