"""Keeping a long-running process's memory flat while index generations come and go."""

from __future__ import annotations

import ctypes

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
