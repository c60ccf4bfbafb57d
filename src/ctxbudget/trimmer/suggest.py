"""The prioritizer's suggestion: which rules to keep for a budget, from one ranking.

``greedy`` is ``RulePrioritizer.select_top_rules`` on a ranking already made: protected rules first (their cost
counted), then the others in rank order, skip-and-continue, each kept iff ``used + cost <= allowance`` and its
value per token reaches the prioritizer's threshold. Without a text to measure, the allowance is the budget.

With a text (a ``TextLayout``), what must fit is the written text — headings, separators and footer included —
so the allowance is searched as ``fit`` searches it: shrunk by the measured excess (then halved) until the
text fits, then grown by the measured slack and bisected towards the smallest allowance found too large.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence, Set
from dataclasses import dataclass

from ..budget.prioritizer import RulePriorityScore

#: rounds that shrink the allowance by the measured excess before halving it instead; rounds that grow it
_SHRINK_ROUNDS = 4
_GROW_ROUNDS = 8


@dataclass(frozen=True)
class Suggestion:
    included: frozenset[str]
    tokens: int


def greedy(scores: Sequence[RulePriorityScore], allowance: int, protected: Set[str],
           threshold: float) -> frozenset[str]:
    chosen = [s.rule_id for s in scores if s.rule_id in protected]
    used = sum(s.token_cost for s in scores if s.rule_id in protected)
    for score in scores:
        if score.rule_id in protected:
            continue
        if used + score.token_cost <= allowance and score.value_per_token >= threshold:
            chosen.append(score.rule_id)
            used += score.token_cost
    return frozenset(chosen)


def suggest(scores: Sequence[RulePriorityScore], budget: int, protected: Set[str], threshold: float,
            measure: Callable[[frozenset[str]], int] | None) -> Suggestion:
    if measure is None:
        chosen = greedy(scores, budget, protected, threshold)
        return Suggestion(chosen, sum(s.token_cost for s in scores if s.rule_id in chosen))
    return _Search(scores, budget, protected, threshold, measure).run()


@dataclass(frozen=True)
class _Try:
    allowance: int
    included: frozenset[str]
    tokens: int


class _Search:
    def __init__(self, scores: Sequence[RulePriorityScore], budget: int, protected: Set[str], threshold: float,
                 measure: Callable[[frozenset[str]], int]) -> None:
        self.scores, self.budget, self.protected, self.threshold = scores, budget, protected, threshold
        self.measure = measure
        self.eligible = frozenset(s.rule_id for s in scores if s.value_per_token >= threshold) | protected
        self.measured: dict[frozenset[str], int] = {}

    def attempt(self, allowance: int) -> _Try:
        chosen = greedy(self.scores, allowance, self.protected, self.threshold)
        if chosen not in self.measured:  # allowances between two rules' costs give the same selection
            self.measured[chosen] = self.measure(chosen)
        return _Try(allowance, chosen, self.measured[chosen])

    def run(self) -> Suggestion:
        budget = self.budget
        best = self.attempt(budget)
        over: int | None = None  # the smallest allowance known to give too long a text
        shrinks = 0
        while best.tokens > budget and best.allowance > 0:
            over = best.allowance
            shrinks += 1
            excess = best.tokens - budget
            best = self.attempt(max(0, best.allowance - excess) if shrinks <= _SHRINK_ROUNDS else best.allowance // 2)
        low = best  # the largest allowance known to fit; ``best`` is the fullest text found
        for _ in range(_GROW_ROUNDS):
            if low.tokens > budget or low.included >= self.eligible:
                break
            step = budget - low.tokens
            if over is not None and low.allowance + step >= over:
                step = (over - low.allowance) // 2
            if step <= 0:
                break
            trial = self.attempt(low.allowance + step)
            if trial.tokens > budget:
                over = trial.allowance
                continue
            low = trial
            # more allowance is not always a fuller text (a long rule may displace two short ones)
            if trial.tokens >= best.tokens:
                best = trial
        return Suggestion(best.included, best.tokens)
