"""The reference heuristics, bit for bit: ``len//4`` (Claude, Gemini, unknown) and ``int(words*1.3)`` (Codex)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from .base import ESTIMATE, TokenizerType


def chars_estimate(text: str) -> int:
    return max(1, len(text) // 4)


def words_estimate(text: str) -> int:
    return max(1, int(len(text.split()) * 1.3))


class HeuristicBackend:
    """A heuristic as a backend; its results are cheaper than a cache lookup and are never cached."""

    tokenizer_type = TokenizerType.ESTIMATION
    exact = False
    kind = ESTIMATE
    cacheable = False
    fast = True

    def __init__(self, name: str) -> None:
        if name == "chars4":
            self._fn = chars_estimate
        elif name == "words1.3":
            self._fn = words_estimate
        else:
            raise ValueError(f"unknown heuristic {name!r}")
        self.tokenizer_id = f"estimate:{name}"
        self.count = self._fn

    def count_batch(self, texts: Sequence[str]) -> list[int]:
        return list(map(self._fn, texts))


CHARS4 = HeuristicBackend("chars4")
WORDS13 = HeuristicBackend("words1.3")


class ScaledBackend:
    """An estimate derived from another backend's count, e.g. o200k x a measured ratio.

    ``scale(count, text)`` maps the base count to the estimate; results cost a real tokenization, so they are
    cached like any tokenizer result. Its type is ``ESTIMATION`` whatever the base tokenizer: it is an estimate.
    """

    tokenizer_type = TokenizerType.ESTIMATION
    exact = False
    kind = ESTIMATE
    cacheable = True

    def __init__(self, base: Any, scale: Callable[[int, str], int], tokenizer_id: str) -> None:
        self._base = base
        self._scale = scale
        self.fast = bool(getattr(base, "fast", False))
        self.tokenizer_id = tokenizer_id

    def count(self, text: str) -> int:
        return self._scale(self._base.count(text), text) if text else 1

    def count_batch(self, texts: Sequence[str]) -> list[int]:
        counts = self._base.count_batch(texts)
        return [self._scale(n, t) if t else 1 for n, t in zip(counts, texts, strict=True)]


def ratio_scale(ratio: float) -> Callable[[int, str], int]:
    """``count x ratio`` rounded up (budgets prefer to over-count), at least 1."""

    def scale(count: int, _text: str) -> int:
        return max(1, math.ceil(count * ratio - 1e-9))

    return scale
