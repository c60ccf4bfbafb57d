"""The plain ``Counter`` (backend + cache) and the ``TokenCounter`` compatibility façade.

Both go through ``counting`` (``count_one`` / ``count_many`` and their async forms), so every kind of call
follows one cache discipline.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from .._speedups import Facade
from .._util import require_str
from ..cache.memory import TokenCountCache
from ..models.registry import ANTHROPIC, GOOGLE, OPENAI, OPENAI_ENCODINGS, resolve_model
from ..tokenizers.base import TokenizerBackend, TokenizerType
from ..tokenizers.estimate import CHARS4
from ..tokenizers.factory import (
    MODEL_MAPPINGS,
    Route,
    TokenizerFactory,
    claude_backend,
    claude_tokenizer_family,
    fast_routes,
    register_backend,
    resolve_route,
    unregister_backend,
)
from ..tokenizers.transformers import TransformersBackend
from .discipline import acount_many, acount_one, count_many, count_one
from .metrics import MetricsRecorder, PerformanceMetrics


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
    ) -> None:
        self.backend = backend
        self.cache = cache
        self.route = Route(tool_name or backend.tokenizer_id, backend, True)
        self.recorder = recorder or MetricsRecorder()

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


class TokenCounter:
    """The documented static/class-method API over one process-wide cache (see SPEC.md §2.4).

    ``count_tokens`` is served by a compiled façade (``_core.Facade``) for the common call — exact ``str``
    text up to ``SHORT_TEXT_CHARS`` for a tool whose route is resolved, no keyword arguments; every other
    call reaches ``_count_tokens`` below, which has the full behaviour and teaches the façade new routes.
    """

    MODEL_MAPPINGS: ClassVar[dict[str, str]] = MODEL_MAPPINGS
    _recorder: ClassVar[MetricsRecorder] = MetricsRecorder()

    # --- cache management ---------------------------------------------------------------------------
    @classmethod
    def initialize_cache(cls, maxsize: int = 1000, ttl: float = 300.0, enabled: bool = True) -> TokenCountCache:
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

    # --- counting -------------------------------------------------------------------------------------
    @classmethod
    def _cache_for(cls, use_cache: bool, cache: TokenCountCache | None) -> TokenCountCache | None:
        if not use_cache:
            return None
        return cache if cache is not None else cls.get_cache()

    if TYPE_CHECKING:  # at run time: the compiled _facade.count_tokens, assigned below the class

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
        """Count for a model id. Only ``TypeError`` is raised: tokenizer problems give ``len//4``."""
        require_str(text)
        try:
            backend = _model_backend(model_name, tokenizer_type)
        except Exception:  # the contract: tokenizer/registry problems degrade to the estimate
            backend = CHARS4
        try:
            n, _ = count_one(Route(f"model:{model_name}", backend, True), text, cls.get_cache(), cls._recorder)
        except TypeError:
            raise
        except Exception:
            return CHARS4.count(text)
        return n


_facade = Facade(fast_routes, TokenCounter._recorder, TokenCounter._count_tokens)
# A builtin method is not a descriptor: it is called as is through the class and through instances.
setattr(TokenCounter, "count_tokens", _facade.count_tokens)  # noqa: B010  (mypy sees the declaration above)


def _model_backend(model_name: str, tokenizer_type: TokenizerType | str | None) -> TokenizerBackend:
    kind = TokenizerType(tokenizer_type) if tokenizer_type is not None else None
    if kind is TokenizerType.ESTIMATION:
        return CHARS4
    if kind is TokenizerType.TIKTOKEN:
        if model_name in OPENAI_ENCODINGS:
            return TokenizerFactory.get_openai_backend(model_name)
        try:
            spec = resolve_model(model_name)
        except Exception:
            spec = None
        encoding = spec.encoding if spec is not None and spec.provider == OPENAI else "cl100k_base"
        return TokenizerFactory.get_openai_backend(encoding)
    if kind is TokenizerType.TRANSFORMERS:
        return TransformersBackend(model_name, TokenizerFactory.get_transformers_tokenizer(model_name))
    spec = resolve_model(model_name)
    if spec.provider == OPENAI:
        return TokenizerFactory.get_openai_backend(spec.encoding)
    if spec.provider == ANTHROPIC:
        return claude_backend(claude_tokenizer_family(model_name))
    if spec.provider == GOOGLE:
        return resolve_route("gemini", True).backend
    return CHARS4


def backend_for(model_or_tool: str) -> TokenizerBackend:
    """The backend counting for a tool name (as ``count_tokens`` would) or a model id.

    Unknown names raise ``UnknownModelError``; unlike ``count_tokens_with_model`` nothing is guessed.
    """
    require_str(model_or_tool, "model")
    name = model_or_tool.strip().lower()
    if name in MODEL_MAPPINGS:
        return resolve_route(name, True).backend
    return _model_backend(model_or_tool, None)
