"""A bounded, lazily created thread pool shared by batch and async counting.

Native tokenizers (tiktoken's Rust core) release the GIL while encoding, so chunks of many texts per task
use every core; one task per text would drown in scheduling overhead for short texts.
"""

from __future__ import annotations

import atexit
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")

#: Below this many characters in total a batch is counted in the calling thread.
PARALLEL_MIN_CHARS = 256 * 1024
#: Characters per task when a batch is split.
CHUNK_CHARS = 128 * 1024

_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


def worker_count() -> int:
    return max(1, min(8, os.cpu_count() or 1))


def get_executor() -> ThreadPoolExecutor:
    """The shared pool (``worker_count()`` threads), created on first use."""
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=worker_count(), thread_name_prefix="ctxbudget")
        return _executor


def _shutdown() -> None:
    with _executor_lock:
        if _executor is not None:
            _executor.shutdown(wait=False, cancel_futures=True)


atexit.register(_shutdown)


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


def map_chunked(count_chunk: Callable[[Sequence[str]], list[T]], texts: Sequence[str]) -> list[T]:
    """``count_chunk`` over ``texts``: in this thread for small batches, else chunked over the pool."""
    total = sum(map(len, texts))
    if total < PARALLEL_MIN_CHARS or worker_count() == 1:
        return count_chunk(texts)
    chunks = chunk_by_chars(texts, max(CHUNK_CHARS // 4, min(CHUNK_CHARS, total // worker_count())))
    if len(chunks) == 1:
        return count_chunk(texts)
    results: list[T] = []
    for part in get_executor().map(count_chunk, chunks):
        results.extend(part)
    return results
