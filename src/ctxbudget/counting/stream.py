"""Counting a stream of ``(label, text)`` items on every core, in the stream's order, in bounded memory.

``count_stream(counters, items)`` yields ``(label, [count per counter])`` in the order the items came.
Short texts travel in batches (``Counter.count_batch``: one cache pass and one tokenizer call per batch); a
text of ``LONG_CHARS`` or more is a job of its own (``Counter.count``, which the backend counts in pieces,
and a ``Watcher`` sees those pieces). At most ``2 * worker_count()`` jobs are in flight, so memory holds
those jobs' texts, not the tree. A stream of one job is counted in the calling thread: a one-file count
starts no thread.

Loading the accelerator holds the GIL for ~0.5 s on the 2-core VM of bench/README.md, but a backend that is
accelerated before it counts never builds tiktoken's Encoding (~0.2 s; only a text the guard keeps from toktok
does), and toktok then counts ~8x faster than tiktoken on two threads: loading pays from ~3 Mi characters
on. So the first ``ACCELERATE_CHARS`` of a stream are read before anything is counted: a stream that ends
sooner is counted by tiktoken, a larger one loads the accelerator first and has all of it counted that way.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol

from ..tokenizers import accelerator
from ..tokenizers.parallel import piece_reporter, worker_count
from .counter import Counter

#: A batch of short texts closes at this many characters or ``BATCH_TEXTS`` texts.
BATCH_CHARS = 2 << 20
BATCH_TEXTS = 512
#: Texts from this length on are counted one at a time, in the backend's pieces.
LONG_CHARS = 1 << 20
#: A stream this long (characters) loads the accelerator before it counts (module docstring; measured break-even
#: 3 Mi, bench/README.md).
ACCELERATE_CHARS = 4 << 20

Row = tuple[str, list[int]]


class Watcher(Protocol):
    """Told how a count advances (the CLI's progress bar)."""

    def long_text(self, label: str, text: str, times: int) -> Callable[[int], None]:
        """Before a long text is counted ``times`` times (once per counter; in a worker thread): the callback
        the characters of its pieces go to, from that thread."""
        ...

    def counted(self, labels: Sequence[str], texts: Sequence[str]) -> None:
        """These items are counted; called in the stream's order, in the thread iterating the stream."""
        ...


@dataclass
class _Job:
    labels: list[str] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    chars: int = 0

    def add(self, label: str, text: str) -> None:
        self.labels.append(label)
        self.texts.append(text)
        self.chars += len(text)

    @property
    def full(self) -> bool:
        return self.chars >= BATCH_CHARS or len(self.texts) >= BATCH_TEXTS


def _jobs(items: Iterable[tuple[str, str]]) -> Iterator[_Job]:
    batch = _Job()
    for label, text in items:
        if len(text) >= LONG_CHARS:
            if batch.texts:  # keep the stream's order: what came before the long text goes first
                yield batch
                batch = _Job()
            long = _Job()
            long.add(label, text)
            yield long
            continue
        batch.add(label, text)
        if batch.full:
            yield batch
            batch = _Job()
    if batch.texts:
        yield batch


def _count_job(counters: Sequence[Counter], job: _Job, watcher: Watcher | None) -> list[Row]:
    if len(job.texts) == 1 and job.chars >= LONG_CHARS:
        label, text = job.labels[0], job.texts[0]
        token = piece_reporter.set(watcher.long_text(label, text, len(counters)) if watcher else None)
        try:
            return [(label, [c.count(text) for c in counters])]
        finally:
            piece_reporter.reset(token)
    columns = [c.count_batch(job.texts) for c in counters]
    return [(label, [col[i] for col in columns]) for i, label in enumerate(job.labels)]


def _accelerate(counters: Sequence[Counter]) -> None:
    for counter in counters:
        load = getattr(counter.backend, "accelerate", None)
        if load is not None:
            load(wait=True)


def _can_accelerate(counters: Sequence[Counter]) -> bool:
    """Whether some backend has an accelerator it has not loaded yet (and may load)."""
    if accelerator.mode() == "off":
        return False
    return any(hasattr(c.backend, "accelerate") and not getattr(c.backend, "accelerated", True) for c in counters)


def _read_ahead(jobs: Iterator[_Job], counters: Sequence[Counter]) -> list[_Job]:
    """The first jobs, up to ``ACCELERATE_CHARS`` (all of them when the stream is shorter); the accelerator
    is loaded when the stream is longer and some backend can use it."""
    ahead: list[_Job] = []
    chars = 0
    limit = ACCELERATE_CHARS if _can_accelerate(counters) else 0
    for job in jobs:
        ahead.append(job)
        chars += job.chars
        if len(ahead) >= 2 and chars >= limit:
            break
    if limit and chars >= limit:
        _accelerate(counters)
    return ahead


def count_stream(counters: Sequence[Counter], items: Iterable[tuple[str, str]],
                 watcher: Watcher | None = None) -> Iterator[Row]:
    """``(label, counts)`` for each item, in order (module docstring)."""
    jobs = _jobs(items)
    ahead = _read_ahead(jobs, counters)
    if len(ahead) == 1:
        yield from _finish(ahead[0], _count_job(counters, ahead[0], watcher), watcher)
        return
    in_flight = 2 * worker_count()
    with ThreadPoolExecutor(max_workers=worker_count(), thread_name_prefix="ctxbudget-count") as pool:
        pending: deque[tuple[_Job, Future[list[Row]]]] = deque()
        for job in _chain(ahead, jobs):
            pending.append((job, pool.submit(_count_job, counters, job, watcher)))
            if len(pending) >= in_flight:
                done, future = pending.popleft()
                yield from _finish(done, future.result(), watcher)
        while pending:
            done, future = pending.popleft()
            yield from _finish(done, future.result(), watcher)


def _chain(first: list[_Job], rest: Iterator[_Job]) -> Iterator[_Job]:
    while first:
        yield first.pop(0)  # let go of each job once it is submitted
    yield from rest


def _finish(job: _Job, rows: list[Row], watcher: Watcher | None) -> list[Row]:
    if watcher is not None:
        watcher.counted(job.labels, job.texts)
    return rows
