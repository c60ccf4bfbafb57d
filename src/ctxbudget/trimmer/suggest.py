"""The prioritizer's suggestion: which rules to keep for a budget, from one ranking.

``greedy`` is ``RulePrioritizer.select_top_rules`` on a ranking already made: protected rules first (their cost
counted), then the others in rank order, skip-and-continue, each kept iff ``used + cost <= allowance`` and its
value per token reaches the prioritizer's threshold. Without a text to measure, the allowance is the budget.

With a text (a ``TextLayout``), what must fit is the written text — headings, separators and footer included —
so the allowance is searched as ``fit`` searches it (``budget.allowance``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence, Set
from dataclasses import dataclass

from ..budget.allowance import search_allowance
from ..budget.prioritizer import RulePriorityScore


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
        best = search_allowance(self.attempt, self.budget, self.budget, lambda t: not t.included >= self.eligible)
        return Suggestion(best.included, best.tokens)
