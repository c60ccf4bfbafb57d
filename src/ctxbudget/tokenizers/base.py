"""The backend protocol every tokenizer implements, and what the counters read off a backend."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from ..models.kinds import ESTIMATE, EXACT, RECONSTRUCTED, TokenizerType, is_kind

__all__ = ["ESTIMATE", "EXACT", "RECONSTRUCTED", "TokenizerBackend", "TokenizerType", "backend_kind", "is_fast"]


@runtime_checkable
class TokenizerBackend(Protocol):
    """What the counter needs from a tokenizer: identity plus ``count``/``count_batch``.

    ``tokenizer_id`` names the tokenizer and its version (``"tiktoken:o200k_base@0.14.0"``); cached counts
    are keyed by it, so two backends that may disagree must never share an id.
    """

    @property
    def tokenizer_id(self) -> str: ...

    @property
    def tokenizer_type(self) -> TokenizerType: ...

    @property
    def exact(self) -> bool: ...

    def count(self, text: str) -> int: ...

    def count_batch(self, texts: Sequence[str]) -> list[int]: ...


def backend_kind(backend: TokenizerBackend) -> str:
    """Provenance kind of a backend: its own ``kind`` attribute, else derived from ``exact``/type."""
    kind = getattr(backend, "kind", None)
    if isinstance(kind, str) and is_kind(kind):
        return kind
    if backend.exact:
        return EXACT
    if backend.tokenizer_type is TokenizerType.CLAUDE:
        return RECONSTRUCTED
    return ESTIMATE


def is_fast(backend: TokenizerBackend) -> bool:
    """Whether a backend counts at native speed (tiktoken, the heuristics): then a concurrent miss of the same
    text is counted again rather than waited for, and async calls count short texts on the event loop."""
    return bool(getattr(backend, "fast", False))
