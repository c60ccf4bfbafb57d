"""A bounded, lazily created thread pool shared by batch and async counting.

Native tokenizers (tiktoken's Rust core) release the GIL while encoding, so chunks of many texts per task
use every core; one task per text would drown in scheduling overhead for short texts.

``piece_reporter`` lets a caller see a long count advance: the paths that count a long text or a large batch
in pieces call it, in the thread that asked for the count, with the characters of each piece once counted.
"""

from __future__ import annotations

import atexit
import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextvars import ContextVar
from typing import TypeVar

T = TypeVar("T")

#: Below this many characters in total a batch is counted in the calling thread.
PARALLEL_MIN_CHARS = 256 * 1024
#: Characters per task when a batch is split.
CHUNK_CHARS = 128 * 1024

#: Told the characters of each piece counted (see the module docstring); None: nobody is watching.
piece_reporter: ContextVar[Callable[[int], None] | None] = ContextVar("ctxbudget_piece_reporter", default=None)


def worker_count() -> int:
    return max(1, min(8, os.cpu_count() or 1))


class LazyPool:
    """A pool of ``worker_count()`` threads, created on first use and shut down at exit."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        atexit.register(self._shutdown)

    def get(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=worker_count(), thread_name_prefix=self.prefix)
            return self._pool

    def _shutdown(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.shutdown(wait=False, cancel_futures=True)


_shared = LazyPool("ctxbudget")


def get_executor() -> ThreadPoolExecutor:
    """The shared pool, created on first use."""
    return _shared.get()


def chunk_by_chars(texts: Sequence[str], chunk_chars: int = CHUNK_CHARS) -> list[Sequence[str]]:
    """Split ``texts`` into consecutive slices of roughly ``chunk_chars`` characters (at least one text)."""
    chunks: list[Sequence[str]] = []
    start = 0
    size = 0
    for i, text in enumerate(texts):
        size += len(text)
        if size >= chunk_chars:
            chunks.append(texts[start : i + 1])
            start, size = i + 1, 0
    if start < len(texts):
        chunks.append(texts[start:])
    return chunks


class AdaptiveMapper:
    """Counts a large batch in this thread or in chunks over the pool, whichever has measured faster.

    Threads only pay when the tokenizer releases the GIL *and* a second core is free; neither is known in
    advance (a busy or throttled core makes the pool slower than a loop), so each mode's throughput
    (characters per second, moving average) is measured on real batches and the slower mode is re-tried
    every ``explore_every`` large batches in case conditions changed.
    """

    def __init__(self, explore_every: int = 8) -> None:
        self._rate: dict[str, float] = {}
        self._calls = 0
        self._explore_every = explore_every
        self._lock = threading.Lock()

    def _choose(self) -> str:
        with self._lock:
            self._calls += 1
            for mode in ("parallel", "serial"):
                if mode not in self._rate:
                    return mode
            best = max(self._rate, key=self._rate.__getitem__)
            if self._calls % self._explore_every == 0:
                return "serial" if best == "parallel" else "parallel"
            return best

    def _record(self, mode: str, chars: int, seconds: float) -> None:
        rate = chars / max(seconds, 1e-9)
        with self._lock:
            old = self._rate.get(mode)
            self._rate[mode] = rate if old is None else 0.7 * old + 0.3 * rate

    def rates(self) -> dict[str, float]:
        with self._lock:
            return dict(self._rate)

    def map(self, count_chunk: Callable[[Sequence[str]], list[T]], texts: Sequence[str]) -> list[T]:
        total = sum(map(len, texts))
        if total < PARALLEL_MIN_CHARS or worker_count() == 1 or len(texts) < 2:
            return count_chunk(texts)
        mode = self._choose()
        report = piece_reporter.get()
        start = time.perf_counter()
        if mode == "serial" and report is None:
            results = count_chunk(texts)
        else:
            chunks = chunk_by_chars(texts, max(CHUNK_CHARS // 4, min(CHUNK_CHARS, total // worker_count())))
            # serial with a reporter: the same chunks one after another, so that the count is seen to advance
            parts = map(count_chunk, chunks) if mode == "serial" else get_executor().map(count_chunk, chunks)
            results = []
            for chunk, part in zip(chunks, parts, strict=True):
                results.extend(part)
                if report is not None:
                    report(sum(map(len, chunk)))
        self._record(mode, total, time.perf_counter() - start)
        return results
