"""TokenCountCache: a thread-safe LRU + TTL map from (tool, variant, text) to a token count.

Speed matters here (a hit must beat re-tokenising a 20-character text), so reads take no lock: under the
GIL every single ``OrderedDict`` operation is atomic, and hit/miss tallies are ``itertools.count`` objects,
whose ``next()`` is one C call and so never loses an increment. Writes, expiry removal and statistics take
the lock. On a free-threaded build (no GIL) reads take the lock too.

Keys: texts up to ``SHORT_TEXT_CHARS`` key by the string itself; longer ones by a 128-bit xxh3 digest of
their UTF-8 bytes (seeded by tool and variant) plus their length, so the cache never keeps long texts alive
and an entry costs about a hundred bytes whatever the text size.
Values: the count, or with a TTL the count packed with its deadline in nanoseconds (one int, no tuple).
"""

from __future__ import annotations

import itertools
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import asdict, dataclass
from typing import Any

import xxhash

SHORT_TEXT_CHARS = 256
_COUNT_BITS = 40
_COUNT_MASK = (1 << _COUNT_BITS) - 1
_LOCK_FREE_READS: bool = getattr(sys, "_is_gil_enabled", lambda: True)()


@dataclass
class CacheStatistics:
    hits: int = 0
    misses: int = 0
    hit_rate: float = 0.0
    size: int = 0
    max_size: int = 0
    evictions: int = 0
    expirations: int = 0

    def update_hit_rate(self) -> None:
        total = self.hits + self.misses
        self.hit_rate = self.hits / total if total else 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class _Tally:
    """An exact event counter whose increment needs no lock (see the module docstring)."""

    __slots__ = ("_counter", "_reads", "bump")

    def __init__(self) -> None:
        self._counter = itertools.count()
        self.bump: Callable[[], int] = self._counter.__next__
        self._reads = 0

    def read(self) -> int:
        """Current value; callers serialise reads (each read advances the underlying counter once)."""
        value = self.bump() - self._reads
        self._reads += 1
        return value


_seed_cache: dict[tuple[str, str], int] = {}


def _seed(tool_name: str, variant: str) -> int:
    seed = _seed_cache.get((tool_name, variant))
    if seed is None:
        seed = xxhash.xxh3_64_intdigest(f"{tool_name}\x00{variant}".encode("utf-8", "surrogatepass"))
        if len(_seed_cache) > 4096:
            _seed_cache.clear()
        _seed_cache[(tool_name, variant)] = seed
    return seed


def make_key(text: str, tool_name: str, variant: str = "") -> Hashable:
    """The cache key of a text: the string itself when short, else digest + length (text not retained)."""
    if len(text) <= SHORT_TEXT_CHARS:
        return (tool_name, variant, text)
    digest: int = xxhash.xxh3_128_intdigest(text.encode("utf-8", "surrogatepass"), _seed(tool_name, variant))
    return digest | (len(text) << 128)


class TokenCountCache:
    """LRU-bounded, TTL-expiring token count cache with exact statistics."""

    def __init__(
        self,
        maxsize: int = 1000,
        ttl: float = 300.0,
        enabled: bool = True,
        *,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        if isinstance(maxsize, bool) or not isinstance(maxsize, int) or maxsize < 1:
            raise ValueError(f"maxsize must be an int >= 1, got {maxsize!r}")
        if isinstance(ttl, bool) or not isinstance(ttl, (int, float)):
            raise ValueError(f"ttl must be a number, got {ttl!r}")
        self._maxsize = maxsize
        self._ttl = float(ttl)
        self._ttl_ns = int(ttl * 1e9) if ttl > 0 else 0
        self._timer = timer
        self._enabled = bool(enabled)
        self._data: OrderedDict[Hashable, int] = OrderedDict()
        self._lock = threading.RLock()
        self._hits = _Tally()
        self._misses = _Tally()
        self._evictions = 0
        self._expirations = 0
        if not _LOCK_FREE_READS:
            self.lookup = self._locked_lookup  # type: ignore[method-assign]

    # --- properties -----------------------------------------------------------------------------------
    @property
    def maxsize(self) -> int:
        return self._maxsize

    @property
    def ttl(self) -> float:
        return self._ttl

    @property
    def enabled(self) -> bool:
        return self._enabled

    # --- the documented interface ---------------------------------------------------------------------
    def get(self, text: str, tool_name: str, variant: str = "") -> int | None:
        """The cached count, or ``None`` (disabled, absent or expired). Never raises for a str text."""
        if not self._enabled:
            return None
        return self.lookup(make_key(text, tool_name, variant))

    def set(self, text: str, tool_name: str, count: int, variant: str = "") -> None:
        if not self._enabled:
            return
        self.store(make_key(text, tool_name, variant), count)

    # --- key-level interface (the counter hashes each text once per lookup + store) ---------------------
    def lookup(self, key: Hashable) -> int | None:
        if not self._enabled:
            return None
        data = self._data
        entry = data.get(key)
        if entry is None:
            self._misses.bump()
            return None
        if self._ttl_ns:
            if entry >> _COUNT_BITS <= int(self._timer() * 1e9):
                self._expire(key, entry)
                return None
            entry &= _COUNT_MASK
        try:
            data.move_to_end(key)
        except KeyError:  # removed by another thread after our read; the value read is still right
            pass
        self._hits.bump()
        return entry

    def _locked_lookup(self, key: Hashable) -> int | None:
        with self._lock:
            return TokenCountCache.lookup(self, key)

    def store(self, key: Hashable, count: int) -> None:
        if type(count) is not int or count < 0 or count > _COUNT_MASK:
            raise ValueError(f"count must be an int >= 0, got {count!r}")
        if not self._enabled:
            return
        value = count
        if self._ttl_ns:
            value |= (int(self._timer() * 1e9) + self._ttl_ns) << _COUNT_BITS
        data = self._data
        with self._lock:
            data[key] = value
            data.move_to_end(key)
            if len(data) > self._maxsize:
                data.popitem(last=False)
                self._evictions += 1

    def _expire(self, key: Hashable, entry: int) -> None:
        with self._lock:
            if self._data.get(key) == entry:
                del self._data[key]
                self._expirations += 1
            self._misses.bump()

    # --- management -----------------------------------------------------------------------------------
    def clear(self) -> None:
        """Remove every entry and zero every counter."""
        with self._lock:
            self._data.clear()
            self._hits = _Tally()
            self._misses = _Tally()
            self._evictions = 0
            self._expirations = 0

    def disable(self) -> None:
        """Stop caching and drop the entries; the counters are kept."""
        with self._lock:
            self._enabled = False
            self._data.clear()

    def enable(self) -> None:
        with self._lock:
            self._enabled = True

    def purge_expired(self) -> int:
        """Remove expired entries now; returns how many (each counts as an expiration)."""
        if not self._ttl_ns:
            return 0
        with self._lock:
            now = int(self._timer() * 1e9)
            expired = [k for k, v in self._data.items() if v >> _COUNT_BITS <= now]
            for key in expired:
                del self._data[key]
            self._expirations += len(expired)
            return len(expired)

    def get_statistics(self) -> CacheStatistics:
        with self._lock:
            self.purge_expired()
            stats = CacheStatistics(
                hits=self._hits.read(),
                misses=self._misses.read(),
                size=len(self._data),
                max_size=self._maxsize,
                evictions=self._evictions,
                expirations=self._expirations,
            )
        stats.update_hit_rate()
        return stats

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return (f"TokenCountCache(maxsize={self._maxsize}, ttl={self._ttl}, enabled={self._enabled}, "
                f"size={len(self._data)})")
