"""Percentiles and summaries of latency samples (milliseconds)."""

import math
from typing import Any


def pct(values: list[float], p: float) -> float:
    """The ``p``-th percentile (nearest rank) of ``values``; sorted or not."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def summarize(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"n": 0, "p50": 0, "p95": 0, "p99": 0, "max": 0, "mean": 0}
    ordered = sorted(values)
    return {
        "n": len(ordered),
        "p50": round(pct(ordered, 50), 2),
        "p95": round(pct(ordered, 95), 2),
        "p99": round(pct(ordered, 99), 2),
        "max": round(ordered[-1], 2),
        "mean": round(sum(ordered) / len(ordered), 2),
    }
