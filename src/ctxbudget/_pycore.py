"""The hot path of the count cache in pure Python: the reference implementation of ``ctxbudget._core``.

Same names, same behaviour, same error messages as the compiled module (``_core.c``), which is a drop-in
accelerator used when it was built. ``_speedups`` picks one of the two; the test suite runs against both, and
a stateful property test drives both stores with the same operations and compares every answer.

What lives here:

* ``Store``: LRU + TTL map ``(namespace, key) -> count`` (key: a short text, or a long text's digest), one
  recency order across namespaces, exact hit/miss/eviction/expiration tallies.
* ``Recorder``: counts, hits, misses and seconds, the numbers behind ``PerformanceMetrics``.
* ``count_route(entry, text, cache, recorder)``: the cache discipline for one short text.
* ``Facade``: ``TokenCounter.count_tokens`` for the common call; every other call goes to ``fallback``.

Thread safety: every structure update of every store and recorder happens under one module lock, so a hit
takes one lock round trip. Python code supplied by the caller (an injected timer, the tokenizer) always runs
outside the lock, so it may call back into the cache.
"""

from __future__ import annotations

import math
import operator
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence, Sized
from typing import Any

#: Texts up to this many characters are keyed by the text itself; longer ones by a digest.
SHORT_TEXT_CHARS = 1024

_INT64_MAX = (1 << 63) - 1
_TTL_NS_MAX = _INT64_MAX // 4
_COUNT_MASK = (1 << 64) - 1
# Always taken with ``with``: acquire() + try/finally would be faster (185 against 520 ns here), but a signal
# handler that raises between acquire() and the try would leave the lock held and hang every later count.
_lock = threading.Lock()
_monotonic_ns = time.monotonic_ns

RouteEntry = tuple[str, Callable[[str], Sized] | None, Callable[[str], int]]


def _type_name(value: object) -> str:
    """A value's type as the compiled module names it (its ``tp_name``): the bare name for builtins and for
    classes defined in Python, module-qualified for other C types (``collections.OrderedDict``)."""
    kind = type(value)
    if kind.__flags__ & (1 << 9) or kind.__module__ == "builtins":  # Py_TPFLAGS_HEAPTYPE: a Python class
        return kind.__name__
    return f"{kind.__module__}.{kind.__name__}"


def _ssize(value: Any) -> int:
    """An argument as ``PyArg_Parse`` reads ``n`` (a Py_ssize_t)."""
    n = operator.index(value)  # TypeError: "'float' object cannot be interpreted as an integer"
    if not -sys.maxsize - 1 <= n <= sys.maxsize:
        raise OverflowError("Python int too large to convert to C ssize_t")
    return n


def _long_long(value: Any) -> int:
    """An argument as ``PyArg_Parse`` reads ``L`` (a long long)."""
    n = operator.index(value)
    if not -_INT64_MAX - 1 <= n <= _INT64_MAX:
        raise OverflowError("int too big to convert")
    return n


def _check_key(namespace: object, key: object) -> None:
    if type(namespace) is not str:
        raise TypeError(f"cache namespace must be str, not {_type_name(namespace)}")
    if type(key) is not str and type(key) is not int:
        raise TypeError(f"cache key must be str or int, not {_type_name(key)}")


def _as_count(value: object) -> int:
    if type(value) is not int:
        raise ValueError(f"count must be an int >= 0, got {value!r}")
    if value > _INT64_MAX:
        raise ValueError(f"count {value!r} exceeds the cache's limit of {_INT64_MAX}")
    if value < 0:
        raise ValueError(f"count must be an int >= 0, got {value!r}")
    return value


def _arg_name(value: object) -> str:
    return "None" if value is None else _type_name(value)


def _seconds_of(value: object) -> float:
    """What the compiled module's ``PyFloat_AsDouble`` accepts: floats, ``__float__`` and ``__index__``."""
    if isinstance(value, float):
        return value
    if hasattr(type(value), "__float__"):
        return float(value)  # type: ignore[arg-type]
    if hasattr(type(value), "__index__"):
        return float(value.__index__())  # type: ignore[attr-defined]
    raise TypeError(f"must be real number, not {_type_name(value)}")


