"""A count tier in Redis, shared by every machine that points at the same server.

``RedisTier.from_url("redis://host:6379/0?prefix=ctxbudget:&ttl=86400&timeout=0.05")``: keys are
``<prefix><count key>`` (``tiers.count_key``: tokenizer, version, mode, digest — never the text), a batch is one
``MGET`` and one pipelined round of ``SET``s (with ``EX`` when a TTL is set).

Large batches go in chunks of ``CHUNK`` keys (each chunk one round trip, so ``timeout`` bounds a chunk, not the
batch). Fail-open: a server that is down, refuses, answers slower than ``timeout`` seconds or answers
something that is not a count turns lookups into misses and writes into no-ops — counting goes on with the
tiers above — with one warning when it goes and one when it is back. While it is down, one reconnection is
tried every ``retry_seconds``. Passwords in the URL are never shown (``display_url``). redis-py is imported
only when such a tier is configured.
"""

from __future__ import annotations

import logging
import re
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
#: keys per MGET / pipeline: one round trip each
CHUNK = 1000
_OPTIONS = ("prefix", "ttl", "timeout", "db")


def display_url(url: str) -> str:
    """``url`` with any password replaced by ``***``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    netloc = f"{user}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


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
        self.url, self.prefix, self.ttl, self.timeout = display_url(url), prefix, ttl, timeout
        self.retry_seconds = retry_seconds
        self._client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout,
                                            retry_on_timeout=False, retry=None, health_check_interval=0)
        self._lock = threading.Lock()
        self._down_until = 0.0  # monotonic time before which the server is not tried again
        self.down = False
        self.hits = self.misses = self.writes = self.failures = 0

    @classmethod
    def from_url(cls, url: str, *, where: str = "cache") -> RedisTier:
        """A tier from ``redis://host:port/db?prefix=…&ttl=…&timeout=…`` (``db=`` for ``unix://`` sockets)."""
        parts = urlsplit(url)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        unknown = sorted(set(query) - set(_OPTIONS))
        if unknown:
            raise ConfigError(f"{where}: unknown redis cache option {unknown[0]!r}; known: {', '.join(_OPTIONS)}")
        try:
            ttl = int(query["ttl"]) if "ttl" in query else None
            timeout = float(query.get("timeout", DEFAULT_TIMEOUT))
        except ValueError as exc:
            raise ConfigError(f"{where}: bad redis cache option: {exc}") from None
        kept = f"db={query['db']}" if "db" in query else ""
        bare = urlunsplit((parts.scheme, parts.netloc, parts.path, kept, ""))
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
        found: dict[str, int] = {}
        try:
            for at in range(0, len(wanted), CHUNK):
                chunk = wanted[at:at + CHUNK]
                values = self._client.mget([self.prefix + k for k in chunk])
                for key, value in zip(chunk, values, strict=True):
                    n = _count(value)
                    if n is not None:
                        found[key] = n
        except Exception as exc:  # fail open: whatever the server or the client does, counting goes on
            self._failed(exc)
            return found
        self._succeeded()
        self.hits += len(found)
        self.misses += len(wanted) - len(found)
        return found

    def set_many(self, counts: Mapping[str, int]) -> None:
        if not counts or not self._available():
            return
        items = list(counts.items())
        try:
            for at in range(0, len(items), CHUNK):
                pipe = self._client.pipeline(transaction=False)
                for key, n in items[at:at + CHUNK]:
                    pipe.set(self.prefix + key, int(n), ex=self.ttl)
                pipe.execute()
        except Exception as exc:  # fail open, as in get_many
            self._failed(exc)
            return
        self._succeeded()
        self.writes += len(items)

    def stats(self) -> dict[str, Any]:
        return {"tier": self.name, "url": self.url, "prefix": self.prefix, "ttl": self.ttl, "down": self.down,
                "hits": self.hits, "misses": self.misses, "writes": self.writes, "failures": self.failures}

    def clear(self) -> None:
        """Delete this prefix's keys (``SCAN``, not ``FLUSHDB``: the server may hold other data); raises the
        client's error when the server cannot be reached."""
        pattern = re.sub(r"([*?\[\]\\])", r"\\\1", self.prefix) + "*"
        batch: list[Any] = []
        for key in self._client.scan_iter(match=pattern, count=CHUNK):
            batch.append(key)
            if len(batch) >= CHUNK:
                self._client.delete(*batch)
                batch = []
        if batch:
            self._client.delete(*batch)

    def close(self) -> None:
        self._client.close()


def _count(value: Any) -> int | None:
    """A stored count, or None for anything else (absent, or not a non-negative integer)."""
    try:
        n = int(value)
    except (TypeError, ValueError):
        return None
    return n if n >= 0 and str(n).encode() == (value if isinstance(value, bytes) else str(value).encode()) else None
