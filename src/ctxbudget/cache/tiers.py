"""Count tiers that outlive the process: one interface for memory, SQLite and Redis, and a tiered stack.

A tier maps a *count key* to a token count. The key is ``<namespace>:<digest>``: the namespace names the
tokenizer with its version and the counting mode (``tiktoken:o200k_base@0.14.0|tok``), the digest is the
128-bit xxh3 of the text's UTF-8 bytes, so a new tokenizer release never reads an old count and no tier
ever holds the text itself.

``TieredCache(tiers)`` asks its tiers in order (memory → SQLite → Redis is the usual stack), promotes what a
lower tier had into the tiers above it, and writes new counts through to all of them. Every operation takes
a batch: one call per tier per batch, never one per text.

``parse_cache_spec`` reads the ``CTXBUDGET_CACHE`` / ``cache:`` syntax: ``memory``, ``sqlite`` or
``sqlite:PATH``, ``redis://host:port/db`` (optionally ``?prefix=…&ttl=…&timeout=…``), or a comma-separated
list of those, tiers in that order.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import xxhash

from ..errors import ConfigError

__all__ = ["CountTier", "MemoryTier", "TieredCache", "count_key", "parse_cache_spec"]


def count_key(namespace: str, text: str) -> str:
    """The key of ``text``'s count in ``namespace`` (tokenizer id and version, counting mode)."""
    return f"{namespace}:{xxhash.xxh3_128_hexdigest(text.encode('utf-8', 'surrogatepass'))}"


@runtime_checkable
class CountTier(Protocol):
    """What every tier offers: batch get and set by count key, statistics, clear."""

    name: str

    def get_many(self, keys: Sequence[str]) -> dict[str, int]:
        """The counts this tier holds for ``keys`` (absent keys are left out; a failing tier returns {})."""
        ...

    def set_many(self, counts: Mapping[str, int]) -> None: ...

    def stats(self) -> dict[str, Any]: ...

    def clear(self) -> None: ...


class MemoryTier:
    """A bounded in-process LRU of counts by key (the top of a stack for code that has no Counter cache)."""

    name = "memory"

    def __init__(self, maxsize: int = 100_000) -> None:
        if maxsize <= 0:
            raise ValueError(f"maxsize must be > 0, got {maxsize}")
        self.maxsize = maxsize
        self._entries: OrderedDict[str, int] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get_many(self, keys: Sequence[str]) -> dict[str, int]:
        found: dict[str, int] = {}
        with self._lock:
            for key in keys:
                n = self._entries.get(key)
                if n is None:
                    self.misses += 1
                else:
                    self._entries.move_to_end(key)
                    self.hits += 1
                    found[key] = n
        return found

    def set_many(self, counts: Mapping[str, int]) -> None:
        with self._lock:
            for key, n in counts.items():
                self._entries[key] = n
                self._entries.move_to_end(key)
            while len(self._entries) > self.maxsize:
                self._entries.popitem(last=False)

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {"tier": self.name, "entries": len(self._entries), "max_entries": self.maxsize,
                    "hits": self.hits, "misses": self.misses}

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


class TieredCache:
    """Tiers asked in order; hits promoted upwards; new counts written through to every tier."""

    name = "tiered"

    def __init__(self, tiers: Sequence[CountTier]) -> None:
        if not tiers:
            raise ValueError("a tiered cache needs at least one tier")
        self.tiers = list(tiers)

    def get_many(self, keys: Sequence[str]) -> dict[str, int]:
        found: dict[str, int] = {}
        wanted = list(dict.fromkeys(keys))
        missed_above: list[CountTier] = []
        for tier in self.tiers:
            if not wanted:
                break
            got = tier.get_many(wanted)
            if got:
                found.update(got)
                for upper in missed_above:  # promotion: the next lookup stops higher up
                    upper.set_many(got)
                wanted = [k for k in wanted if k not in got]
            missed_above.append(tier)
        return found

    def set_many(self, counts: Mapping[str, int]) -> None:
        if counts:
            for tier in self.tiers:
                tier.set_many(counts)

    def stats(self) -> dict[str, Any]:
        return {"tier": self.name, "tiers": [tier.stats() for tier in self.tiers]}

    def clear(self) -> None:
        for tier in self.tiers:
            tier.clear()

    def close(self) -> None:
        for tier in self.tiers:
            close = getattr(tier, "close", None)
            if close is not None:
                close()


def parse_cache_spec(spec: str, *, where: str = "CTXBUDGET_CACHE") -> TieredCache | None:
    """The tiers a cache spec names (module docstring); None for ``memory`` alone (the process's own
    cache is then the only one). Errors name ``where``."""
    parts = [p.strip() for p in spec.split(",") if p.strip()]
    if not parts:
        raise ConfigError(f"{where}: empty cache spec; use memory, sqlite[:PATH], redis://HOST:PORT/DB or a "
                          "comma list")
    tiers: list[CountTier] = []
    for part in parts:
        lowered = part.lower()
        if lowered == "memory":
            tiers.append(MemoryTier())
        elif lowered == "sqlite" or lowered.startswith("sqlite:"):
            from .sqlite_tier import SQLiteTier

            path = part.split(":", 1)[1] if ":" in part else None
            tiers.append(SQLiteTier(path or None))
        elif lowered.startswith(("redis://", "rediss://", "unix://")):
            from .redis_tier import RedisTier

            tiers.append(RedisTier.from_url(part, where=where))
        else:
            raise ConfigError(f"{where}: unknown cache tier {part!r}; use memory, sqlite[:PATH], "
                              "redis://HOST:PORT/DB")
    if [type(t) for t in tiers] == [MemoryTier]:
        return None
    return TieredCache(tiers)
