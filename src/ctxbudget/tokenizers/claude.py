"""Claude counts reconstructed offline by ctok (no official tokenizer exists since Claude 3).

Family "3" serves Claude 3 .. Opus 4.6, family "4.7" Opus 4.7, family "4.8" Opus 4.8 and later (4.7's
vocabulary under a different message frame, which can change the first token of the content). ctok's ``token_count``
prices a one-message API request: its token list starts with the message frame as ``⟨pad⟩`` pieces.
Content counts leave the frame out; ``include_frame=True`` adds it back.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..errors import TokenizerLoadError
from .base import RECONSTRUCTED, TokenizerType

# Tokenizer generation -> the version string ctok routes to it.
CTOK_VERSIONS = {"3": "3.0", "4.7": "4.7", "4.8": "4.8"}
_PAD = "⟨pad⟩"


def ctok_version() -> str:
    from importlib.metadata import PackageNotFoundError, version  # ~15 ms: only when Claude is used

    try:
        return version("ctok")
    except PackageNotFoundError:  # pragma: no cover - only when ctok is vendored oddly
        return "unknown"


class ClaudeBackend:
    """ctok's reconstruction for one tokenizer generation; ``exact=False``, kind ``reconstructed``."""

    tokenizer_type = TokenizerType.CLAUDE
    exact = False
    kind = RECONSTRUCTED
    cacheable = True

    def __init__(self, family: str = "4.7", *, include_frame: bool = False) -> None:
        if family not in CTOK_VERSIONS:
            raise ValueError(f"Unknown Claude tokenizer family {family!r}; known: {', '.join(CTOK_VERSIONS)}")
        try:
            import ctok
        except ImportError as exc:
            raise TokenizerLoadError(
                "ctok library not available (Claude counts need it): pip install ctok  (Python >= 3.12)"
            ) from exc
        self.family = family
        self.include_frame = include_frame
        self._version = CTOK_VERSIONS[family]
        self._tokenize = ctok.tokenize
        try:
            self.frame_tokens = self._frame_size()
        except Exception as exc:
            raise TokenizerLoadError(f"ctok could not load the Claude {family} vocabulary: {exc}") from exc
        frame = "+frame" if include_frame else ""
        self.tokenizer_id = f"ctok:claude-{family}{frame}@{ctok_version()}"

    def _frame_size(self) -> int:
        tokens = self._tokenize("", self._version)
        return sum(1 for t in tokens if t == _PAD)

    def count(self, text: str) -> int:
        tokens = self._tokenize(text, self._version)
        if self.include_frame:
            return len(tokens)
        return max(1, len(tokens) - self.frame_tokens)

    def _count_chunk(self, texts: Sequence[str]) -> list[int]:
        return [self.count(t) for t in texts]

    def count_batch(self, texts: Sequence[str]) -> list[int]:
        # ctok is pure Python: threads cannot run it in parallel, so chunking only serves async callers.
        return self._count_chunk(texts)


