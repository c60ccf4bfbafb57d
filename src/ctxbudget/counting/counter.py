"""The plain ``Counter`` (backend + cache) and the ``TokenCounter`` compatibility façade over it.

Everything that counts (``fit``, the formatters, the budget managers, the prioritizer, the CLI) takes a
``Counter``; ``Counter.for_model(name)`` builds the one the model registry names. ``TokenCounter`` is the
documented static API: each call resolves the tool's route and runs the same cache discipline (``discipline``)
a Counter runs, through one process-wide cache and one metrics recorder.

The process-wide cache exists from import on: a ``TokenCountCache(maxsize=DEFAULT_CACHE_MAXSIZE,
ttl=DEFAULT_CACHE_TTL)``, the same as ``TokenCounter.initialize_cache()`` makes. ``initialize_cache`` replaces
it, ``reset_cache`` removes it (then ``use_cache=True`` caches nothing).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from .._speedups import Facade
from .._util import require_str
from ..cache.memory import TokenCountCache
from ..errors import UnknownModelError
from ..models.registry import MODEL_MAPPINGS, OPENAI, OPENAI_ENCODINGS, ModelMappings, ModelSpec, resolve_model
from ..tokenizers.base import TokenizerBackend, TokenizerType
from ..tokenizers.estimate import CHARS4
from ..tokenizers.factory import TokenizerFactory, register_backend, registered_backend, unregister_backend
from ..tokenizers.transformers import TransformersBackend
from . import persistent
from .discipline import acount_many, acount_one, count_many, count_one
from .metrics import MetricsRecorder, PerformanceMetrics
from .routes import Route, fast_routes, resolve_route

#: Size and TTL of the process-wide cache a fresh process starts with (``initialize_cache()``'s defaults).
DEFAULT_CACHE_MAXSIZE = 1000
DEFAULT_CACHE_TTL = 300.0


@dataclass(frozen=True)
class TokenCount:
    """A count with its provenance."""

    count: int
    tool_name: str
    tokenizer_type: TokenizerType
    tokenizer_id: str
    exact: bool
    kind: str
    cached: bool

    def __int__(self) -> int:
        return self.count


def _detailed(route: Route, n: int, cached: bool) -> TokenCount:
    backend = route.backend
    return TokenCount(n, route.tool, backend.tokenizer_type, backend.tokenizer_id, backend.exact, route.kind, cached)


class _ProcessCache:
    """The ``cache`` default of ``Counter.for_model``: the process-wide cache at the time of the call."""


PROCESS_CACHE: Any = _ProcessCache()


class _ProcessStore:
    """The ``store`` default of ``Counter.for_model``: the process-wide persistent tiers, if any."""


PROCESS_STORE: Any = _ProcessStore()


class Counter:
    """A backend plus an optional cache: the plain object behind the façade.

    ``count``/``acount`` and ``count_batch``/``acount_batch`` mirror each other and return equal results.
    """

    def __init__(
        self,
        backend: TokenizerBackend,
        cache: TokenCountCache | None = None,
        *,
        tool_name: str | None = None,
        recorder: MetricsRecorder | None = None,
        store: Any = None,
    ) -> None:
        """``store``: persistent tiers (a ``TieredCache`` or a tier) the backend counts through, under ``cache``."""
        backend = persistent.wrap(backend, True, store) if store is not None else backend
        self._bind(Route(tool_name or backend.tokenizer_id, backend, True), cache, recorder)

    def _bind(self, route: Route, cache: TokenCountCache | None, recorder: MetricsRecorder | None) -> None:
        self.route = route
        self.backend = route.backend
        self.cache = cache
        self.recorder = recorder or MetricsRecorder()

    @classmethod
    def for_model(
        cls,
        model_or_tool: str,
        cache: TokenCountCache | None = PROCESS_CACHE,
        *,
        use_tokenizer: bool = True,
        recorder: MetricsRecorder | None = None,
        store: Any = PROCESS_STORE,
    ) -> Counter:
        """The counter the model registry names for a tool name or model id (exactly what
        ``TokenCounter.count_tokens(text, model_or_tool)`` counts with now), on the process-wide cache unless
        ``cache`` is given (None: no cache), and on the process-wide persistent tiers unless ``store`` is
        given (a ``TieredCache`` / tier, or None for none). Names the registry does not know count with
        ``len // 4``."""
        counter = cls.__new__(cls)
        shared = TokenCounter.get_cache() if cache is PROCESS_CACHE else cache
        route = resolve_route(model_or_tool, use_tokenizer)
        if store is not PROCESS_STORE:
            backend = route.backend.inner if isinstance(route.backend, persistent.PersistentBackend) else route.backend
            route = Route(route.tool, persistent.wrap(backend, use_tokenizer, store), use_tokenizer, route.env,
                          route.spec)
        counter._bind(route, shared, recorder)
        return counter

    @property
    def spec(self) -> ModelSpec | None:
        """The registry's spec for the name this counter was built for (None for a bare backend)."""
        return self.route.spec

    def provenance(self) -> dict[str, Any]:
        """How this counter's counts are obtained: tokenizer id (with version), type, exactness and kind."""
        backend = self.backend
        return {"tokenizer_id": backend.tokenizer_id, "tokenizer_type": backend.tokenizer_type.value,
                "exact": bool(backend.exact), "kind": self.route.kind}

    def count(self, text: str) -> int:
        return count_one(self.route, text, self.cache, self.recorder)[0]

    def count_detailed(self, text: str) -> TokenCount:
        return _detailed(self.route, *count_one(self.route, text, self.cache, self.recorder))

    def count_batch(self, texts: Sequence[str]) -> list[int]:
        return count_many(self.route, texts, self.cache, self.recorder)

    async def acount(self, text: str) -> int:
        return (await acount_one(self.route, text, self.cache, self.recorder))[0]

    async def acount_batch(self, texts: Sequence[str]) -> list[int]:
        return await acount_many(self.route, texts, self.cache, self.recorder)

    def metrics(self) -> PerformanceMetrics:
        return self.recorder.snapshot(self.cache is not None and self.cache.enabled)

    def __repr__(self) -> str:
        return f"Counter({self.route.tool!r}, {self.backend.tokenizer_id!r}, cache={self.cache!r})"


