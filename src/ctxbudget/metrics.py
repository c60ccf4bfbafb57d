"""PerformanceMetrics and its lock-free recorder (per-thread slots, summed when read)."""

from __future__ import annotations

import threading
import weakref
from dataclasses import asdict, dataclass
from typing import Any


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


class MetricsRecorder:
    """Accumulates counts, hits, misses and time. Each thread adds to its own slot, so recording needs no
    lock and loses nothing; slots outlive their threads so nothing is dropped when a thread ends."""

    def __init__(self) -> None:
        self._local = threading.local()
        self._slots: list[list[float]] = []
        self._retired = [0, 0, 0, 0.0]  # totals of slots whose threads are gone
        self._lock = threading.Lock()
        self.batch_size = 1

    def _new_slot(self) -> list[float]:
        slot = [0, 0, 0, 0.0]  # uncached counts, hits, misses, seconds
        with self._lock:
            self._slots.append(slot)
        self._local.slot = slot
        # a thread-per-request server must not grow the slot list forever: fold the slot in when the thread goes
        weakref.finalize(threading.current_thread(), self._retire, slot)
        return slot

    def _retire(self, slot: list[float]) -> None:
        with self._lock:
            for i, value in enumerate(slot):
                self._retired[i] += value
            self._slots = [s for s in self._slots if s is not slot]

    def record(self, counts: int, hits: int, misses: int, seconds: float, batch_size: int) -> None:
        """``counts`` texts of which ``hits`` came from and ``misses`` went to a cache."""
        try:
            slot = self._local.slot
        except AttributeError:
            slot = self._new_slot()
        slot[0] += counts - hits - misses
        slot[1] += hits
        slot[2] += misses
        slot[3] += seconds
        self.batch_size = batch_size

    def hit(self, seconds: float) -> None:
        """One single-text count served by a cache (the hot path: two increments)."""
        try:
            slot = self._local.slot
        except AttributeError:
            slot = self._new_slot()
        slot[1] += 1
        slot[3] += seconds
        self.batch_size = 1

    def snapshot(self, cache_enabled: bool) -> PerformanceMetrics:
        with self._lock:
            slots = [list(s) for s in self._slots] + [list(self._retired)]
        counts = int(sum(s[0] + s[1] + s[2] for s in slots))
        total_ms = sum(s[3] for s in slots) * 1000.0
        return PerformanceMetrics(
            cache_enabled=cache_enabled,
            batch_size=self.batch_size,
            total_counts=counts,
            cache_hits=int(sum(s[1] for s in slots)),
            cache_misses=int(sum(s[2] for s in slots)),
            avg_count_time_ms=total_ms / counts if counts else 0.0,
            total_time_ms=total_ms,
        )

    def reset(self) -> None:
        with self._lock:
            for slot in self._slots:
                slot[:] = [0, 0, 0, 0.0]
            self._retired = [0, 0, 0, 0.0]
        self.batch_size = 1
