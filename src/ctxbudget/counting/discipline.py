"""The cache discipline every count follows: single, batch and async, with or without a cache.

The text is keyed once; a hit returns at once; a miss is counted by the backend (once, even when several
threads miss the same key on a slow backend) and stored. Heuristic results (``len//4``, words x 1.3) are
cheaper than a lookup and are never cached. Short texts take the hot path (``_speedups.count_route``,
compiled when built); long ones are keyed by digest here. ``counter.Counter`` and ``counter.TokenCounter``
are thin faces over these functions.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from .._speedups import count_route
from ..cache.memory import SHORT_TEXT_CHARS, TokenCountCache, digest_key, exact_str, text_key
from ..tokenizers.base import is_fast
from ..tokenizers.parallel import chunk_by_chars, get_executor
from .flight import single_flight
from .metrics import MetricsRecorder
from .routes import Route

_clock = time.perf_counter

#: Texts shorter than this are counted on the event loop by ``acount*`` for native tokenizers.
ASYNC_INLINE_CHARS = 4096
#: Characters per executor task in async batches, unless the backend names its own ``async_chunk_chars``
#: (an accelerated backend counts megabytes per call and pays a fixed cost per call).
ASYNC_CHUNK_CHARS = 64 * 1024


def _check_texts(texts: Sequence[str]) -> list[str]:
    if isinstance(texts, (str, bytes)):
        raise TypeError(f"texts must be a sequence of str, not {type(texts).__name__}")
    items = list(texts)
    if set(map(type, items)) <= {str}:  # one C-level pass for the usual all-str batch
        return items
    for i, text in enumerate(items):
        if type(text) is not str:
            if not isinstance(text, str):
                raise TypeError(f"texts[{i}] must be str, not {type(text).__name__}")
            items[i] = exact_str(text)
    return items


def count_one(route: Route, text: str, cache: TokenCountCache | None, recorder: MetricsRecorder) -> tuple[int, bool]:
    """Count one text through ``cache``; returns ``(count, came_from_cache)``."""
    if type(text) is not str:
        text = exact_str(text)
    if route.cacheable and len(text) <= SHORT_TEXT_CHARS:
        return count_route(route.entry, text, cache, recorder)
    start = _clock()
    use = cache if cache is not None and route.cacheable and cache.enabled else None
    if use is None:
        n = route.backend.count(text)
        recorder.record(1, 0, 0, _clock() - start, 1)
        return n, False
    prefix = route.key_prefix
    key = digest_key(text, prefix)
    found = use.lookup(prefix, key)
    if found is not None:
        recorder.record(1, 1, 0, _clock() - start, 1)
        return found, True
    if is_fast(route.backend):  # waiting for another thread would not pay
        n = route.backend.count(text)
    else:
        n = single_flight((prefix, key), route.backend.count, text)
    use.store(prefix, key, n)
    recorder.record(1, 0, 1 if use.enabled else 0, _clock() - start, 1)
    return n, False


class _BatchPlan:
    """One cache pass over the distinct texts of a batch: what was found, what must be counted.

    Written for the cold batch of unique texts, where the bookkeeping is most of the cost once an
    accelerated backend counts 2 MB in ~4 ms: no per-text dict unless the batch repeats texts, and the
    found/missing split only when some texts were found.
    """

    def __init__(self, route: Route, texts: list[str], cache: TokenCountCache | None) -> None:
        self.route = route
        self.cache = cache if cache is not None and route.cacheable and cache.enabled else None
        # without a cache, a native-speed tokenizer counts a repeat faster than hashing every text finds it
        # (200 MB: ~0.15 s of hashing, holding the GIL)
        self.distinct = texts if self.cache is None and is_fast(route.backend) else list(dict.fromkeys(texts))
        self.hits = 0
        #: per distinct text: its count, or None until counted
        self.found: list[int | None] | None = None
        self.missing: list[str] = self.distinct
        self.keys: list[str | int] = []
        if self.cache is None:
            return
        prefix = route.key_prefix
        if max(map(len, self.distinct)) <= SHORT_TEXT_CHARS:
            keys: list[str | int] = list(self.distinct)
        else:
            keys = [text_key(t, prefix) for t in self.distinct]
        found = self.cache.lookup_many(prefix, keys)
        misses = found.count(None)
        self.hits = len(found) - misses
        self.keys = keys
        if self.hits:
            self.found = found
            self.missing = [t for t, n in zip(self.distinct, found, strict=True) if n is None]
            self.keys = [k for k, n in zip(keys, found, strict=True) if n is None]

    def fill(self, counted: Sequence[int]) -> None:
        if len(counted) != len(self.missing):
            raise RuntimeError(
                f"backend {self.route.backend.tokenizer_id} returned {len(counted)} counts "
                f"for {len(self.missing)} texts"
            )
        if self.cache is not None:
            self.cache.store_many(self.route.key_prefix, self.keys, counted)
        if self.found is None:
            self.found = list(counted)
        else:
            fresh = iter(counted)
            self.found = [n if n is not None else next(fresh) for n in self.found]

    def result(self, texts: list[str], recorder: MetricsRecorder, start: float) -> list[int]:
        counts: list[int] = self.found  # type: ignore[assignment]  # complete once filled
        if len(self.distinct) < len(texts):
            by_text = dict(zip(self.distinct, counts, strict=True))
            counts = [by_text[t] for t in texts]
        misses = len(self.missing) if self.cache is not None else 0
        recorder.record(len(texts), self.hits, misses, _clock() - start, len(texts))
        return counts


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
    return is_fast(route.backend) and chars <= ASYNC_INLINE_CHARS


async def acount_one(
    route: Route, text: str, cache: TokenCountCache | None, recorder: MetricsRecorder
) -> tuple[int, bool]:
    """``count_one`` for the event loop: cheap work inline, tokenisation in the bounded pool."""
    if type(text) is not str:
        text = exact_str(text)
    if _runs_inline(route, len(text)):
        return count_one(route, text, cache, recorder)
    start = _clock()
    use = cache if cache is not None and route.cacheable and cache.enabled else None
    key = text_key(text, route.key_prefix)
    if use is not None:
        n = use.lookup(route.key_prefix, key)
        if n is not None:
            recorder.record(1, 1, 0, _clock() - start, 1)
            return n, True
    import asyncio

    n = await asyncio.get_running_loop().run_in_executor(get_executor(), route.backend.count, text)
    if use is not None:
        use.store(route.key_prefix, key, n)
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
        chars = sum(map(len, missing))
        if _runs_inline(route, chars):
            plan.fill(route.backend.count_batch(missing))
        else:
            import asyncio

            loop = asyncio.get_running_loop()
            executor = get_executor()
            chunk_chars = getattr(route.backend, "async_chunk_chars", ASYNC_CHUNK_CHARS)
            if chars <= chunk_chars:
                plan.fill(await loop.run_in_executor(executor, route.backend.count_batch, missing))
            else:
                parts = await asyncio.gather(*(
                    loop.run_in_executor(executor, route.backend.count_batch, chunk)
                    for chunk in chunk_by_chars(missing, chunk_chars)
                ))
                plan.fill([n for part in parts for n in part])
    return plan.result(items, recorder, start)
