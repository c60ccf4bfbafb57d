"""A count tier in Redis, shared by every machine that points at the same server.

``RedisTier.from_url("redis://host:6379/0?prefix=ctxbudget:&ttl=86400&timeout=0.05")``: keys are
``<prefix><count key>`` (``tiers.count_key``: tokenizer, version, mode, digest — never the text), a batch is one
``MGET`` and one pipelined round of ``SET``s (with ``EX`` when a TTL is set).

Fail-open: a server that is down, refuses or answers slower than ``timeout`` seconds turns lookups into
misses and writes into no-ops — counting goes on with the tiers above — with one warning when it goes and one
when it is back. While it is down, one reconnection is tried every ``retry_seconds``. redis-py is imported only
when such a tier is configured.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import parse_qs, urlsplit, urlunsplit

from ..errors import ConfigError

log = logging.getLogger(__name__)

DEFAULT_PREFIX = "ctxbudget:"
DEFAULT_TIMEOUT = 0.05
DEFAULT_RETRY_SECONDS = 5.0


class RedisTier:
    """Counts in Redis (see the module docstring)."""

    name = "redis"

    def __init__(self, url: str = "redis://127.0.0.1:6379/0", *, prefix: str = DEFAULT_PREFIX,
                 ttl: int | None = None, timeout: float = DEFAULT_TIMEOUT,
                 retry_seconds: float = DEFAULT_RETRY_SECONDS) -> None:
        try:
            import redis
        except ImportError:
            raise ConfigError("a redis:// cache tier needs the redis package: pip install 'ctxbudget[redis]'") from None
        if ttl is not None and ttl <= 0:
            raise ConfigError(f"redis cache ttl must be > 0 seconds, got {ttl}")
        self.url, self.prefix, self.ttl, self.timeout = url, prefix, ttl, timeout
        self.retry_seconds = retry_seconds
        self._errors: tuple[type[BaseException], ...] = (redis.RedisError, OSError)
        self._client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout,
                                            retry_on_timeout=False, retry=None, health_check_interval=0)
        self._lock = threading.Lock()
        self._down_until = 0.0  # monotonic time before which the server is not tried again
        self.down = False
        self.hits = self.misses = self.writes = self.failures = 0

    @classmethod
    def from_url(cls, url: str, *, where: str = "cache") -> RedisTier:
        """A tier from ``redis://host:port/db?prefix=…&ttl=…&timeout=…``."""
        parts = urlsplit(url)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        unknown = sorted(set(query) - {"prefix", "ttl", "timeout"})
        if unknown:
            raise ConfigError(f"{where}: unknown redis cache option {unknown[0]!r}; known: prefix, ttl, timeout")
        try:
            ttl = int(query["ttl"]) if "ttl" in query else None
            timeout = float(query.get("timeout", DEFAULT_TIMEOUT))
        except ValueError as exc:
            raise ConfigError(f"{where}: bad redis cache option: {exc}") from None
        bare = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
        return cls(bare, prefix=query.get("prefix", DEFAULT_PREFIX), ttl=ttl, timeout=timeout)

    # --- fail-open bookkeeping -------------------------------------------------------------------------
    def _available(self) -> bool:
        return not self.down or time.monotonic() >= self._down_until

    def _failed(self, exc: BaseException) -> None:
        with self._lock:
            self.failures += 1
            self._down_until = time.monotonic() + self.retry_seconds
            if not self.down:
                self.down = True
                log.warning("ctxbudget: Redis count cache %s unavailable (%s); counting goes on without it, "
                            "retrying every %gs", self.url, exc, self.retry_seconds)

    def _succeeded(self) -> None:
        if self.down:
            with self._lock:
                if self.down:
                    self.down = False
                    log.warning("ctxbudget: Redis count cache %s is back", self.url)

    # --- the tier interface ----------------------------------------------------------------------------
    def get_many(self, keys: Sequence[str]) -> dict[str, int]:
        if not keys or not self._available():
            return {}
        wanted = list(dict.fromkeys(keys))
        try:
            values = self._client.mget([self.prefix + k for k in wanted])
        except self._errors as exc:
            self._failed(exc)
            return {}
        self._succeeded()
        found = {key: int(value) for key, value in zip(wanted, values, strict=True) if value is not None}
        self.hits += len(found)
        self.misses += len(wanted) - len(found)
        return found

    def set_many(self, counts: Mapping[str, int]) -> None:
        if not counts or not self._available():
            return
        try:
            pipe = self._client.pipeline(transaction=False)
            for key, n in counts.items():
                pipe.set(self.prefix + key, int(n), ex=self.ttl)
            pipe.execute()
        except self._errors as exc:
            self._failed(exc)
            return
        self._succeeded()
        self.writes += len(counts)

    def stats(self) -> dict[str, Any]:
        return {"tier": self.name, "url": self.url, "prefix": self.prefix, "ttl": self.ttl, "down": self.down,
                "hits": self.hits, "misses": self.misses, "writes": self.writes, "failures": self.failures}

    def clear(self) -> None:
        """Delete this prefix's keys (``SCAN``, not ``FLUSHDB``: the server may hold other data)."""
        batch: list[Any] = []
        for key in self._client.scan_iter(match=self.prefix + "*", count=1000):
            batch.append(key)
            if len(batch) >= 1000:
                self._client.delete(*batch)
                batch = []
        if batch:
            self._client.delete(*batch)

    def close(self) -> None:
        self._client.close()