class Store:
    """``Store(maxsize, ttl_ns, timer=None, enabled=True)``: LRU + TTL map of token counts by
    ``(namespace, key)``, with exact statistics."""

    __slots__ = ("_enabled", "_entries", "_evictions", "_expirations", "_hits", "_maxsize", "_misses", "_timer",
                 "_ttl_ns")

    #: (namespace, key) -> the count, oldest first; with a TTL ``deadline << 64 | count`` (deadline in ns on the
    #: store's clock), one int instead of a tuple of two: ~75 B less per entry
    _entries: OrderedDict[tuple[str, str | int], int]
    _maxsize: int
    _ttl_ns: int
    _timer: Callable[[], float] | None
    _enabled: bool
    _hits: int
    _misses: int
    _evictions: int
    _expirations: int

    def __new__(cls, *args: Any, **kwargs: Any) -> Store:
        self = super().__new__(cls)
        self._entries = OrderedDict()
        self._maxsize = 1
        self._ttl_ns = 0
        self._timer = None
        self._enabled = True
        self._hits = self._misses = self._evictions = self._expirations = 0
        return self

    def __init__(
        self, maxsize: int, ttl_ns: int, timer: Callable[[], float] | None = None, enabled: bool = True
    ) -> None:
        maxsize = _ssize(maxsize)
        ttl_ns = _long_long(ttl_ns)
        if maxsize < 1:
            raise ValueError(f"maxsize must be an int >= 1, got {maxsize}")
        if ttl_ns < 0 or ttl_ns > _TTL_NS_MAX:
            raise ValueError(f"ttl_ns must be in [0, {_TTL_NS_MAX}], got {ttl_ns}")
        if timer is not None and not callable(timer):
            raise TypeError("timer must be callable or None")
        with _lock:
            self._entries.clear()
            self._maxsize = maxsize
            self._ttl_ns = ttl_ns
            self._enabled = bool(enabled)
            self._timer = timer
            self._hits = self._misses = self._evictions = self._expirations = 0

    # --- read-only settings ----------------------------------------------------------------------------
    @property
    def maxsize(self) -> int:
        return self._maxsize

    @property
    def enabled(self) -> bool:
        return self._enabled

    @property
    def ttl_ns(self) -> int:
        return self._ttl_ns

    # --- the clock -------------------------------------------------------------------------------------
    def _now(self) -> int:
        """The store's clock in ns; an injected timer is called here, never under the lock."""
        timer = self._timer
        if timer is None:
            return _monotonic_ns()
        value = timer()
        seconds = _seconds_of(value)
        # deadlines are now + ttl_ns (ttl_ns <= INT64_MAX / 4): keep both terms within a quarter of the range
        if not math.isfinite(seconds) or abs(seconds) > 2.0e9:
            raise ValueError(f"cache timer returned {value!r} seconds; expected a finite value within +-2e9")
        return int(seconds * 1e9)

    # --- under the lock --------------------------------------------------------------------------------
    def _lookup_locked(self, key: tuple[str, str | int], now: int) -> int | None:
        found = self._entries.get(key)
        if found is None:
            self._misses += 1
            return None
        if self._ttl_ns:
            if found >> 64 <= now:
                self._expirations += 1
                self._misses += 1
                del self._entries[key]
                return None
            found &= _COUNT_MASK
        self._entries.move_to_end(key)
        self._hits += 1
        return found

    def _insert_locked(self, key: tuple[str, str | int], count: int, now: int) -> None:
        entries = self._entries
        entries[key] = (now + self._ttl_ns) << 64 | count if self._ttl_ns else count
        entries.move_to_end(key)
        while len(entries) > self._maxsize:
            entries.popitem(last=False)
            self._evictions += 1

    # --- the interface ---------------------------------------------------------------------------------
    def lookup(self, namespace: str, key: str | int, /) -> int | None:
        """The count (refreshing its recency), or None; tallies a hit or miss."""
        _check_key(namespace, key)
        if not self._enabled:
            return None
        now = self._now() if self._ttl_ns else 0
        with _lock:
            if not self._enabled:  # an injected timer is Python code: another thread may have disabled us
                return None
            return self._lookup_locked((namespace, key), now)

    def store(self, namespace: str, key: str | int, count: int, /) -> None:
        """Insert or refresh; evicts the least recently used beyond maxsize."""
        _check_key(namespace, key)
        count = _as_count(count)
        if not self._enabled:
            return
        now = self._now() if self._ttl_ns else 0
        with _lock:
            if self._enabled:
                self._insert_locked((namespace, key), count, now)

    def lookup_many(self, namespace: str, keys: Sequence[str | int], /) -> list[int | None]:
        """``lookup`` for each key, one clock reading."""
        now = self._now() if self._enabled and self._ttl_ns else 0
        items = _fast_sequence(keys, "keys must be a sequence")
        for key in items:
            _check_key(namespace, key)
        out: list[int | None] = [None] * len(items)
        with _lock:
            if self._enabled:
                for i, key in enumerate(items):
                    out[i] = self._lookup_locked((namespace, key), now)
        return out

    def store_many(self, namespace: str, keys: Sequence[str | int], counts: Sequence[int], /) -> None:
        """``store`` for each; only the last maxsize are inserted."""
        now = self._now() if self._enabled and self._ttl_ns else 0
        key_items = _fast_sequence(keys, "keys must be a sequence")
        count_items = _fast_sequence(counts, "counts must be a sequence")
        if len(count_items) != len(key_items):
            raise ValueError("keys and counts differ in length")
        checked = []
        for key, count in zip(key_items, count_items, strict=True):
            _check_key(namespace, key)
            checked.append(_as_count(count))
        with _lock:
            if self._enabled:
                # earlier entries would be evicted by later ones of this call: never let them displace anything
                n = len(key_items)
                for i in range(max(0, n - self._maxsize), n):
                    self._insert_locked((namespace, key_items[i]), checked[i], now)

    def clear(self) -> None:
        """Remove every entry and zero every counter."""
        with _lock:
            self._entries.clear()
            self._hits = self._misses = self._evictions = self._expirations = 0

    def enable(self) -> None:
        """Cache again."""
        self._enabled = True

    def disable(self) -> None:
        """Stop caching and drop the entries (counters kept)."""
        with _lock:
            self._enabled = False
            self._entries.clear()

    def purge_expired(self) -> int:
        """Remove expired entries now; returns how many (each counts as an expiration)."""
        if not self._ttl_ns:
            return 0
        now = self._now()
        with _lock:
            expired = [key for key, packed in self._entries.items() if packed >> 64 <= now]
            for key in expired:
                del self._entries[key]
            self._expirations += len(expired)
        return len(expired)

    def counters(self) -> tuple[int, int, int, int, int]:
        """(hits, misses, evictions, expirations, size)"""
        with _lock:
            return self._hits, self._misses, self._evictions, self._expirations, len(self._entries)

    def __len__(self) -> int:
        return len(self._entries)


