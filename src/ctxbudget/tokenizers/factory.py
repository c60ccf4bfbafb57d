"""TokenizerFactory: shared tokenizer instances under one lock, with remembered load failures.

A failed load is remembered per ``(backend, name)`` and re-raised at once (one warning, no retry storm)
until ``clear_cache()``. Availability probes use ``importlib.util.find_spec`` and import nothing.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Sized
from functools import partial
from typing import Any, ClassVar, TypeVar

from .._util import require_str
from ..cache.memory import key_prefix
from ..counting.flight import text_flight
from ..errors import TokenizerLoadError
from ..models.claude_ids import lookup_claude_model, parse_claude_id
from .base import TokenizerBackend, TokenizerType, backend_kind
from .claude import ClaudeBackend
from .estimate import CHARS4, WORDS13, ScaledBackend, ratio_scale
from .gemini import SentencePieceBackend, find_local_model, gemini_estimate_backend
from .openai import OpenAIBackend, build_encoding, forget_parsed

logger = logging.getLogger("ctxbudget.tokenizers")

T = TypeVar("T")

#: Measured Claude / o200k token ratios, used only when ctok cannot load.
CLAUDE_O200K_RATIOS = {"3": 1.17, "4.7": 1.48, "4.8": 1.48}


class TokenizerFactory:
    _lock: ClassVar[threading.RLock] = threading.RLock()
    _instances: ClassVar[OrderedDict[tuple[str, str], Any]] = OrderedDict()
    _failures: ClassVar[dict[tuple[str, str], BaseException]] = {}
    _max_instances: ClassVar[int] = 10
    _tiktoken_available: ClassVar[bool | None] = None
    _transformers_available: ClassVar[bool | None] = None

    # --- availability -------------------------------------------------------------------------------
    @classmethod
    def is_tiktoken_available(cls) -> bool:
        with cls._lock:
            if cls._tiktoken_available is None:
                cls._tiktoken_available = importlib.util.find_spec("tiktoken") is not None
            return cls._tiktoken_available

    @classmethod
    def is_transformers_available(cls) -> bool:
        with cls._lock:
            if cls._transformers_available is None:
                cls._transformers_available = importlib.util.find_spec("transformers") is not None
            return cls._transformers_available

    # --- the shared-instance machinery --------------------------------------------------------------
    @classmethod
    def _get(cls, kind: str, name: str, load: Callable[[], T]) -> T:
        key = (kind, name)
        with cls._lock:
            if key in cls._instances:
                cls._instances.move_to_end(key)
                return cls._instances[key]  # type: ignore[no-any-return]
            failure = cls._failures.get(key)
            if failure is not None:
                raise failure
            try:
                instance = load()
            except (ImportError, TokenizerLoadError) as exc:
                cls._failures[key] = exc
                logger.warning("Cannot load %s tokenizer %r: %s", kind, name, exc)
                raise
            except Exception as exc:
                wrapped = TokenizerLoadError(f"Cannot load {kind} tokenizer {name!r}: {exc}")
                wrapped.__cause__ = exc
                cls._failures[key] = wrapped
                logger.warning("%s", wrapped)
                raise wrapped from exc
            cls._instances[key] = instance
            while len(cls._instances) > cls._max_instances:
                cls._instances.popitem(last=False)
            return instance

    @classmethod
    def clear_cache(cls) -> None:
        """Drop instances and remembered failures; forget the availability probes."""
        with cls._lock:
            cls._instances.clear()
            cls._failures.clear()
            cls._tiktoken_available = None
            cls._transformers_available = None
        forget_parsed()
        invalidate_routes()

    # --- public loaders -----------------------------------------------------------------------------
    @classmethod
    def get_tiktoken_encoding(cls, encoding_name: str = "cl100k_base") -> Any:
        """The offline-built ``tiktoken.Encoding`` (same object on repeat calls)."""
        return cls.get_openai_backend(encoding_name).encoding

    @classmethod
    def get_transformers_tokenizer(cls, model_name: str) -> Any:
        def load() -> Any:
            if not cls.is_transformers_available():
                raise ImportError("transformers library not available: pip install transformers")
            from transformers import AutoTokenizer  # type: ignore[import-not-found]

            try:
                return AutoTokenizer.from_pretrained(model_name, local_files_only=True)
            except Exception as exc:
                raise TokenizerLoadError(
                    f"Hugging Face tokenizer {model_name!r} is not available locally (local_files_only): {exc}"
                ) from exc

        return cls._get("transformers", model_name, load)

    @classmethod
    def get_openai_backend(cls, encoding_name: str) -> OpenAIBackend:
        def load() -> OpenAIBackend:
            if not cls.is_tiktoken_available():
                raise ImportError("tiktoken library not available: pip install tiktoken")
            return OpenAIBackend(build_encoding(encoding_name))

        return cls._get("tiktoken", encoding_name, load)

    @classmethod
    def get_claude_backend(cls, family: str, *, include_frame: bool = False) -> ClaudeBackend:
        name = f"{family}+frame" if include_frame else family
        return cls._get("claude", name, lambda: ClaudeBackend(family, include_frame=include_frame))

    @classmethod
    def get_claude_ratio_backend(cls, family: str) -> ScaledBackend:
        """The fallback when ctok cannot load: o200k x the family's measured ratio, labelled estimate."""
        ratio = CLAUDE_O200K_RATIOS[family]

        def load() -> ScaledBackend:
            base = cls.get_openai_backend("o200k_base")
            tokenizer_id = f"claude-estimate:{family}:o200k*{ratio}@{base.tokenizer_id}"
            return ScaledBackend(base, ratio_scale(ratio), tokenizer_id)

        return cls._get("claude-estimate", family, load)

    @classmethod
    def get_gemini_backend(cls) -> SentencePieceBackend | ScaledBackend:
        """A local SentencePiece model if one is configured or cached, else the o200k-calibrated estimate."""
        path = find_local_model()
        if path is not None:
            try:
                return cls._get("sentencepiece", str(path), lambda: SentencePieceBackend(path))
            except (ImportError, TokenizerLoadError):
                pass  # warned once by _get; the estimate below is labelled as such
        return cls._get("gemini-estimate", "o200k_base",
                        lambda: gemini_estimate_backend(cls.get_openai_backend("o200k_base")))

    @classmethod
    def get_preferred_tokenizer_type(cls, tool_name: str) -> TokenizerType:
        """The type of the backend that ``count_tokens(text, tool_name)`` really uses now."""
        return resolve_route(tool_name, True).backend.tokenizer_type


