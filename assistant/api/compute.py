"""The service's CPU-bound calls (search, answers, checks) run off the event loop, a few at a
time per server process, the rest waiting their turn in order.

Python runs one thread at a time in a process, so requests computing side by side only share
its core: with 8 clients on 2 worker processes, answers came back no sooner on average, and the
slowest 1% took 416 ms against 281 ms with two at a time (`bench/load.py`, a news archive).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import anyio
import anyio.to_thread

T = TypeVar("T")


class Compute:
    """Runs a call in a worker thread once fewer than `threads` such calls are running."""

    def __init__(self, threads: int) -> None:
        if threads < 1:
            raise ValueError(f"threads must be at least 1, got {threads}")
        self.threads = threads
        self._limiter: anyio.CapacityLimiter | None = None  # made in the event loop, on first use

    async def __call__(self, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(self.threads)
        return await anyio.to_thread.run_sync(functools.partial(func, *args, **kwargs),
                                              limiter=self._limiter)
