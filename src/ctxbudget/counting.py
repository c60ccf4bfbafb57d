"""The cache discipline every count follows: single, batch and async, with or without a cache.

The text is keyed once; a hit returns at once; a miss is counted by the backend (once, even when several
threads miss the same key on a slow backend) and stored. Heuristic results (``len//4``, words x 1.3) are
cheaper than a lookup and are never cached. ``counter.Counter`` and ``counter.TokenCounter`` are thin faces
over these functions.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable, Sequence

from ._parallel import chunk_by_chars, get_executor
from ._util import require_str
from .cache.memory import SHORT_TEXT_CHARS, TokenCountCache, digest_key
from .metrics import MetricsRecorder
from .tokenizers.base import TokenizerType
from .tokenizers.factory import Route

_clock = time.perf_counter

#: Texts shorter than this are counted on the event loop by ``acount*`` for native tokenizers.
ASYNC_INLINE_CHARS = 4096
#: Characters per executor task in async batches.
ASYNC_CHUNK_CHARS = 64 * 1024


def _check_texts(texts: Sequence[str]) -> list[str]:
    if isinstance(texts, (str, bytes)):
        raise TypeError(f"texts must be a sequence of str, not {type(texts).__name__}")
    items = list(texts)
    for i, text in enumerate(items):
        if type(text) is not str and not isinstance(text, str):
            raise TypeError(f"texts[{i}] must be str, not {type(text).__name__}")
    return items


def text_key(route: Route, text: str) -> Hashable:
    """The cache key of ``text`` on ``route`` (see ``cache.memory.make_key``)."""
    return (route.key_prefix, text) if len(text) <= SHORT_TEXT_CHARS else digest_key(text, route.key_prefix)


class _Flight:
    """One tokenisation in progress, which other threads missing the same key wait for."""

    __slots__ = ("done", "error", "value", "waiters")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.value = 0
        self.error: BaseException | None = None
        self.waiters = 0


_flights: dict[tuple[int, Hashable], _Flight] = {}
_flights_lock = threading.Lock()


def single_flight(cache: TokenCountCache, key: Hashable, count: Callable[[str], int], text: str) -> int:
    """``count(text)``, run once for concurrent misses of one key in one cache: the first caller counts, the
    others wait for its result (ctok takes ~4 ms per KiB, so a duplicate count is worth avoiding)."""
    slot = (id(cache), key)
    with _flights_lock:
        flight = _flights.get(slot)
        leader = flight is None
        if flight is None:
            flight = _flights[slot] = _Flight()
        else:
            flight.waiters += 1
    if not leader:
        flight.done.wait()
        if flight.error is not None:
            raise flight.error
        return flight.value
    try:
        flight.value = count(text)
        return flight.value
    except BaseException as exc:
        flight.error = exc
        raise
    finally:
        with _flights_lock:
            del _flights[slot]
        flight.done.set()


def count_one(route: Route, text: str, cache: TokenCountCache | None, recorder: MetricsRecorder) -> tuple[int, bool]:
    """Count one text through ``cache``; returns ``(count, came_from_cache)``."""
    if type(text) is not str:
        require_str(text)
    start = _clock()
    if cache is not None and route.cacheable:
        # text_key() inlined: this is the hot path of every cached count
        key = (route.key_prefix, text) if len(text) <= SHORT_TEXT_CHARS else digest_key(text, route.key_prefix)
        n = cache.lookup(key)
        if n is not None:
            recorder.hit(_clock() - start)
            return n, True
        if route.backend.tokenizer_type is TokenizerType.TIKTOKEN:  # fast enough that waiting would not pay
            n = route.backend.count(text)
        else:
            n = single_flight(cache, key, route.backend.count, text)
        if cache.enabled:
            cache.store(key, n)
            recorder.record(1, 0, 1, _clock() - start, 1)
            return n, False
    else:
        n = route.backend.count(text)
    recorder.record(1, 0, 0, _clock() - start, 1)
    return n, False


class _BatchPlan:
    """One cache pass over the distinct texts of a batch: what was found, what must be counted."""

    def __init__(self, route: Route, texts: list[str], cache: TokenCountCache | None) -> None:
        self.route = route
        self.cache = cache if cache is not None and route.cacheable and cache.enabled else None
        self.counts: dict[str, int] = {}
        self.hits = 0
        self.missing: list[str] = []
        self.keys: list[Hashable] = []
        distinct = dict.fromkeys(texts)
        if self.cache is None:
            self.missing = list(distinct)
            return
        prefix = route.key_prefix
        keys = [(prefix, t) if len(t) <= SHORT_TEXT_CHARS else digest_key(t, prefix) for t in distinct]
        found = self.cache.lookup_many(keys)
        self.counts = {t: n for t, n in zip(distinct, found, strict=True) if n is not None}
        self.hits = len(self.counts)
        if self.hits < len(keys):
            self.missing = [t for t, n in zip(distinct, found, strict=True) if n is None]
            self.keys = [k for k, n in zip(keys, found, strict=True) if n is None]

    def fill(self, counted: Sequence[int]) -> None:
        if len(counted) != len(self.missing):
            raise RuntimeError(
                f"backend {self.route.backend.tokenizer_id} returned {len(counted)} counts "
                f"for {len(self.missing)} texts"
            )
        self.counts.update(zip(self.missing, counted, strict=True))
        if self.cache is not None:
            self.cache.store_many(self.keys, counted)

    def result(self, texts: list[str], recorder: MetricsRecorder, start: float) -> list[int]:
        counts = self.counts
        out = [counts[t] for t in texts]
        misses = len(self.missing) if self.cache is not None else 0
        recorder.record(len(texts), self.hits, misses, _clock() - start, len(texts))
        return out


def count_many(
    route: Route, texts: Sequence[str], cache: TokenCountCache | None, recorder: MetricsRecorder
) -> list[int]:
    """Batch count: order kept, each distinct text looked up once, misses through ``count_batch``."""
    items = _check_texts(texts)
    if not items:
        return []
    start = _clock()
    plan = _BatchPlan(route, items, cache)
    if plan.missing:
        plan.fill(route.backend.count_batch(plan.missing))
    return plan.result(items, recorder, start)


def _runs_inline(route: Route, chars: int) -> bool:
    if not route.cacheable:  # heuristics: cheaper than any hand-off
        return True
    return route.backend.tokenizer_type is TokenizerType.TIKTOKEN and chars <= ASYNC_INLINE_CHARS


async def acount_one(
    route: Route, text: str, cache: TokenCountCache | None, recorder: MetricsRecorder
) -> tuple[int, bool]:
    """``count_one`` for the event loop: cheap work inline, tokenisation in the bounded pool."""
    if type(text) is not str:
        require_str(text)
    if _runs_inline(route, len(text)):
        return count_one(route, text, cache, recorder)
    start = _clock()
    use = cache if cache is not None and route.cacheable and cache.enabled else None
    key = text_key(route, text)
    if use is not None:
        n = use.lookup(key)
        if n is not None:
            recorder.record(1, 1, 0, _clock() - start, 1)
            return n, True
    import asyncio

    n = await asyncio.get_running_loop().run_in_executor(get_executor(), route.backend.count, text)
    if use is not None:
        use.store(key, n)
    recorder.record(1, 0, 1 if use is not None else 0, _clock() - start, 1)
    return n, False


async def acount_many(
    route: Route, texts: Sequence[str], cache: TokenCountCache | None, recorder: MetricsRecorder
) -> list[int]:
    """``count_many`` for the event loop: the cache pass inline, misses in chunks on the bounded pool."""
    items = _check_texts(texts)
    if not items:
        return []
    start = _clock()
    plan = _BatchPlan(route, items, cache)
    missing = plan.missing
    if missing:
        if _runs_inline(route, sum(map(len, missing))):
            plan.fill(route.backend.count_batch(missing))
        else:
            import asyncio

            loop = asyncio.get_running_loop()
            executor = get_executor()
            chunks = chunk_by_chars(missing, ASYNC_CHUNK_CHARS)
            parts = await asyncio.gather(
                *(loop.run_in_executor(executor, route.backend.count_batch, chunk) for chunk in chunks)
            )
            plan.fill([n for part in parts for n in part])
    return plan.result(items, recorder, start)
