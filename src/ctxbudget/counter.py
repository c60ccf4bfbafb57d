"""Counting: the plain ``Counter`` (backend + cache) and the ``TokenCounter`` compatibility façade.

Every count goes through ``count_one`` / ``count_many`` below, so single, batch, async, façade and
``Counter`` calls share one cache discipline: the text is keyed once, a hit returns at once, a miss is
counted by the backend and stored. Heuristic results (``len//4``, words x 1.3) are cheaper than a lookup
and are never cached.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import ClassVar

from ._parallel import chunk_by_chars, get_executor
from ._util import require_str
from .cache.memory import SHORT_TEXT_CHARS, TokenCountCache, digest_key
from .metrics import MetricsRecorder, PerformanceMetrics
from .registry import ANTHROPIC, GOOGLE, OPENAI, OPENAI_ENCODINGS, resolve_model
from .tokenizers.base import TokenizerBackend, TokenizerType
from .tokenizers.estimate import CHARS4
from .tokenizers.factory import (
    MODEL_MAPPINGS,
    Route,
    TokenizerFactory,
    claude_backend,
    claude_tokenizer_family,
    register_backend,
    resolve_route,
    resolved_routes,
    unregister_backend,
)
from .tokenizers.transformers import TransformersBackend

_clock = time.perf_counter

#: Texts shorter than this are counted on the event loop by ``acount*`` for native tokenizers.
ASYNC_INLINE_CHARS = 4096
#: Characters per executor task in async batches.
ASYNC_CHUNK_CHARS = 64 * 1024


@dataclass(frozen=True)
class TokenCount:
    """A count with its provenance."""

    count: int
    tool_name: str
    tokenizer_type: TokenizerType
    tokenizer_id: str
    exact: bool
    kind: str
    cached: bool

    def __int__(self) -> int:
        return self.count


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


def _detailed(route: Route, n: int, cached: bool) -> TokenCount:
    backend = route.backend
    return TokenCount(n, route.tool, backend.tokenizer_type, backend.tokenizer_id, backend.exact, route.kind, cached)


class Counter:
    """A backend plus an optional cache: the plain object behind the façade.

    ``count``/``acount`` and ``count_batch``/``acount_batch`` mirror each other and return equal results.
    """

    def __init__(
        self,
        backend: TokenizerBackend,
        cache: TokenCountCache | None = None,
        *,
        tool_name: str | None = None,
        recorder: MetricsRecorder | None = None,
    ) -> None:
        self.backend = backend
        self.cache = cache
        self.route = Route(tool_name or backend.tokenizer_id, backend, True)
        self.recorder = recorder or MetricsRecorder()

    def count(self, text: str) -> int:
        return count_one(self.route, text, self.cache, self.recorder)[0]

    def count_detailed(self, text: str) -> TokenCount:
        return _detailed(self.route, *count_one(self.route, text, self.cache, self.recorder))

    def count_batch(self, texts: Sequence[str]) -> list[int]:
        return count_many(self.route, texts, self.cache, self.recorder)

    async def acount(self, text: str) -> int:
        return (await acount_one(self.route, text, self.cache, self.recorder))[0]

    async def acount_batch(self, texts: Sequence[str]) -> list[int]:
        return await acount_many(self.route, texts, self.cache, self.recorder)

    def metrics(self) -> PerformanceMetrics:
        return self.recorder.snapshot(self.cache is not None and self.cache.enabled)


class TokenCounter:
    """The documented static/class-method API over one process-wide cache (see SPEC.md §2.4)."""

    MODEL_MAPPINGS: ClassVar[dict[str, str]] = MODEL_MAPPINGS
    _cache: ClassVar[TokenCountCache | None] = None
    _recorder: ClassVar[MetricsRecorder] = MetricsRecorder()

    # --- cache management ---------------------------------------------------------------------------
    @classmethod
    def initialize_cache(cls, maxsize: int = 1000, ttl: float = 300.0, enabled: bool = True) -> TokenCountCache:
        cls._cache = TokenCountCache(maxsize=maxsize, ttl=ttl, enabled=enabled)
        return cls._cache

    @classmethod
    def get_cache(cls) -> TokenCountCache | None:
        return cls._cache

    @classmethod
    def clear_cache(cls) -> None:
        if cls._cache is not None:
            cls._cache.clear()

    @classmethod
    def reset_cache(cls) -> None:
        cls._cache = None

    @classmethod
    def get_cache_statistics(cls):  # type: ignore[no-untyped-def]
        return cls._cache.get_statistics() if cls._cache is not None else None

    @classmethod
    def get_performance_metrics(cls) -> PerformanceMetrics:
        cache = cls._cache
        return cls._recorder.snapshot(cache is not None and cache.enabled)

    @classmethod
    def reset_performance_metrics(cls) -> None:
        cls._recorder.reset()

    @staticmethod
    def register_backend(tool_name: str, backend: TokenizerBackend) -> None:
        register_backend(tool_name, backend)

    @staticmethod
    def unregister_backend(tool_name: str) -> bool:
        return unregister_backend(tool_name)

    # --- counting -------------------------------------------------------------------------------------
    @classmethod
    def _cache_for(cls, use_cache: bool, cache: TokenCountCache | None) -> TokenCountCache | None:
        if not use_cache:
            return None
        return cache if cache is not None else cls._cache

    @classmethod
    def count_tokens(
        cls, text: str, tool_name: str, use_tokenizer: bool = True, use_cache: bool = True,
        *, cache: TokenCountCache | None = None,
    ) -> int:
        route = resolved_routes.get((tool_name, use_tokenizer))
        if route is None or route.env is not None:  # Claude routes follow the model variables
            route = resolve_route(tool_name, use_tokenizer)
        if use_cache:
            return count_one(route, text, cache if cache is not None else cls._cache, cls._recorder)[0]
        return count_one(route, text, None, cls._recorder)[0]

    @classmethod
    def count_tokens_detailed(
        cls, text: str, tool_name: str, use_tokenizer: bool = True, use_cache: bool = True,
        *, cache: TokenCountCache | None = None,
    ) -> TokenCount:
        route = resolve_route(tool_name, use_tokenizer)
        return _detailed(route, *count_one(route, text, cls._cache_for(use_cache, cache), cls._recorder))

    @classmethod
    def batch_count_tokens(
        cls, texts: Sequence[str], tool_name: str, use_tokenizer: bool = True, use_cache: bool = True,
        *, cache: TokenCountCache | None = None,
    ) -> list[int]:
        route = resolve_route(tool_name, use_tokenizer)
        return count_many(route, texts, cls._cache_for(use_cache, cache), cls._recorder)

    @classmethod
    async def async_count_tokens(
        cls, text: str, tool_name: str, use_tokenizer: bool = True, use_cache: bool = True,
        *, cache: TokenCountCache | None = None,
    ) -> int:
        route = resolve_route(tool_name, use_tokenizer)
        return (await acount_one(route, text, cls._cache_for(use_cache, cache), cls._recorder))[0]

    @classmethod
    async def async_batch_count_tokens(
        cls, texts: Sequence[str], tool_name: str, use_tokenizer: bool = True, use_cache: bool = True,
        *, cache: TokenCountCache | None = None,
    ) -> list[int]:
        route = resolve_route(tool_name, use_tokenizer)
        return await acount_many(route, texts, cls._cache_for(use_cache, cache), cls._recorder)

    @classmethod
    def _uncached(cls, tool: str, text: str, use_tokenizer: bool) -> int:
        return count_one(resolve_route(tool, use_tokenizer), text, None, cls._recorder)[0]

    @classmethod
    def count_claude_tokens(cls, text: str, use_tokenizer: bool = True) -> int:
        return cls._uncached("claude", text, use_tokenizer)

    @classmethod
    def count_codex_tokens(cls, text: str, use_tokenizer: bool = True) -> int:
        return cls._uncached("codex", text, use_tokenizer)

    @classmethod
    def count_gemini_tokens(cls, text: str, use_tokenizer: bool = True) -> int:
        return cls._uncached("gemini", text, use_tokenizer)

    @classmethod
    def count_tokens_with_model(
        cls, text: str, model_name: str, tokenizer_type: TokenizerType | str | None = None
    ) -> int:
        """Count for a model id. Only ``TypeError`` is raised: tokenizer problems give ``len//4``."""
        require_str(text)
        try:
            backend = _model_backend(model_name, tokenizer_type)
        except Exception:  # the contract: tokenizer/registry problems degrade to the estimate
            backend = CHARS4
        try:
            n, _ = count_one(Route(f"model:{model_name}", backend, True), text, cls._cache, cls._recorder)
        except TypeError:
            raise
        except Exception:
            return CHARS4.count(text)
        return n


