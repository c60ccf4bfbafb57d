"""Which backend counts for a name: shared tokenizer instances, remembered failures, registered overrides.

``resolve(name)`` asks the model registry for the name's spec and returns the backend that counts for it: a
backend registered for that tool, else the spec's tokenizer, else (it cannot load) the labelled fallback.
Instances are shared under one lock (``TokenizerFactory``); a failed load is remembered per ``(backend,
name)`` and re-raised at once (one warning, no retry storm) until ``clear_cache()``. Availability probes use
``importlib.util.find_spec`` and import nothing.
"""

from __future__ import annotations

import importlib.util
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from .._util import require_str
from ..errors import TokenizerLoadError, UnknownModelError
from ..models.registry import OPENAI, ModelSpec, follows_claude_model, resolve_model
from .base import TokenizerBackend, TokenizerType
from .claude import ClaudeBackend
from .estimate import CHARS4, WORDS13, ScaledBackend, ratio_scale
from .gemini import SentencePieceBackend, find_local_model, gemini_estimate_backend
from .openai import OpenAIBackend, forget_parsed

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
        _changed()

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
            return OpenAIBackend.offline(encoding_name)

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
        return resolve(tool_name, True).backend.tokenizer_type


# --- which backend counts for a name ----------------------------------------------------------------------

_registered: dict[str, TokenizerBackend] = {}
_listeners: list[Callable[[], None]] = []


def on_change(listener: Callable[[], None]) -> None:
    """Call ``listener()`` after anything that changes which backend counts for a name: ``clear_cache``,
    ``register_backend``, ``unregister_backend``."""
    _listeners.append(listener)


def _changed() -> None:
    for listener in list(_listeners):
        listener()


def register_backend(tool_name: str, backend: TokenizerBackend) -> None:
    """Serve ``tool_name`` (case-insensitive) with ``backend`` from now on."""
    for attr in ("tokenizer_id", "tokenizer_type", "exact", "count", "count_batch"):
        if not hasattr(backend, attr):
            raise TypeError(f"backend lacks {attr!r}; it must implement TokenizerBackend")
    _registered[require_str(tool_name, "tool_name").strip().lower()] = backend
    _changed()


def registered_backend(tool_name: str) -> TokenizerBackend | None:
    """The backend registered for ``tool_name``, if any."""
    return _registered.get(require_str(tool_name, "tool_name").strip().lower())


def unregister_backend(tool_name: str) -> bool:
    found = _registered.pop(require_str(tool_name, "tool_name").strip().lower(), None) is not None
    _changed()
    return found


def spec_backend(spec: ModelSpec) -> TokenizerBackend:
    """The backend of a spec's tokenizer; a Claude spec whose ctok cannot load gets o200k x the generation's
    measured ratio (labelled estimate). Raises ImportError / TokenizerLoadError when nothing can load."""
    if spec.tokenizer_type is TokenizerType.TIKTOKEN:
        return TokenizerFactory.get_openai_backend(spec.encoding)
    if spec.tokenizer_type is TokenizerType.CLAUDE:
        family = spec.encoding.removeprefix("claude-")
        try:
            return TokenizerFactory.get_claude_backend(family)
        except (ImportError, TokenizerLoadError):
            return TokenizerFactory.get_claude_ratio_backend(family)
    return TokenizerFactory.get_gemini_backend()


def heuristic_for(spec: ModelSpec | None) -> TokenizerBackend:
    """The reference heuristic for ``use_tokenizer=False`` and for a tokenizer that cannot load:
    ``int(words x 1.3)`` for OpenAI models, ``len // 4`` for everything else."""
    return WORDS13 if spec is not None and spec.provider == OPENAI else CHARS4


@dataclass(frozen=True)
class Resolution:
    """What counts for a name: the backend, the registry's spec (None for a name it does not know), and
    whether the answer follows the Claude model variables (and must be re-checked when they change)."""

    backend: TokenizerBackend
    spec: ModelSpec | None
    follows_claude_model: bool


def resolve(name: str, use_tokenizer: bool = True) -> Resolution:
    """The backend for a tool name or model id: a registered backend, else the spec's tokenizer (falling back,
    loudly and labelled, to the heuristic when it cannot load); names the registry does not know count with
    ``len // 4``. ``use_tokenizer=False`` gives the heuristic."""
    key = require_str(name, "tool_name").strip().lower()
    try:
        spec: ModelSpec | None = resolve_model(key)
    except UnknownModelError:
        spec = None
    heuristic = heuristic_for(spec)
    if not use_tokenizer:
        return Resolution(heuristic, spec, False)
    registered = _registered.get(key)
    if registered is not None:
        return Resolution(registered, spec, False)
    if spec is None:
        return Resolution(CHARS4, None, False)
    try:
        backend = spec_backend(spec)
    except (ImportError, TokenizerLoadError):  # warned once by TokenizerFactory._get
        backend = heuristic
    return Resolution(backend, spec, follows_claude_model(key))
