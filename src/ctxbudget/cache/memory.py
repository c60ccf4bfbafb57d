"""TokenCountCache: a thread-safe LRU + TTL map from (tool, variant, text) to a token count.

Speed matters here (a hit must beat re-tokenising a 20-character text), so reads take no lock: under the
GIL every single ``OrderedDict`` operation is atomic, and hit/miss tallies are ``itertools.count`` objects,
whose ``next()`` is one C call and so never loses an increment. Writes, expiry removal and statistics take
the lock. On a free-threaded build (no GIL) reads take the lock too.

Keys: texts up to ``SHORT_TEXT_CHARS`` key by (namespace, the string itself); longer ones by a 128-bit xxh3 digest of
their UTF-8 bytes (seeded by tool and variant) plus their length, so the cache never keeps long texts alive
and an entry costs about a hundred bytes whatever the text size.
Values: the count, or with a TTL the count packed with its deadline in nanoseconds (one int, no tuple).
"""

from __future__ import annotations

import itertools
import math
import sys
import threading
import time
from collections import OrderedDict
from collections import deque as _consume
from collections.abc import Callable, Hashable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import xxhash

SHORT_TEXT_CHARS = 1024
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

    def advance(self, n: int) -> None:
        """``n`` increments in one C-level pass."""
        if n > 0:
            _consume(itertools.islice(self._counter, n), maxlen=0)

    def read(self) -> int:
        """Current value; callers serialise reads (each read advances the underlying counter once)."""
        value = self.bump() - self._reads
        self._reads += 1
        return value


_prefixes: dict[tuple[str, str], str] = {}


def key_prefix(tool_name: str, variant: str) -> str:
    """The namespace of a (tool, variant) pair; length-prefixed so that no two pairs share a prefix."""
    prefix = _prefixes.get((tool_name, variant))
    if prefix is None:
        prefix = f"{len(tool_name)}:{tool_name}{len(variant)}:{variant}"
        if len(_prefixes) > 4096:
            _prefixes.clear()
        _prefixes[(tool_name, variant)] = prefix
    return prefix


_seed_cache: dict[str, int] = {}


def _seed(prefix: str) -> int:
    seed = _seed_cache.get(prefix)
    if seed is None:
        seed = xxhash.xxh3_64_intdigest(prefix.encode("utf-8", "surrogatepass"))
        if len(_seed_cache) > 4096:
            _seed_cache.clear()
        _seed_cache[prefix] = seed
    return seed


def digest_key(text: str, prefix: str) -> int:
    """Key of a long text: 128-bit xxh3 of its UTF-8 bytes, seeded by the namespace, plus its length."""
    digest: int = xxhash.xxh3_128_intdigest(text.encode("utf-8", "surrogatepass"), _seed(prefix))
    return digest | (len(text) << 128)


def make_key(text: str, tool_name: str, variant: str = "") -> Hashable:
    """The cache key of a text: ``(namespace, text)`` when short — a str caches its own hash, so the lookup
    and the LRU refresh hash the text once, and a caller that re-uses its strings never re-hashes them —
    else a digest + length (the text is not retained)."""
    prefix = key_prefix(tool_name, variant)
    return (prefix, text) if len(text) <= SHORT_TEXT_CHARS else digest_key(text, prefix)


