"""Count tiers that outlive the process: one interface for memory, SQLite and Redis, and a tiered stack.

A tier maps a *count key* to a token count. The key is ``<namespace>:<digest>``: the namespace names the
tokenizer with its version and the counting mode (``tiktoken:o200k_base@0.14.0|tok``), the digest is the
128-bit xxh3 of the text's UTF-8 bytes, so a new tokenizer release never reads an old count and no tier
ever holds the text itself.

``TieredCache(tiers)`` asks its tiers in order (memory → SQLite → Redis is the usual stack), promotes what a
lower tier had into the tiers above it, and writes new counts through to all of them. Every operation takes
a batch: one call per tier per batch, never one per text.

``parse_cache_spec`` reads the ``CTXBUDGET_CACHE`` / ``cache:`` syntax: ``memory``, ``sqlite`` or
``sqlite:PATH`` (``~`` expanded, a relative path taken from the working directory), ``redis://host:port/db``
(optionally ``?prefix=…&ttl=…&timeout=…``), or a comma-separated list of those, tiers in that order.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import xxhash

from ..errors import ConfigError
from .memory import TokenCountCache

__all__ = ["CountTier", "MemoryTier", "TieredCache", "count_key", "parse_cache_spec"]


def count_key(namespace: str, text: str) -> str:
    """The key of ``text``'s count in ``namespace`` (tokenizer id and version, counting mode). The digest is
    of the text's UTF-8 bytes (a lone surrogate encoded as itself), so it is the same in every process."""
    return f"{namespace}:{xxhash.xxh3_128_hexdigest(text.encode('utf-8', 'surrogatepass'))}"


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
    """The memory store (``TokenCountCache``) seen as a tier: count keys in one namespace of it. A Counter's
    own cache already stands in front of the persistent tiers, so cache specs need no memory tier; this one
    is for stacks built in code."""

    name = "memory"
    NAMESPACE = "tier"

    def __init__(self, cache: TokenCountCache | None = None) -> None:
        self.cache = cache if cache is not None else TokenCountCache(maxsize=100_000, ttl=0)

    def get_many(self, keys: Sequence[str]) -> dict[str, int]:
        found: dict[str, int] = {}
        for key in keys:
            n = self.cache.lookup(self.NAMESPACE, key)
            if n is not None:
                found[key] = n
        return found

    def set_many(self, counts: Mapping[str, int]) -> None:
        for key, n in counts.items():
            self.cache.store(self.NAMESPACE, key, n)

    def stats(self) -> dict[str, Any]:
        return {"tier": self.name, **self.cache.get_statistics().to_dict()}

    def clear(self) -> None:
        self.cache.clear()


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
    """The persistent tiers a cache spec names (module docstring), in order; None when it names none
    (``memory``: a Counter's own memory cache is always in front of the tiers). Errors name ``where``."""
    parts = [p.strip() for p in spec.split(",") if p.strip()]
    if not parts:
        raise ConfigError(f"{where}: empty cache spec; use memory, sqlite[:PATH], redis://HOST:PORT/DB or a "
                          "comma list")
    tiers: list[CountTier] = []
    for part in parts:
        lowered = part.lower()
        if lowered == "memory":
            continue
        if lowered == "sqlite" or lowered.startswith("sqlite:"):
            from .sqlite_tier import SQLiteTier

            path = part.split(":", 1)[1].strip() if ":" in part else ""
            tiers.append(SQLiteTier(os.path.expanduser(path) if path else None))
        elif lowered.startswith(("redis://", "rediss://", "unix://")):
            from .redis_tier import RedisTier

            tiers.append(RedisTier.from_url(part, where=where))
        else:
            raise ConfigError(f"{where}: unknown cache tier {part!r}; use memory, sqlite[:PATH], "
                              "redis://HOST:PORT/DB")
    return TieredCache(tiers) if tiers else None