class TokenCounter:
    """The documented static/class-method API over one process-wide cache and metrics recorder.

    ``count_tokens`` is served by the hot path's façade (``_speedups.Facade``, compiled when built) for the
    common call — an exact ``str`` text up to ``SHORT_TEXT_CHARS`` for a tool whose route is resolved, no
    keyword arguments; every other call reaches ``_count_tokens`` below, which has the full behaviour and
    teaches the façade new routes.
    """

    MODEL_MAPPINGS: ClassVar[ModelMappings] = MODEL_MAPPINGS
    _recorder: ClassVar[MetricsRecorder] = MetricsRecorder()

    # --- cache management ---------------------------------------------------------------------------
    @classmethod
    def initialize_cache(
        cls, maxsize: int = DEFAULT_CACHE_MAXSIZE, ttl: float = DEFAULT_CACHE_TTL, enabled: bool = True
    ) -> TokenCountCache:
        cache = TokenCountCache(maxsize=maxsize, ttl=ttl, enabled=enabled)
        _facade.cache = cache
        return cache

    @classmethod
    def get_cache(cls) -> TokenCountCache | None:
        return _facade.cache  # type: ignore[return-value]  # only TokenCountCache instances are assigned

    @classmethod
    def clear_cache(cls) -> None:
        cache = cls.get_cache()
        if cache is not None:
            cache.clear()

    @classmethod
    def reset_cache(cls) -> None:
        _facade.cache = None

    @classmethod
    def get_cache_statistics(cls):  # type: ignore[no-untyped-def]
        cache = cls.get_cache()
        return cache.get_statistics() if cache is not None else None

    @classmethod
    def get_performance_metrics(cls) -> PerformanceMetrics:
        cache = cls.get_cache()
        return cls._recorder.snapshot(cache is not None and cache.enabled)

    @classmethod
    def reset_performance_metrics(cls) -> None:
        cls._recorder.reset()

    @staticmethod
    def register_backend(tool_name: str, backend: TokenizerBackend) -> None:
        register_backend(tool_name, backend)

    @staticmethod
    def unregister_backend(tool_name: str) -> bool:
        return unregister_backend(tool_name)

    @classmethod
    def counter(cls, tool_name: str, use_tokenizer: bool = True) -> Counter:
        """The façade's counter for a tool or model: its route, the process-wide cache, the façade's metrics."""
        return Counter.for_model(tool_name, use_tokenizer=use_tokenizer, recorder=cls._recorder)

    # --- counting -------------------------------------------------------------------------------------
    @classmethod
    def _cache_for(cls, use_cache: bool, cache: TokenCountCache | None) -> TokenCountCache | None:
        if not use_cache:
            return None
        return cache if cache is not None else cls.get_cache()

    if TYPE_CHECKING:  # at run time: the hot path's _facade.count_tokens, assigned below the class

        @classmethod
        def count_tokens(
            cls, text: str, tool_name: str, use_tokenizer: bool = True, use_cache: bool = True,
            *, cache: TokenCountCache | None = None,
        ) -> int: ...

    @classmethod
    def _count_tokens(
        cls, text: str, tool_name: str, use_tokenizer: bool = True, use_cache: bool = True,
        *, cache: TokenCountCache | None = None,
    ) -> int:
        route = resolve_route(tool_name, use_tokenizer)
        return count_one(route, text, cls._cache_for(use_cache, cache), cls._recorder)[0]

    @classmethod
    def count_tokens_detailed(
        cls, text: str, tool_name: str, use_tokenizer: bool = True, use_cache: bool = True,
        *, cache: TokenCountCache | None = None,
    ) -> TokenCount:
        route = resolve_route(tool_name, use_tokenizer)
        return _detailed(route, *count_one(route, text, cls._cache_for(use_cache, cache), cls._recorder))

    @classmethod
    def batch_count_tokens(
        cls, texts: Sequence[str], tool_name: str, use_tokenizer: bool = True, use_cache: bool = True,
        *, cache: TokenCountCache | None = None,
    ) -> list[int]:
        route = resolve_route(tool_name, use_tokenizer)
        return count_many(route, texts, cls._cache_for(use_cache, cache), cls._recorder)

    @classmethod
    async def async_count_tokens(
        cls, text: str, tool_name: str, use_tokenizer: bool = True, use_cache: bool = True,
        *, cache: TokenCountCache | None = None,
    ) -> int:
        route = resolve_route(tool_name, use_tokenizer)
        return (await acount_one(route, text, cls._cache_for(use_cache, cache), cls._recorder))[0]

    @classmethod
    async def async_batch_count_tokens(
        cls, texts: Sequence[str], tool_name: str, use_tokenizer: bool = True, use_cache: bool = True,
        *, cache: TokenCountCache | None = None,
    ) -> list[int]:
        route = resolve_route(tool_name, use_tokenizer)
        return await acount_many(route, texts, cls._cache_for(use_cache, cache), cls._recorder)

    @classmethod
    def _uncached(cls, tool: str, text: str, use_tokenizer: bool) -> int:
        return count_one(resolve_route(tool, use_tokenizer), text, None, cls._recorder)[0]

    @classmethod
    def count_claude_tokens(cls, text: str, use_tokenizer: bool = True) -> int:
        return cls._uncached("claude", text, use_tokenizer)

    @classmethod
    def count_codex_tokens(cls, text: str, use_tokenizer: bool = True) -> int:
        return cls._uncached("codex", text, use_tokenizer)

    @classmethod
    def count_gemini_tokens(cls, text: str, use_tokenizer: bool = True) -> int:
        return cls._uncached("gemini", text, use_tokenizer)

    @classmethod
    def count_tokens_with_model(
        cls, text: str, model_name: str, tokenizer_type: TokenizerType | str | None = None
    ) -> int:
        """Count for a model id, through the registry like ``count_tokens``. Only ``TypeError`` is raised:
        tokenizer and registry problems give ``len // 4``."""
        require_str(text)
        require_str(model_name, "model_name")
        try:
            route = _typed_route(model_name, tokenizer_type) if tokenizer_type is not None \
                else resolve_route(model_name, True)
            return count_one(route, text, cls.get_cache(), cls._recorder)[0]
        except TypeError:
            raise
        except Exception:  # the contract: tokenizer/registry problems degrade to the estimate
            return CHARS4.count(text)


