"""The allowance whose allocation, once written out, fits a budget — the search ``fit`` and the trimmer share.

An allocation's costs leave out what the written text adds (headings, separators, a footer), so the allowance
given to the allocator is searched: shrunk by the measured excess (then by halves) until the text fits, then
grown by the measured slack and bisected towards the smallest allowance found too large. Every round is one
``attempt`` (an allocation and one count of its text).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, TypeVar

#: rounds that shrink the allowance by the measured excess before halving it instead; rounds that grow it
SHRINK_ROUNDS = 4
GROW_ROUNDS = 8


class Trial(Protocol):
    @property
    def allowance(self) -> int: ...

    @property
    def tokens(self) -> int: ...


T = TypeVar("T", bound=Trial)


def search_allowance(attempt: Callable[[int], T], budget: int, start: int, can_grow: Callable[[T], bool]) -> T:
    """The fullest trial within ``budget`` (or the smallest found, if none fits), starting from ``start``;
    ``can_grow`` says whether more allowance could still change a trial's text."""
    best = attempt(max(0, start))
    over: int | None = None  # the smallest allowance known to give too long a text
    shrinks = 0
    while best.tokens > budget and best.allowance > 0:
        over = best.allowance
        shrinks += 1
        excess = best.tokens - budget
        best = attempt(max(0, best.allowance - excess) if shrinks <= SHRINK_ROUNDS else best.allowance // 2)
    low = best  # the largest allowance known to fit; ``best`` is the fullest text found
    for _ in range(GROW_ROUNDS):
        if low.tokens > budget or not can_grow(low):
            break
        step = budget - low.tokens
        if over is not None and low.allowance + step >= over:
            step = (over - low.allowance) // 2
        if step <= 0:
            break
        trial = attempt(low.allowance + step)
        if trial.tokens > budget:
            over = trial.allowance
            continue
        low = trial
        # more allowance is not always a fuller text (a long rule may displace two short ones)
        if trial.tokens >= best.tokens:
            best = trial
    return best
