"""Counts from a provider's count-tokens API behind the tokenizer interface, and the loud offline fallback.

``RemoteBackend(endpoint, model)`` is async first: ``acount``, ``acount_batch``, ``acount_framed``,
``acount_framed_batch`` send one request per distinct text, at most ``concurrency`` at once per event loop;
``count``, ``count_batch``, ``count_framed``, ``count_framed_batch`` run the same coroutines on the portal's
loop (``portal``) and wait.

**Content and framed counts.** The API counts a whole request: the text inside one user message, with the
tokens the message frame adds. ``count_framed`` is that number. ``count`` reports the text's own tokens, as
the offline backends do: the framed count minus the model's *frame*, where the frame is the framed count of
the one-letter message ``PROBE`` ("x") minus ``PROBE_TOKENS`` (1: a single ASCII letter is one token in each
provider's vocabulary). The frame is measured once per model and base URL in a process, and its framed
count is kept in the persistent tiers with the other framed counts, so a later run does not ask again. Like
the offline backends, every text counts at least 1 token; the empty text is not sent (the APIs refuse empty
messages) and a text of only whitespace, which Anthropic refuses too, is sent after ``PROBE``, whose token
is taken off again.

``FallbackBackend`` is the ``api-else-offline`` policy: the API's counts while it answers; after its first
failure one warning, and the offline backend's counts for that model for the rest of the process, with kind
``"<offline kind> (api failed)"``. It keeps no count under the API's tokenizer id that the API did not give.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import weakref
from collections.abc import Sequence

from ..cache.tiers import CountTier, TieredCache, count_key
from ..errors import RemoteCountError
from ..models.kinds import API_FAILED, EXACT_API
from ..tokenizers.base import TokenizerBackend, TokenizerType, backend_kind
from . import portal
from .http import Endpoint, post_count
from .settings import RemoteSettings, Secret, load_settings

log = logging.getLogger("ctxbudget.remote")

PROBE = "x"
PROBE_TOKENS = 1

#: (tokenizer id, base URL) -> the model's frame, measured in this process
_frames: dict[tuple[str, str], int] = {}


class RemoteBackend:
    """One model's counts from its provider's API (module docstring). ``store``: tiers for the framed counts
    (the route's ``PersistentBackend`` keeps the content counts)."""

    tokenizer_type = TokenizerType.API
    exact = True
    kind = EXACT_API
    cacheable = True
    #: not a local tokenizer: a concurrent miss of the same text waits for the first request's answer
    fast = False
    #: counts cost requests, not CPU: ``persistent.warm`` counts them here, not in worker processes
    remote = True

    def __init__(self, endpoint: Endpoint, model: str, settings: RemoteSettings | None = None, *,
                 store: CountTier | TieredCache | None = None, concurrency: int | None = None) -> None:
        self.endpoint = endpoint
        self.settings = settings if settings is not None else load_settings()
        self.model = endpoint.model_id(model)
        self.base_url = self.settings.base_url(endpoint)
        self.url = self.base_url + endpoint.path(self.model)
        self.concurrency = concurrency if concurrency is not None else self.settings.concurrency
        if self.concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, got {self.concurrency}")
        self.store = store
        self.tokenizer_id = f"api:{endpoint.provider}:{self.model}"
        self._key = self.settings.api_key(endpoint)
        self._limits: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = \
            weakref.WeakKeyDictionary()

    @property
    def provider(self) -> str:
        return self.endpoint.provider

    @property
    def has_key(self) -> bool:
        return self._key is not None

    def missing_key_message(self) -> str:
        names = " or ".join(self.endpoint.key_vars)
        return f"no API key: set {names} (or count_api: {self.provider}: api_key: in the config file)"

    def __repr__(self) -> str:
        key = "set" if self.has_key else "missing"
        return f"RemoteBackend({self.provider!r}, {self.model!r}, base_url={self.base_url!r}, key={key})"

    # --- the sync face ------------------------------------------------------------------------------
    def count(self, text: str) -> int:
        return portal.run(self.acount(text))

    def count_batch(self, texts: Sequence[str]) -> list[int]:
        return portal.run(self.acount_batch(texts))

    def count_framed(self, text: str) -> int:
        return portal.run(self.acount_framed(text))

    def count_framed_batch(self, texts: Sequence[str]) -> list[int]:
        return portal.run(self.acount_framed_batch(texts))

    def frame(self) -> int:
        return portal.run(self.aframe())

    # --- async --------------------------------------------------------------------------------------
    async def acount(self, text: str) -> int:
        return (await self.acount_batch([text]))[0]

    async def acount_batch(self, texts: Sequence[str]) -> list[int]:
        """Content counts: framed minus the frame, at least 1 (module docstring)."""
        items = list(texts)
        todo = [t for t in dict.fromkeys(items) if t]
        if not todo:
            return [1] * len(items)
        frame = await self.aframe()
        framed = await self._send(todo)
        counts = dict(zip(todo, framed, strict=True))
        return [max(1, counts[t] - frame) if t else 1 for t in items]

    async def acount_framed(self, text: str) -> int:
        return (await self.acount_framed_batch([text]))[0]

    async def acount_framed_batch(self, texts: Sequence[str]) -> list[int]:
        """The API's own numbers (one user message holding each text), through ``store`` when there is one;
        the empty text, which is never sent, is the bare frame."""
        items = list(texts)
        distinct = [t for t in dict.fromkeys(items) if t]
        namespace = f"{self.tokenizer_id}|framed"
        keys = {t: count_key(namespace, t) for t in distinct}
        found = self.store.get_many(list(keys.values())) if self.store is not None and keys else {}
        counts = {t: found[k] for t, k in keys.items() if k in found}
        missing = [t for t in distinct if t not in counts]
        if missing:
            counts.update(zip(missing, await self._send(missing), strict=True))
            if self.store is not None:
                self.store.set_many({keys[t]: counts[t] for t in missing})
        if "" in items:
            counts[""] = await self.aframe()
        return [counts[t] for t in items]

    async def aframe(self) -> int:
        """The tokens the message frame adds (module docstring)."""
        slot = (self.tokenizer_id, self.base_url)
        frame = _frames.get(slot)
        if frame is None:
            frame = _frames[slot] = max(0, (await self.acount_framed_batch([PROBE]))[0] - PROBE_TOKENS)
        return frame

    async def _send(self, texts: list[str]) -> list[int]:
        """Framed counts of non-empty texts, one request each, ``concurrency`` at a time on this loop."""
        key = self._require_key()
        limit = self._limit()
        async with portal.PORTAL.session() as client:

            async def one(text: str) -> int:
                sent, extra = (PROBE + text, PROBE_TOKENS) if text.isspace() else (text, 0)
                async with limit:
                    n = await post_count(client, self.endpoint, self.url, key,
                                         self.endpoint.body(self.model, sent), self.settings)
                return n - extra

            tasks = [asyncio.ensure_future(one(t)) for t in texts]
            try:
                return list(await asyncio.gather(*tasks))
            except BaseException:  # the first failure ends the batch: no request left running
                for task in tasks:
                    task.cancel()
                raise

    def _require_key(self) -> Secret:
        if self._key is None:
            raise RemoteCountError(self.provider, self.missing_key_message())
        if not _header_safe(self._key.reveal()):  # httpx would fail on it, naming a character of the key
            raise RemoteCountError(self.provider, "the API key is not printable ASCII (check how it was pasted)")
        try:
            import httpx  # noqa: F401  (the client's own import, made here so that its absence is this error)
        except ImportError:
            raise RemoteCountError(self.provider,
                                   "the count-tokens API needs httpx: pip install 'ctxbudget[api]'") from None
        return self._key

    def _limit(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        limit = self._limits.get(loop)
        if limit is None:
            limit = self._limits[loop] = asyncio.Semaphore(self.concurrency)
        return limit


# --- api-else-offline ------------------------------------------------------------------------------------

#: failure slot (the API backend's tokenizer id and base URL) -> why its API is not used in this process
_failures: dict[tuple[str, str], str] = {}
_failures_lock = threading.Lock()


def note_failure(slot: tuple[str, str], reason: str, model: str, offline_kind: str) -> str:
    """Remember that a model's API failed; the first time, one warning. Returns the reason in force."""
    with _failures_lock:
        first = slot not in _failures
        if first:
            _failures[slot] = reason
        reason = _failures[slot]
    if first:
        log.warning("ctxbudget: %s; counting %s offline (%s) from now on", reason, model, offline_kind)
    return reason


def forget_failures() -> None:
    """Let every model try its API again (a new policy is configured)."""
    with _failures_lock:
        _failures.clear()


class FallbackBackend:
    """``api-else-offline`` for one model (module docstring). ``api`` and ``offline`` each keep their own
    counts under their own tokenizer ids; this backend is not cached above them (``cacheable = False``), so an
    offline count never lands in a cache under the API's id."""

    cacheable = False
    fast = False
    remote = True

    def __init__(self, api: TokenizerBackend, offline: TokenizerBackend, slot: tuple[str, str], model: str,
                 failure: str | None = None) -> None:
        self.api = api
        self.offline = offline
        self.slot = slot
        self.model = model
        with _failures_lock:
            self._failure = _failures.get(slot)
        if self._failure is None and failure is not None:
            self._failure = note_failure(slot, failure, model, backend_kind(offline))

    @property
    def failure(self) -> str | None:
        """Why this model is counted offline (None while the API answers)."""
        return self._failure

    def _current(self) -> TokenizerBackend:
        return self.api if self._failure is None else self.offline

    @property
    def tokenizer_id(self) -> str:
        return self._current().tokenizer_id

    @property
    def tokenizer_type(self) -> TokenizerType:
        return self._current().tokenizer_type

    @property
    def exact(self) -> bool:
        return self._current().exact

    @property
    def kind(self) -> str:
        return EXACT_API if self._failure is None else backend_kind(self.offline) + API_FAILED

    def _fail(self, exc: RemoteCountError) -> None:
        self._failure = note_failure(self.slot, str(exc), self.model, backend_kind(self.offline))

    def count(self, text: str) -> int:
        if self._failure is None:
            try:
                return self.api.count(text)
            except RemoteCountError as exc:
                self._fail(exc)
        return self.offline.count(text)

    def count_batch(self, texts: Sequence[str]) -> list[int]:
        if self._failure is None:
            try:
                return self.api.count_batch(texts)
            except RemoteCountError as exc:
                self._fail(exc)
        return self.offline.count_batch(texts)

    def __repr__(self) -> str:
        state = "api" if self._failure is None else "offline (api failed)"
        return f"FallbackBackend({self.api!r}, {self.offline!r}, {state})"


def _header_safe(value: str) -> bool:
    return value.isascii() and value.isprintable()