_facade = Facade(fast_routes, TokenCounter._recorder, TokenCounter._count_tokens)
_facade.cache = TokenCountCache(maxsize=DEFAULT_CACHE_MAXSIZE, ttl=DEFAULT_CACHE_TTL)
# A builtin method is not a descriptor: it is called as is through the class and through instances.
setattr(TokenCounter, "count_tokens", _facade.count_tokens)  # noqa: B010  (mypy sees the declaration above)


def _typed_route(model_name: str, tokenizer_type: TokenizerType | str) -> Route:
    """``count_tokens_with_model`` with an explicit tokenizer type: TIKTOKEN takes encoding names as given and
    OpenAI ids through the registry (else cl100k_base); TRANSFORMERS a local Hugging Face tokenizer;
    ESTIMATION ``len // 4``."""
    kind = TokenizerType(tokenizer_type)
    backend: TokenizerBackend
    if kind is TokenizerType.TIKTOKEN:
        if model_name in OPENAI_ENCODINGS:
            encoding = model_name
        else:
            try:
                spec = resolve_model(model_name)
            except UnknownModelError:
                spec = None
            encoding = spec.encoding if spec is not None and spec.provider == OPENAI else "cl100k_base"
        backend = TokenizerFactory.get_openai_backend(encoding)
    elif kind is TokenizerType.TRANSFORMERS:
        backend = TransformersBackend(model_name, TokenizerFactory.get_transformers_tokenizer(model_name))
    elif kind is TokenizerType.ESTIMATION:
        backend = CHARS4
    else:
        return resolve_route(model_name, True)
    return Route(f"model:{model_name}", backend, True)


def backend_for(model_or_tool: str) -> TokenizerBackend:
    """The backend counting for a tool name or model id, exactly as ``count_tokens`` would.

    Names neither registered nor known to the registry raise ``UnknownModelError``: unlike
    ``count_tokens_with_model``, nothing is guessed.
    """
    require_str(model_or_tool, "model")
    route = resolve_route(model_or_tool, True)
    if route.spec is None and registered_backend(model_or_tool) is None:
        raise UnknownModelError(_unknown(model_or_tool))
    return route.backend


def _unknown(name: str) -> str:
    try:
        resolve_model(name)
    except UnknownModelError as exc:
        return str(exc)
    return f"Unknown model or tool: {name!r}"  # pragma: no cover - resolve_model knew it after all
