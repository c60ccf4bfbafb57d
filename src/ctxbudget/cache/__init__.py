"""Count caches: the in-memory LRU+TTL tier and its statistics."""

from .memory import CacheStatistics, TokenCountCache

__all__ = ["CacheStatistics", "TokenCountCache"]