def _fast_sequence(value: object, message: str) -> list[Any] | tuple[Any, ...]:
    if isinstance(value, (list, tuple)):
        return value
    try:
        return list(value)  # type: ignore[call-overload, no-any-return]
    except TypeError:
        raise TypeError(message) from None


class Recorder:
    """``Recorder()``: running totals of counts, cache hits and misses, and time spent."""

    __slots__ = ("_batch_size", "_counts", "_hits", "_misses", "_seconds")

    _counts: int
    _hits: int
    _misses: int
    _seconds: float
    _batch_size: int

    def __new__(cls, *args: Any, **kwargs: Any) -> Recorder:
        self = super().__new__(cls)
        self._counts = self._hits = self._misses = 0
        self._seconds = 0.0
        self._batch_size = 1
        return self

    def record(self, counts: int, hits: int, misses: int, seconds: float, batch_size: int, /) -> None:
        """Add ``counts`` texts, of which ``hits`` came from a cache and ``misses`` went to one."""
        counts, hits, misses = _long_long(counts), _long_long(hits), _long_long(misses)
        seconds, batch_size = _seconds_of(seconds), _ssize(batch_size)
        if counts < 0 or hits < 0 or misses < 0 or hits + misses > counts:
            raise ValueError("need counts >= hits + misses, all >= 0")
        with _lock:
            self._counts += counts
            self._hits += hits
            self._misses += misses
            self._seconds += seconds
            self._batch_size = batch_size

    def totals(self) -> tuple[int, int, int, float, int]:
        """(counts, hits, misses, seconds, batch_size)"""
        with _lock:
            return self._counts, self._hits, self._misses, self._seconds, self._batch_size

    def reset(self) -> None:
        """Zero everything."""
        with _lock:
            self._counts = self._hits = self._misses = 0
            self._seconds = 0.0
            self._batch_size = 1


# --- count_route: the cache discipline for one short text ------------------------------------------------
#
# A route entry is the tuple (namespace, encode, count):
#   namespace  the cache namespace (tool, tokenizer id and version, mode)
#   encode     None, or a callable whose result's len() is the token count (minimum 1), for backends fast
#              enough to call directly (tiktoken's core); a UnicodeError falls back to count
#   count      text -> int: the backend's count (single-flight wrapped for slow backends)


def _check_entry(entry: object) -> None:
    if type(entry) is not tuple or len(entry) != 3 or type(entry[0]) is not str:
        raise TypeError("route entry must be a tuple (namespace: str, encode, count)")


