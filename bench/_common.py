"""Helpers shared by the benchmark scripts (standard library only: bench/compare.py's txtai child
imports it from its own virtual environment)."""

from __future__ import annotations

import resource


def percentile(values: list[float], q: float) -> float | None:
    """The q-th percentile by nearest rank; None for no values."""
    if not values:
        return None
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q / 100 * len(s)) - 1))]


def peak_rss_mb() -> float:
    """This process's peak resident set size in MB (ru_maxrss is KiB on Linux)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
