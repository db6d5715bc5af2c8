"""Helpers shared by the benchmark scripts (standard library only: bench/compare.py's txtai child
imports it from its own virtual environment)."""

from __future__ import annotations


def percentile(values: list[float], q: float) -> float | None:
    """The q-th percentile by nearest rank; None for no values."""
    if not values:
        return None
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q / 100 * len(s)) - 1))]