def _tokenize(entry: RouteEntry, text: str) -> int:
    encode = entry[1]
    if encode is not None:
        try:
            n = len(encode(text))
        except UnicodeError:
            pass  # e.g. lone surrogates: the backend's own count handles them
        else:
            return n or 1
    value: Any = entry[2](text)
    if type(value) is not int and hasattr(type(value), "__index__"):  # int subclasses, numpy ints
        value = value.__index__()
    return _as_count(value)


def _count(entry: RouteEntry, text: str, cache: Store | None, rec: Recorder) -> tuple[int, bool]:
    start = _monotonic_ns()
    store = cache if cache is not None and cache._enabled else None
    key = (entry[0], text)
    if store is not None:
        now = store._now() if store._timer is not None and store._ttl_ns else start
        with _lock:
            # Store._lookup_locked, inlined: this is the hit path every cached count takes
            found = store._entries.get(key) if store._enabled else None
            if found is not None and store._ttl_ns:
                if found >> 64 <= now:
                    store._expirations += 1
                    del store._entries[key]
                    found = None
                else:
                    found &= _COUNT_MASK
            if found is not None:
                store._entries.move_to_end(key)
                store._hits += 1
                rec._counts += 1
                rec._hits += 1
                rec._batch_size = 1
                rec._seconds += (_monotonic_ns() - start) * 1e-9
                return found, True
            if store._enabled:
                store._misses += 1
    n = _tokenize(entry, text)  # may run any Python code
    with _lock:
        rec._counts += 1
        rec._batch_size = 1
        if store is None or not store._enabled:
            rec._seconds += (_monotonic_ns() - start) * 1e-9
            return n, False
    # an injected timer may raise here: then, as in the compiled path, the count is recorded and its time not
    now = store._now() if store._ttl_ns else 0
    with _lock:
        if store._enabled:
            store._insert_locked(key, n, now)
            rec._misses += 1
        rec._seconds += (_monotonic_ns() - start) * 1e-9
    return n, False


def count_route(entry: RouteEntry, text: str, cache: Store | None, recorder: Recorder, /) -> tuple[int, bool]:
    """``(count, cached)``: count one short text through ``cache``."""
    _check_entry(entry)
    if type(text) is not str:
        raise TypeError(f"text must be str, not {_type_name(text)}")
    if len(text) > SHORT_TEXT_CHARS:
        raise ValueError("count_route takes texts up to SHORT_TEXT_CHARS; longer ones are digest-keyed")
    if not isinstance(recorder, Recorder):
        raise TypeError("recorder must be a Recorder")
    if cache is not None and not isinstance(cache, Store):
        raise TypeError(f"cache must be a TokenCountCache or None, not {_type_name(cache)}")
    return _count(entry, text, cache, recorder)


class Facade:
    """``Facade(routes, recorder, fallback)``: ``TokenCounter.count_tokens``.

    Serves ``(text, tool_name[, True[, True]])`` for a short exact-``str`` text whose tool has an entry in
    ``routes``; every other call goes to ``fallback`` unchanged.
    """

    __slots__ = ("_cache", "fallback", "recorder", "routes")

    _cache: Store | None

    def __init__(self, routes: dict[str, RouteEntry], recorder: Recorder, fallback: Callable[..., int]) -> None:
        if not isinstance(routes, dict):
            raise TypeError(f"Facade() argument 1 must be dict, not {_arg_name(routes)}")
        if not isinstance(recorder, Recorder):
            raise TypeError(f"Facade() argument 2 must be {__name__}.Recorder, not {_arg_name(recorder)}")
        if not callable(fallback):
            raise TypeError("fallback must be callable")
        self.routes = routes
        self.recorder = recorder
        self.fallback = fallback
        if not hasattr(self, "_cache"):
            self._cache = None

    @property
    def cache(self) -> Store | None:
        """The process-wide cache (or None)."""
        return self._cache

    @cache.setter
    def cache(self, value: Store | None) -> None:
        if value is not None and not isinstance(value, Store):
            raise TypeError("cache must be a TokenCountCache or None")
        self._cache = value

    def count_tokens(self, text: str, tool_name: str, *rest: Any, **kwargs: Any) -> int:
        """Count tokens of text for tool_name through the process-wide cache."""
        try:
            routes, recorder, fallback = self.routes, self.recorder, self.fallback
        except AttributeError:
            raise RuntimeError("Facade.__init__ was not called") from None
        if (type(text) is str and type(tool_name) is str and len(text) <= SHORT_TEXT_CHARS and not kwargs
                and (not rest or (len(rest) <= 2 and all(r is True for r in rest)))):
            entry = routes.get(tool_name)
            if entry is not None:  # the routes are ctxbudget's own, built by counting.routes.Route
                return _count(entry, text, self._cache, recorder)[0]
        return fallback(text, tool_name, *rest, **kwargs)
