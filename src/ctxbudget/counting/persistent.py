"""Counts that outlive the process: a backend that asks persistent tiers before it tokenises.

``PersistentBackend(backend, store)`` counts like ``backend`` (same tokenizer id, type, exactness and kind)
but looks every text up in ``store`` (a ``TieredCache`` or any ``CountTier``) first, one lookup per batch, and
writes what it had to count through to it. It sits *under* a Counter's memory cache, so a memory hit never
reaches it and a memory miss costs one tier lookup before any tokenising. For a tokenizer at native speed
(tiktoken) a text shorter than ``PERSIST_MIN_CHARS`` is counted directly: tokenising it costs less than a
lookup.

The process-wide store: ``configure(spec_or_store)`` (``"sqlite"``, ``"redis://…"``, a comma list, a store,
or None), else the ``CTXBUDGET_CACHE`` variable, else the ``cache:`` key of the config file that applies
(``config_files``), read on first use. Every route built after that counts
through it; ``TokenCounter``, ``Counter.for_model`` and everything above them follow.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Sequence, Sized
from typing import Any

from ..cache.tiers import CountTier, TieredCache, count_key, parse_cache_spec
from ..errors import ConfigError
from ..tokenizers.base import TokenizerBackend, TokenizerType, backend_kind, is_fast

#: Texts shorter than this skip the persistent tiers when the tokenizer counts at native speed.
PERSIST_MIN_CHARS = 4096
ENV = "CTXBUDGET_CACHE"
#: ``warm`` counts a slow tokenizer's texts in several processes from this many texts on (each costs an import)
WARM_PROCESS_MIN_TEXTS = 256

#: attributes of the wrapped backend read through (``async_chunk_chars`` changes once the accelerator loads;
#: a count-tokens API backend's framed counts and its marker)
_DELEGATED = frozenset({"async_chunk_chars", "accelerated", "accelerate", "count_framed", "count_framed_batch",
                        "acount_framed", "acount_framed_batch", "remote"})
_UNSET: Any = object()
log = logging.getLogger(__name__)


class PersistentBackend:
    """``backend`` with persistent tiers in front of it (see the module docstring)."""

    def __init__(self, backend: TokenizerBackend, store: CountTier | TieredCache, mode: str = "tok") -> None:
        self.inner = backend
        self.store = store
        self.namespace = f"{backend.tokenizer_id}|{mode}"
        self.kind = backend_kind(backend)
        self.fast = is_fast(backend)
        self.cacheable = bool(getattr(backend, "cacheable", True))

    @property
    def core_encode(self) -> Callable[[str], Sized] | None:
        """The wrapped fast backend's: the hot path encodes texts of up to SHORT_TEXT_CHARS itself, and those
        never reach the tiers anyway. Read when needed, since reading it may build the tokenizer."""
        return getattr(self.inner, "core_encode", None) if self.fast else None

    def __getattr__(self, name: str) -> Any:
        # what the wrapped backend says about itself beyond the protocol, read live (its accelerator state)
        if name in _DELEGATED:
            return getattr(self.inner, name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    @property
    def tokenizer_id(self) -> str:
        return self.inner.tokenizer_id

    @property
    def tokenizer_type(self) -> TokenizerType:
        return self.inner.tokenizer_type

    @property
    def exact(self) -> bool:
        return self.inner.exact

    def _persists(self, text: str) -> bool:
        return self.cacheable and (not self.fast or len(text) >= PERSIST_MIN_CHARS)

    def count(self, text: str) -> int:
        if not self._persists(text):
            return self.inner.count(text)
        key = count_key(self.namespace, text)
        found = self.store.get_many([key])
        if key in found:
            return found[key]
        n = self.inner.count(text)
        self.store.set_many({key: n})
        return n

    def count_batch(self, texts: Sequence[str]) -> list[int]:
        texts = list(texts)
        results: list[int | None] = [None] * len(texts)
        keyed = [(i, count_key(self.namespace, t)) for i, t in enumerate(texts) if self._persists(t)]
        found = self.store.get_many([k for _, k in keyed]) if keyed else {}
        for i, key in keyed:
            results[i] = found.get(key)
        todo = [i for i, n in enumerate(results) if n is None]
        if todo:
            counted = self.inner.count_batch([texts[i] for i in todo])
            for i, n in zip(todo, counted, strict=True):
                results[i] = n
            keys = dict(keyed)
            new = {keys[i]: n for i, n in zip(todo, counted, strict=True) if i in keys}
            self.store.set_many(new)
        return [int(n) for n in results]  # type: ignore[arg-type]  # every slot is filled above

    def __repr__(self) -> str:
        return f"PersistentBackend({self.inner!r}, {type(self.store).__name__})"


# --- the process-wide store -------------------------------------------------------------------------------

_lock = threading.Lock()
_store: Any = _UNSET
_listeners: list[Any] = []


def on_change(callback: Any) -> None:
    """Call ``callback()`` whenever the process-wide store changes (routes are rebuilt then)."""
    _listeners.append(callback)


def configure(store: str | CountTier | TieredCache | None) -> CountTier | TieredCache | None:
    """Set the process-wide persistent store: a cache spec (``tiers.parse_cache_spec``), a store, or None
    (memory only). Returns the store now in use."""
    global _store
    chosen = parse_cache_spec(store) if isinstance(store, str) else store
    with _lock:
        old, _store = _store, chosen
    if old is not _UNSET and old is not None and old is not chosen:
        close = getattr(old, "close", None)
        if close is not None:
            close()
    for callback in _listeners:
        callback()
    return chosen


def current() -> CountTier | TieredCache | None:
    """The process-wide store, reading ``CTXBUDGET_CACHE`` on first use (unset: None). A spec that is wrong
    or a file that cannot be opened is one warning, and counting goes on with the memory cache alone."""
    global _store
    if _store is _UNSET:
        with _lock:
            if _store is _UNSET:
                spec, where = os.environ.get(ENV, "").strip(), ENV
                try:
                    if not spec:
                        from ..config_files import cache_spec, find_config_file  # not at import: tomllib

                        found = find_config_file()
                        spec, where = (cache_spec(found) or ""), f"{found}: cache"
                    _store = parse_cache_spec(spec, where=where) if spec else None
                except (ConfigError, OSError, _sqlite_error()) as exc:
                    log.warning("ctxbudget: %s=%r not used: %s; counting with the memory cache alone", where, spec,
                                exc)
                    _store = None
    return _store  # type: ignore[no-any-return]


def _sqlite_error() -> type[Exception]:
    import sqlite3  # only when a spec was given: plain imports of ctxbudget never load it

    return sqlite3.Error


def wrap(backend: TokenizerBackend, use_tokenizer: bool, store: Any = _UNSET) -> TokenizerBackend:
    """``backend`` behind ``store`` (default: the process-wide one); unchanged when there is none or the
    backend is not cached anyway (the ``len // 4`` heuristics)."""
    chosen = current() if store is _UNSET else store
    if chosen is None or not getattr(backend, "cacheable", True) or isinstance(backend, PersistentBackend):
        return backend
    return PersistentBackend(backend, chosen, "tok" if use_tokenizer else "est")


# --- warming ----------------------------------------------------------------------------------------------

def raw_backend(model: str) -> TokenizerBackend:
    """The tokenizer the registry names for ``model``, without any persistent tier in front of it."""
    from .counter import Counter

    backend = Counter.for_model(model, None).backend
    return backend.inner if isinstance(backend, PersistentBackend) else backend


def _count_chunk(args: tuple[str, list[str]]) -> list[int]:
    model, texts = args
    return raw_backend(model).count_batch(texts)


def warm(texts: Sequence[str], model: str, store: CountTier | TieredCache | None = None,
         *, processes: int | None = None) -> dict[str, int]:
    """Count ``texts`` for ``model`` into ``store`` (default: the process-wide one) so that later runs find
    them; what is there already is not counted again. A slow tokenizer counts on every core, in spawned
    processes (so a script calling this needs the ``if __name__ == "__main__":`` guard).
    Returns ``{"texts", "already", "counted"}``."""
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    target = store if store is not None else current()
    if target is None:
        raise ValueError("no persistent cache to warm: configure one (CTXBUDGET_CACHE=sqlite) or pass store=")
    backend = raw_backend(model)
    persisting = PersistentBackend(backend, target)
    # only what a later count will look up (a tokenizer at native speed counts short texts directly)
    unique = [t for t in dict.fromkeys(texts) if persisting._persists(t)]
    keys = [count_key(persisting.namespace, t) for t in unique]
    found = target.get_many(keys)
    todo = [(k, t) for k, t in zip(keys, unique, strict=True) if k not in found]
    if getattr(backend, "remote", False):
        # a count-tokens API backend sends its requests concurrently, and a spawned process would not have the
        # count policy that chose it
        workers = 1
    elif processes is not None:
        workers = processes
    elif len(todo) >= WARM_PROCESS_MIN_TEXTS and not is_fast(backend):
        workers = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    else:
        workers = 1
    if todo and workers > 1:
        size = -(-len(todo) // workers)
        chunks = [[t for _, t in todo[i:i + size]] for i in range(0, len(todo), size)]
        # spawned, not forked: a fork would copy locks other threads may hold
        with ProcessPoolExecutor(max_workers=len(chunks), mp_context=get_context("spawn")) as pool:
            counts = [n for part in pool.map(_count_chunk, [(model, c) for c in chunks]) for n in part]
    else:
        counts = backend.count_batch([t for _, t in todo]) if todo else []
    target.set_many({k: n for (k, _), n in zip(todo, counts, strict=True)})
    return {"texts": len(unique), "already": len(found), "counted": len(todo)}