# --- routing: which backend serves a tool --------------------------------------------------------------

CLAUDE_ENV_VARS = ("CLAUDE_MODEL", "ANTHROPIC_MODEL", "CLAUDE_CODE_MODEL")


def _tool_key(key: str) -> str:
    return key.strip().lower()


class _Mappings(dict[str, str]):
    """``MODEL_MAPPINGS``: tool -> tokenizer name, keys case-insensitive like tool names. Edits take effect at
    once (resolved routes are dropped)."""

    def __setitem__(self, key: str, value: str) -> None:
        super().__setitem__(_tool_key(key), value)
        invalidate_routes()

    def __getitem__(self, key: str) -> str:
        return super().__getitem__(_tool_key(key))

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and super().__contains__(_tool_key(key))

    def get(self, key: str, default: Any = None) -> Any:
        return super().get(_tool_key(key), default)

    def __delitem__(self, key: str) -> None:
        super().__delitem__(_tool_key(key))
        invalidate_routes()

    def update(self, *args: Any, **kwargs: Any) -> None:
        for key, value in dict(*args, **kwargs).items():
            self[key] = value

    def pop(self, key: str, *default: Any) -> Any:
        value = super().pop(_tool_key(key), *default)
        invalidate_routes()
        return value

    def clear(self) -> None:
        super().clear()
        invalidate_routes()

    def setdefault(self, key: str, default: str) -> str:
        if key not in self:
            self[key] = default
        return self[key]


