"""TokenCountCache: a thread-safe LRU + TTL map from (tool, variant, text) to a token count.

The store itself is ``_speedups.Store``: compiled (``_core.c``) when built, else the pure-Python reference
(``_pycore.py``) with the same behaviour. A hit has to cost a small fraction of tokenising a 20-character
text, which only the compiled store achieves (bench/README.md has both). Every store operation is atomic:
the compiled one runs under the GIL without calling back into Python mid-update, the Python one under a lock.

Keys: entries live in a namespace naming the tool, the tokenizer id and version, and the counting mode.
Within it, texts up to ``SHORT_TEXT_CHARS`` are keyed by the string itself (a str caches its hash, so a
caller re-using its strings never re-hashes them); longer ones by a 128-bit xxh3 digest of their UTF-8
bytes (seeded by the namespace) plus their length, so the cache never keeps long texts alive and an entry
costs about the same whatever the text size.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import xxhash

from .._speedups import SHORT_TEXT_CHARS, Store

__all__ = ["SHORT_TEXT_CHARS", "CacheStatistics", "TokenCountCache", "digest_key", "key_prefix", "make_key"]

#: TTLs at or beyond this many ns (~36 years) are treated as "never expires".
_MAX_TTL_NS = 1 << 60


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


def text_key(text: str, prefix: str) -> str | int:
    """The key of ``text`` within namespace ``prefix``: the text itself when short, else its digest.
    ``text`` must be an exact ``str`` (the store compares keys in C)."""
    return text if len(text) <= SHORT_TEXT_CHARS else digest_key(text, prefix)


def make_key(text: str, tool_name: str, variant: str = "") -> tuple[str, str | int]:
    """``(namespace, key)`` of a text, as ``lookup``/``store`` take them."""
    prefix = key_prefix(tool_name, variant)
    return prefix, text_key(exact_str(text), prefix)


def exact_str(text: str) -> str:
    """``text`` as an exact ``str`` (a subclass instance is copied; anything else raises TypeError)."""
    if type(text) is str:
        return text
    if isinstance(text, str):
        return str.__str__(text)
    raise TypeError(f"text must be str, not {type(text).__name__}")


class TokenCountCache(Store):
    """LRU-bounded, TTL-expiring token count cache with exact statistics.

    Besides the documented ``get``/``set`` it offers the key-level ``lookup(namespace, key)``,
    ``store(namespace, key, count)`` and their ``_many`` forms (see ``make_key``), which the counters use.
    """

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
        # inf (or ~36 years and more) means never; a positive ttl below a nanosecond still expires (after 1 ns)
        ttl_ns = max(1, round(ttl * 1e9)) if 0 < ttl < math.inf else 0
        self._ttl = float(ttl)
        super().__init__(
            min(maxsize, 1 << 62),
            ttl_ns if ttl_ns < _MAX_TTL_NS else 0,
            None if timer is time.monotonic else timer,  # None: the same clock, read in C
            bool(enabled),
        )

    @property
    def ttl(self) -> float:
        return self._ttl

    # --- the documented interface ---------------------------------------------------------------------
    def get(self, text: str, tool_name: str, variant: str = "") -> int | None:
        """The cached count, or ``None`` (disabled, absent or expired). Never raises for a str text."""
        if not self.enabled:
            return None
        return self.lookup(*make_key(text, tool_name, variant))

    def set(self, text: str, tool_name: str, count: int, variant: str = "") -> None:
        namespace, key = make_key(text, tool_name, variant)
        self.store(namespace, key, count)

    def get_statistics(self) -> CacheStatistics:
        self.purge_expired()
        hits, misses, evictions, expirations, size = self.counters()
        stats = CacheStatistics(hits=hits, misses=misses, size=size, max_size=self.maxsize,
                                evictions=evictions, expirations=expirations)
        stats.update_hit_rate()
        return stats

    def __repr__(self) -> str:
        return f"TokenCountCache(maxsize={self.maxsize}, ttl={self._ttl}, enabled={self.enabled}, size={len(self)})"

    def __reduce_ex__(self, protocol: object) -> Any:
        # the compiled store cannot be pickled or copied; the Python one refuses too, so both behave alike
        raise TypeError(f"cannot pickle {type(self).__name__!r} object")
