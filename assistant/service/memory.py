"""A long-running process's memory: flat while index generations come and go, and collected
without long pauses."""

from __future__ import annotations

import ctypes
import gc
import sys
import threading
import time

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
    try:
        libc = ctypes.CDLL("libc.so.6")
        return bool(libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES))
    except (OSError, AttributeError):
        return False


# A server's young objects are a request's temporaries. Collections took 1.07 ms of a 30 ms
# answer on the 2023 archive with CPython's defaults (young ones every 700 allocations), 0.67
# with the long-lived objects frozen (settle), 0.19 frozen and young ones every 10,000.
GC_YOUNG_THRESHOLD = 10_000
# A worker runs its event loop, its compute threads and a keyword-search thread: at CPython's
# default 5 ms a thread waiting for the GIL (the loop holding a finished answer) could wait that
# long at each hand-off. 1 ms: 8 clients' answers p99 200 -> 181 ms (archive, one run each).
SWITCH_INTERVAL_S = 0.001
# A settle stops the process for one full collection (~0.1 s with an archive loaded), so at most
# this share of the time: a writer making a generation a second must not stall every reader.
SETTLE_SHARE = 0.02
_settle_lock = threading.Lock()
_next_settle = 0.0  # time.monotonic() before which settle() does nothing


def tune_for_serving() -> None:
    """Collect young objects less often and hand the GIL over sooner (a long-running server)."""
    gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])
    sys.setswitchinterval(SWITCH_INTERVAL_S)


def settle() -> bool:
    """Collect everything once, then leave what survives out of later collections; whether it
    did (not when the last settle was too recent: see SETTLE_SHARE).

    A loaded index holds long-lived objects (postings, caches, the model's tokenizer) that
    every full collection walked again: 130 ms pauses with the whole process stopped, the
    slowest answers under load. Frozen, they are freed by reference counting as before; a
    cycle among them is freed at the next settle, which unfreezes and collects first."""
    global _next_settle
    with _settle_lock:
        if time.monotonic() < _next_settle:
            return False
        started = time.perf_counter()
        gc.unfreeze()
        gc.collect()
        gc.freeze()
        _next_settle = time.monotonic() + (time.perf_counter() - started) / SETTLE_SHARE
        return True