#: Tool -> tokenizer dispatch actually used: an OpenAI encoding name, "claude" or "gemini".
MODEL_MAPPINGS: dict[str, str] = _Mappings(
    claude="claude", codex="o200k_base", gpt="o200k_base", openai="o200k_base", gemini="gemini", palm="gemini"
)

#: Heuristic per tool for ``use_tokenizer=False`` and for a tokenizer that cannot load.
_HEURISTICS = {"codex": WORDS13, "gpt": WORDS13, "openai": WORDS13}

_registered: dict[str, TokenizerBackend] = {}
_configured_claude_model: str | None = None


class Route:
    """A resolved (tool, mode): the backend and the cache variant naming tokenizer, version and mode.

    ``entry`` is what the compiled counter (``_core.count_route``) needs: the cache namespace, the backend's
    ``core_encode`` if it has one (a C-level callable whose result's ``len()`` is the count), and the count
    to call otherwise — single-flight wrapped unless the backend is tiktoken, which is fast enough that
    waiting for another thread would not pay.
    """

    __slots__ = ("backend", "cacheable", "entry", "env", "key_prefix", "kind", "tool", "variant")

    def __init__(
        self, tool: str, backend: TokenizerBackend, use_tokenizer: bool, env: tuple[str, ...] | None = None
    ) -> None:
        #: for routes chosen by the Claude model variables: their values then (re-resolved when they change)
        self.env = env
        self.tool = tool
        self.backend = backend
        self.kind = backend_kind(backend)
        self.cacheable = bool(getattr(backend, "cacheable", True))
        self.variant = f"{backend.tokenizer_id}|{'tok' if use_tokenizer else 'est'}"
        self.key_prefix = key_prefix(tool, self.variant)
        count: Callable[[str], int] = backend.count
        if backend.tokenizer_type is not TokenizerType.TIKTOKEN:
            count = partial(text_flight, self.key_prefix, backend.count)
        self.entry = (self.key_prefix, getattr(backend, "core_encode", None), count)


resolved_routes: dict[tuple[str, bool], Route] = {}
#: tool name -> ``Route.entry`` for the routes ``TokenCounter.count_tokens`` may serve without re-resolving
#: (real tokenizer, cacheable, not following the Claude model variables). Read by the compiled façade.
fast_routes: dict[str, tuple[str, Callable[[str], Sized] | None, Callable[[str], int]]] = {}
_routes_lock = threading.Lock()
_MAX_ROUTES = 512


_generation = 0  # bumped by every invalidation, so a route built meanwhile is not stored


def invalidate_routes() -> None:
    global _generation
    with _routes_lock:
        _generation += 1
        resolved_routes.clear()
        fast_routes.clear()


def _learn_fast_route(tool_name: str, use_tokenizer: bool, route: Route) -> None:
    """Let the compiled façade serve ``tool_name`` with ``route`` — if the route may skip re-resolution and is
    still the resolved one (an invalidation may have come in between). Called with ``_routes_lock`` held."""
    learnable = use_tokenizer and route.env is None and route.cacheable and type(tool_name) is str
    if learnable and resolved_routes.get((tool_name, use_tokenizer)) is route:
        fast_routes[tool_name] = route.entry


def register_backend(tool_name: str, backend: TokenizerBackend) -> None:
    """Serve ``tool_name`` (case-insensitive) with ``backend`` from now on."""
    for attr in ("tokenizer_id", "tokenizer_type", "exact", "count", "count_batch"):
        if not hasattr(backend, attr):
            raise TypeError(f"backend lacks {attr!r}; it must implement TokenizerBackend")
    _registered[tool_name.strip().lower()] = backend
    invalidate_routes()