def _model_backend(model_name: str, tokenizer_type: TokenizerType | str | None) -> TokenizerBackend:
    kind = TokenizerType(tokenizer_type) if tokenizer_type is not None else None
    if kind is TokenizerType.ESTIMATION:
        return CHARS4
    if kind is TokenizerType.TIKTOKEN:
        if model_name in OPENAI_ENCODINGS:
            return TokenizerFactory.get_openai_backend(model_name)
        try:
            spec = resolve_model(model_name)
        except Exception:
            spec = None
        encoding = spec.encoding if spec is not None and spec.provider == OPENAI else "cl100k_base"
        return TokenizerFactory.get_openai_backend(encoding)
    if kind is TokenizerType.TRANSFORMERS:
        return TransformersBackend(model_name, TokenizerFactory.get_transformers_tokenizer(model_name))
    spec = resolve_model(model_name)
    if spec.provider == OPENAI:
        return TokenizerFactory.get_openai_backend(spec.encoding)
    if spec.provider == ANTHROPIC:
        return claude_backend(claude_tokenizer_family(model_name))
    if spec.provider == GOOGLE:
        return resolve_route("gemini", True).backend
    return CHARS4


def backend_for(model_or_tool: str) -> TokenizerBackend:
    """The backend counting for a tool name (as ``count_tokens`` would) or a model id.

    Unknown names raise ``UnknownModelError``; unlike ``count_tokens_with_model`` nothing is guessed.
    """
    require_str(model_or_tool, "model")
    name = model_or_tool.strip().lower()
    if name in MODEL_MAPPINGS:
        return resolve_route(name, True).backend
    return _model_backend(model_or_tool, None)
