"""PerformanceMetrics and the recorder that accumulates it.

The running totals live in ``_speedups.Recorder`` (compiled, or its pure-Python reference): the cached-count
hot path adds to them in the same call that serves the hit, and each update is atomic, so no increment is
lost between threads.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from .._speedups import Recorder


@dataclass
class PerformanceMetrics:
    cache_enabled: bool = False
    batch_size: int = 1
    total_counts: int = 0
    cache_hits: int = 0
    cache_misses: int = 0
    avg_count_time_ms: float = 0.0
    total_time_ms: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class MetricsRecorder(Recorder):
    """Counts, hits, misses and time of every count; ``record(counts, hits, misses, seconds, batch_size)``
    adds ``counts`` texts of which ``hits`` came from and ``misses`` went to a cache."""

    def snapshot(self, cache_enabled: bool) -> PerformanceMetrics:
        counts, hits, misses, seconds, batch_size = self.totals()
        total_ms = seconds * 1000.0
        return PerformanceMetrics(
            cache_enabled=cache_enabled,
            batch_size=batch_size,
            total_counts=counts,
            cache_hits=hits,
            cache_misses=misses,
            avg_count_time_ms=total_ms / counts if counts else 0.0,
            total_time_ms=total_ms,
        )