def unregister_backend(tool_name: str) -> bool:
    found = _registered.pop(tool_name.strip().lower(), None) is not None
    invalidate_routes()
    return found


def set_claude_model(model_id: str | None) -> None:
    """The Claude model to count for when none of ``CLAUDE_ENV_VARS`` is set (None: the newest family)."""
    global _configured_claude_model
    _configured_claude_model = model_id
    invalidate_routes()


def claude_model_in_use() -> str | None:
    for var in CLAUDE_ENV_VARS:
        value = os.environ.get(var, "").strip()
        if value:
            return value
    return _configured_claude_model


def claude_tokenizer_family(model_id: str | None = None) -> str:
    """The ctok generation for ``model_id`` (default: the model in use, else the newest family)."""
    model_id = model_id if model_id is not None else claude_model_in_use()
    if model_id:
        member = lookup_claude_model(model_id)
        version = member.version if member is not None else parse_claude_id(model_id)
        if version is not None:
            return version.tokenizer_family
        logger.warning("Claude model %r not recognised; counting with the newest tokenizer family", model_id)
    return "4.7"


def claude_backend(family: str) -> TokenizerBackend:
    try:
        return TokenizerFactory.get_claude_backend(family)
    except (ImportError, TokenizerLoadError):
        return TokenizerFactory.get_claude_ratio_backend(family)


def _tokenizer_backend(tool: str) -> TokenizerBackend:
    """The real tokenizer path for ``tool``; raises if it cannot load."""
    registered = _registered.get(tool)
    if registered is not None:
        return registered
    mapping = MODEL_MAPPINGS.get(tool)
    if mapping is None:
        return CHARS4
    if mapping == "claude" or mapping.startswith("claude-"):
        return claude_backend(claude_tokenizer_family(None if mapping == "claude" else mapping))
    if mapping == "gemini":
        return TokenizerFactory.get_gemini_backend()
    return TokenizerFactory.get_openai_backend(mapping)


def claude_env() -> tuple[str, ...]:
    """Current values of ``CLAUDE_ENV_VARS`` (a Claude route is stale when they differ from its own).
    Unrolled rather than a loop over the constant: this runs on every Claude count."""
    get = os.environ.get
    return (get("CLAUDE_MODEL", ""), get("ANTHROPIC_MODEL", ""), get("CLAUDE_CODE_MODEL", ""))


def resolve_route(tool_name: str, use_tokenizer: bool) -> Route:
    """The route for a tool name and mode; failed loads fall back to the tool's heuristic (already warned)."""
    route = resolved_routes.get((tool_name, use_tokenizer))
    if route is not None and (route.env is None or route.env == claude_env()):
        if route.env is None and type(tool_name) is str and tool_name not in fast_routes:
            with _routes_lock:  # resolved under an equal str subclass, or not yet learned
                _learn_fast_route(tool_name, use_tokenizer, route)
        return route
    generation = _generation
    tool = require_str(tool_name, "tool_name").strip().lower()
    heuristic = _HEURISTICS.get(tool, CHARS4)
    backend: TokenizerBackend = heuristic
    if use_tokenizer:
        try:
            backend = _tokenizer_backend(tool)
        except (ImportError, TokenizerLoadError):
            backend = heuristic
    env_dependent = use_tokenizer and tool not in _registered and MODEL_MAPPINGS.get(tool) == "claude"
    route = Route(tool, backend, use_tokenizer, claude_env() if env_dependent else None)
    with _routes_lock:
        if generation == _generation:  # else the mappings or backends changed while this route was built
            if len(resolved_routes) >= _MAX_ROUTES:
                resolved_routes.clear()
                fast_routes.clear()
            resolved_routes[(tool_name, use_tokenizer)] = route
            _learn_fast_route(tool_name, use_tokenizer, route)
    return route
