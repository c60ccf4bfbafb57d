"""The cache discipline every count follows: single, batch and async, with or without a cache.

The text is keyed once; a hit returns at once; a miss is counted by the backend (once, even when several
threads miss the same key on a slow backend) and stored. Heuristic results (``len//4``, words x 1.3) are
cheaper than a lookup and are never cached. Short texts take the compiled path (``_core.count_route``);
long ones are keyed by digest here. ``counter.Counter`` and ``counter.TokenCounter`` are thin faces over
these functions.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from ._core import count_route
from ._flight import single_flight
from ._parallel import chunk_by_chars, get_executor
from .cache.memory import SHORT_TEXT_CHARS, TokenCountCache, digest_key, exact_str, text_key
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
    if route.backend.tokenizer_type is TokenizerType.TIKTOKEN:  # fast enough that waiting would not pay
        n = route.backend.count(text)
    else:
        n = single_flight((prefix, key), route.backend.count, text)
    use.store(prefix, key, n)
    recorder.record(1, 0, 1 if use.enabled else 0, _clock() - start, 1)
    return n, False


class _BatchPlan:
    """One cache pass over the distinct texts of a batch: what was found, what must be counted."""

    def __init__(self, route: Route, texts: list[str], cache: TokenCountCache | None) -> None:
        self.route = route
        self.cache = cache if cache is not None and route.cacheable and cache.enabled else None
        self.counts: dict[str, int] = {}
        self.hits = 0
        self.missing: list[str] = []
        self.keys: list[str | int] = []
        distinct = dict.fromkeys(texts)
        if self.cache is None:
            self.missing = list(distinct)
            return
        prefix = route.key_prefix
        keys = [t if len(t) <= SHORT_TEXT_CHARS else digest_key(t, prefix) for t in distinct]
        found = self.cache.lookup_many(prefix, keys)
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
            self.cache.store_many(self.route.key_prefix, self.keys, counted)

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