def _check_count(count: object) -> None:
    if type(count) is not int or count < 0:
        raise ValueError(f"count must be an int >= 0, got {count!r}")
    if count > _COUNT_MASK:
        raise ValueError(f"count {count} exceeds the cache's limit of {_COUNT_MASK}")


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
        if isinstance(ttl, bool) or not isinstance(ttl, (int, float)) or math.isnan(ttl):
            raise ValueError(f"ttl must be a number, got {ttl!r}")
        self._maxsize = maxsize
        self._ttl = float(ttl)
        # inf means never; a positive ttl below a nanosecond still expires (after 1 ns)
        self._ttl_ns = max(1, round(ttl * 1e9)) if 0 < ttl < math.inf else 0
        self._timer = timer
        self._enabled = bool(enabled)
        self._data: OrderedDict[Hashable, int] = OrderedDict()
        self._lock = threading.RLock()
        self._reset_tallies()
        if not _LOCK_FREE_READS:
            self.lookup = self._locked_lookup  # type: ignore[method-assign]

    def _reset_tallies(self) -> None:
        self._hits = _Tally()
        self._misses = _Tally()
        self._hit = self._hits.bump
        self._miss = self._misses.bump
        self._evictions = 0
        self._expirations = 0

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
        entry = self._data.get(key)
        if entry is None:
            self._miss()
            return None
        # same test as _expiry_floor (deadline <= now), without building the packed floor
        if self._ttl_ns and entry >> _COUNT_BITS <= self._timer() * 1e9:
            self._expire(key, entry)
            return None
        try:
            self._data.move_to_end(key)
        except KeyError:  # removed by another thread after our read; the value read is still right
            pass
        self._hit()
        return entry & _COUNT_MASK

    def _locked_lookup(self, key: Hashable) -> int | None:
        with self._lock:
            return TokenCountCache.lookup(self, key)

    def store(self, key: Hashable, count: int) -> None:
        _check_count(count)
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

    def lookup_many(self, keys: Sequence[Hashable]) -> list[int | None]:
        """``lookup`` for many keys at once (one clock reading, C-level passes); statistics count every key."""
        if not self._enabled:
            return [None] * len(keys)
        if not _LOCK_FREE_READS:
            with self._lock:
                return [TokenCountCache.lookup(self, k) for k in keys]
        data = self._data
        entries = list(map(data.get, keys))
        if self._ttl_ns:
            floor = self._expiry_floor()
            for key, entry in zip(keys, entries, strict=True):
                if entry is not None and entry < floor:
                    self._expire(key, entry)  # counts the miss
            found = [None if e is None or e < floor else e & _COUNT_MASK for e in entries]
        else:
            found = [None if e is None else e & _COUNT_MASK for e in entries]
        hit_keys = [k for k, n in zip(keys, found, strict=True) if n is not None]
        try:
            _consume(map(data.move_to_end, hit_keys), maxlen=0)
        except KeyError:  # a key removed by another thread meanwhile: refresh the rest one by one
            for key in hit_keys:
                try:
                    data.move_to_end(key)
                except KeyError:
                    pass
        self._hits.advance(len(hit_keys))
        self._misses.advance(entries.count(None))
        return found

    def store_many(self, keys: Sequence[Hashable], counts: Sequence[int]) -> None:
        """``store`` for many entries under one lock. Only the last ``maxsize`` are inserted: earlier ones
        would be evicted by later ones of the same call, so they never displace what is cached."""
        if len(keys) != len(counts):
            raise ValueError("keys and counts differ in length")
        for count in counts:
            _check_count(count)
        if not self._enabled:
            return
        start = max(0, len(keys) - self._maxsize)
        stamp = (int(self._timer() * 1e9) + self._ttl_ns) << _COUNT_BITS if self._ttl_ns else 0
        data = self._data
        with self._lock:
            for i in range(start, len(keys)):
                key = keys[i]
                data[key] = counts[i] | stamp
                data.move_to_end(key)
            overflow = len(data) - self._maxsize
            for _ in range(max(0, overflow)):
                data.popitem(last=False)
            self._evictions += max(0, overflow)

    def _expiry_floor(self) -> int:
        """Packed values below this have a deadline at or before now (counts use the low bits)."""
        return (int(self._timer() * 1e9) + 1) << _COUNT_BITS

    def _expire(self, key: Hashable, entry: int) -> None:
        with self._lock:
            if self._data.get(key) == entry:
                del self._data[key]
                self._expirations += 1
            self._miss()

    # --- management -----------------------------------------------------------------------------------
    def clear(self) -> None:
        """Remove every entry and zero every counter."""
        with self._lock:
            self._data.clear()
            self._reset_tallies()

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
            floor = self._expiry_floor()
            expired = [k for k, v in self._data.items() if v < floor]
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
