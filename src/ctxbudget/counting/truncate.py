"""Cut a text to a token limit without splitting a character, and check limits with early exit."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from .._util import require_str
from ..tokenizers.base import TokenizerBackend
from ..tokenizers.openai import OpenAIBackend, split_independent
from .counter import backend_for


@dataclass(frozen=True)
class TruncateResult:
    text: str
    tokens: int
    truncated: bool
    #: the whole input's count (what a note "cut to tokens of original_tokens" needs, without a second count)
    original_tokens: int = field(default=0, compare=False)


def _slice(text: str, k: int, keep: str) -> str:
    return text[:k] if keep == "head" else text[len(text) - k :]


def _first_guess(backend: TokenizerBackend, text: str, max_tokens: int, keep: str, total: int) -> int:
    """A character count close to the answer: exact token boundaries for tiktoken, else proportional."""
    if isinstance(backend, OpenAIBackend):
        tokens = backend.encode(text)
        part = tokens[:max_tokens] if keep == "head" else tokens[len(tokens) - max_tokens :]
        return len(backend.decode_bytes(part).decode("utf-8", "ignore"))
    return int(len(text) * max_tokens / total)


def _longest(fits: Callable[[int], bool], n: int, guess: int) -> int:
    """Largest k in [0, n] with fits(k), searching around ``guess``; counts are monotone up to local bumps,
    which the final walk settles so that k + 1 never fits."""
    guess = min(max(guess, 0), n)
    if fits(guess):
        lo, step = guess, 1
        while lo + step <= n and fits(lo + step):
            lo, step = lo + step, step * 2
        hi = min(n + 1, lo + step)
    else:
        hi, step = guess, 1
        while hi - step > 0 and not fits(hi - step):
            hi, step = hi - step, step * 2
        lo = max(0, hi - step)
    while hi - lo > 1:  # invariant: fits(lo), not fits(hi) (or hi == n + 1)
        mid = (lo + hi) // 2
        if fits(mid):
            lo = mid
        else:
            hi = mid
    while lo < n and fits(lo + 1):
        lo += 1
    return lo


def truncate(
    text: str, max_tokens: int, model: str = "claude", keep: Literal["head", "tail"] = "head"
) -> TruncateResult:
    """The longest prefix (``keep="head"``) or suffix (``"tail"``) of ``text`` within ``max_tokens``.

    Adding the next character of the input to the result would exceed the limit (maximality).
    """
    require_str(text)
    if keep not in ("head", "tail"):
        raise ValueError(f"keep must be 'head' or 'tail', got {keep!r}")
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
        raise ValueError(f"max_tokens must be an int >= 1, got {max_tokens!r}")
    backend = backend_for(model)
    total = backend.count(text)
    if total <= max_tokens:
        return TruncateResult(text, total, False, total)
    counts: dict[int, int] = {}

    def count_k(k: int) -> int:
        if k not in counts:
            counts[k] = backend.count(_slice(text, k, keep))
        return counts[k]

    k = _longest(lambda k: count_k(k) <= max_tokens, len(text),
                 _first_guess(backend, text, max_tokens, keep, total))
    return TruncateResult(_slice(text, k, keep), count_k(k), True, total)


def fits(text: str, limit: int, model: str = "claude") -> bool:
    """Whether ``text`` counts at most ``limit`` tokens; stops early on large texts where counts add up."""
    require_str(text)
    backend = backend_for(model)
    if isinstance(backend, OpenAIBackend) and len(text) > 64 * 1024:
        used = 0
        for piece in split_independent(text, 64 * 1024):
            used += backend.count(piece)
            if used > limit:
                return False
        return True
    return backend.count(text) <= limit
