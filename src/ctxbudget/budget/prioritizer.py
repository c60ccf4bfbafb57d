"""RulePrioritizer: score memory rules with one of six strategies and pick the best within a budget.

Scoring inputs, per rule:

* ``A`` — authority: 1.0 for ABSOLUTE, 0.5 for DEFAULT.
* ``P`` — ``rule_priority(rule) / 100`` (``priority``, else ``metadata["priority"]``, else 50).
* ``adj`` — the learned adjustment for the rule id (``adjust_priority_from_usage``), 0.0 by default,
  always within [-1, 1].
* ``freq = ln(1 + n) / 10`` where ``n`` is the number of the usage tracker's operations for the tool whose
  ``metadata["rule_id"]`` is the rule's id.
* ``recency = exp(-age_days / 30)``: exponential decay with a **time constant of 30 days** (so the
  half-life is 30·ln 2 ≈ 20.8 days). The age is measured from ``updated_at`` (else ``created_at``) to
  ``now()`` and floored at 0, so future timestamps score 1.0; naive datetimes are read as UTC.
* ``cost`` — the token count of ``rule_cost_text(rule)`` for the tool.

One scoring pass (``prioritize_rules`` or ``select_top_rules``) costs every rule exactly once with a single
``TokenCounter.batch_count_tokens`` call, reads the usage tracker at most once
(``count_rule_uses(tool_name)``, one locked pass on the tracker; only for strategies that use frequency),
and snapshots the learned adjustments once under this object's lock. Ties in score are broken by the rule
ranking key (priority descending, newest first, input position), and all bookkeeping is by
input position, so duplicate rules each count.
"""

from __future__ import annotations

import math
import statistics
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from typing import Any

from .._clock import as_utc
from ..counting.counter import TokenCounter
from ..rules.model import AuthorityLevel, MemoryRule, ranking_key, rule_cost_text, rule_priority

__all__ = [
    "PrioritizationResult",
    "PrioritizationStrategy",
    "RulePrioritizer",
    "RulePriorityScore",
]

#: Recency decay time constant in days (half-life = 30·ln 2 ≈ 20.8 days).
RECENCY_TIME_CONSTANT_DAYS = 30.0
HIGH_PRIORITY_THRESHOLD = 0.7
LOW_PRIORITY_THRESHOLD = 0.3

_SECONDS_PER_DAY = 86400.0


class PrioritizationStrategy(str, Enum):
    IMPORTANCE = "importance"
    FREQUENCY = "frequency"
    COST_BENEFIT = "cost_benefit"
    HYBRID = "hybrid"
    RECENCY = "recency"
    ADAPTIVE = "adaptive"


# Strategies whose score reads the usage tracker (FREQUENCY, COST_BENEFIT via base, HYBRID, ADAPTIVE).
_USES_FREQUENCY = frozenset({
    PrioritizationStrategy.FREQUENCY,
    PrioritizationStrategy.COST_BENEFIT,
    PrioritizationStrategy.HYBRID,
    PrioritizationStrategy.ADAPTIVE,
})


@dataclass
class RulePriorityScore:
    """One rule's score. Ordered (``<``, ``<=``, ``>``, ``>=``) by ``total_score``; equality is by value.

    ``metadata["position"]`` is the rule's position in the input sequence."""

    rule_id: str
    rule: MemoryRule
    total_score: float
    component_scores: dict[str, float] = field(default_factory=dict)
    token_cost: int = 0
    value_per_token: float = 0.0
    usage_count: int = 0
    last_used: datetime | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, RulePriorityScore):
            return NotImplemented
        return self.total_score < other.total_score

    def __le__(self, other: object) -> bool:
        if not isinstance(other, RulePriorityScore):
            return NotImplemented
        return self.total_score <= other.total_score

    def __gt__(self, other: object) -> bool:
        if not isinstance(other, RulePriorityScore):
            return NotImplemented
        return self.total_score > other.total_score

    def __ge__(self, other: object) -> bool:
        if not isinstance(other, RulePriorityScore):
            return NotImplemented
        return self.total_score >= other.total_score


@dataclass
class PrioritizationResult:
    """``ranked_rules`` and ``priority_scores`` are aligned, best first; ``total_value`` is the sum of the
    total scores."""

    strategy: PrioritizationStrategy
    ranked_rules: list[MemoryRule]
    priority_scores: list[RulePriorityScore]
    total_rules: int
    total_value: float
    statistics: dict[str, Any] = field(default_factory=dict)


def _real(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite real number, got {value!r}")
    return float(value)


def _non_negative(value: object, name: str) -> float:
    number = _real(value, name)
    if number < 0:
        raise ValueError(f"{name} must be >= 0, got {value!r}")
    return number


def _strategy(value: PrioritizationStrategy | str) -> PrioritizationStrategy:
    try:
        return PrioritizationStrategy(value)
    except ValueError:
        known = [s.value for s in PrioritizationStrategy]
        raise ValueError(f"unknown prioritization strategy {value!r}; use one of {known}") from None


def _default_now() -> datetime:
    return datetime.now(UTC)


class RulePrioritizer:
    """Scores rules by the strategy's formula (see the module docstring). Thread-safe: configuration is fixed
    at construction and the learned adjustments live under one lock."""

    def __init__(
        self,
        usage_tracker: Any = None,
        strategy: PrioritizationStrategy | str = PrioritizationStrategy.IMPORTANCE,
        importance_weight: float = 0.5,
        frequency_weight: float = 0.3,
        recency_weight: float = 0.2,
        cost_benefit_threshold: float = 0.0,
        adaptive_learning_rate: float = 0.1,
        use_accurate_counting: bool = True,
        *,
        now: Callable[[], datetime] = _default_now,
    ) -> None:
        weights = [
            _non_negative(importance_weight, "importance_weight"),
            _non_negative(frequency_weight, "frequency_weight"),
            _non_negative(recency_weight, "recency_weight"),
        ]
        total = sum(weights)
        if not total > 0:
            raise ValueError("importance_weight + frequency_weight + recency_weight must be positive")
        self._importance_weight, self._frequency_weight, self._recency_weight = (w / total for w in weights)
        self._usage_tracker = usage_tracker
        self._strategy = _strategy(strategy)
        self._cost_benefit_threshold = _real(cost_benefit_threshold, "cost_benefit_threshold")
        self._adaptive_learning_rate = _non_negative(adaptive_learning_rate, "adaptive_learning_rate")
        self._use_accurate_counting = bool(use_accurate_counting)
        self._now = now
        self._lock = threading.Lock()
        self._adjustments: dict[str, float] = {}

    # -- configuration (read-only) ---------------------------------------------------------------------

    @property
    def usage_tracker(self) -> Any:
        return self._usage_tracker

    @property
    def strategy(self) -> PrioritizationStrategy:
        return self._strategy

    @property
    def importance_weight(self) -> float:
        """Normalised: the three weights sum to 1."""
        return self._importance_weight

    @property
    def frequency_weight(self) -> float:
        return self._frequency_weight

    @property
    def recency_weight(self) -> float:
        return self._recency_weight

    @property
    def cost_benefit_threshold(self) -> float:
        return self._cost_benefit_threshold

    @property
    def adaptive_learning_rate(self) -> float:
        return self._adaptive_learning_rate

    @property
    def use_accurate_counting(self) -> bool:
        return self._use_accurate_counting

    # -- learned adjustments ---------------------------------------------------------------------------

    def adjust_priority_from_usage(
        self, rule_id: str, usage_value: float, learning_rate: float | None = None
    ) -> float:
        """``adj = clamp(adj + lr·usage_value, -1, 1)`` with ``lr = adaptive_learning_rate`` unless
        ``learning_rate`` is given (0 is honoured). Returns the new adjustment."""
        value = _real(usage_value, "usage_value")
        if learning_rate is None:
            rate = self._adaptive_learning_rate
        else:
            rate = _non_negative(learning_rate, "learning_rate")
        with self._lock:
            adjusted = min(1.0, max(-1.0, self._adjustments.get(rule_id, 0.0) + rate * value))
            self._adjustments[rule_id] = adjusted
        return adjusted

    def get_priority_adjustment(self, rule_id: str) -> float:
        with self._lock:
            return self._adjustments.get(rule_id, 0.0)

    def reset_priority_adjustments(self) -> None:
        with self._lock:
            self._adjustments.clear()

    # -- scoring ---------------------------------------------------------------------------------------

    def prioritize_rules(
        self,
        rules: Sequence[MemoryRule],
        tool_name: str,
        strategy: PrioritizationStrategy | str | None = None,
    ) -> PrioritizationResult:
        """Score ``rules`` for ``tool_name``, best first (ties by the ranking key: priority, newest first, input
        order)."""
        chosen = self._strategy if strategy is None else _strategy(strategy)
        scores = self._score_pass(rules, tool_name, chosen)
        return PrioritizationResult(
            strategy=chosen,
            ranked_rules=[s.rule for s in scores],
            priority_scores=scores,
            total_rules=len(scores),
            total_value=math.fsum(s.total_score for s in scores),
            statistics=_statistics(chosen, scores),
        )

    def select_top_rules(
        self,
        rules: Sequence[MemoryRule],
        tool_name: str,
        budget: int,
        strategy: PrioritizationStrategy | str | None = None,
        protect_absolute: bool = True,
    ) -> tuple[list[MemoryRule], list[MemoryRule]]:
        """``(selected, skipped)``; every input rule lands in exactly one list.

        With ``protect_absolute`` every ABSOLUTE rule is selected first (its cost counts against the budget,
        even past it); the other rules are then taken in rank order, skipping any that does not fit and
        continuing: a rule is included iff ``used + cost <= budget`` and
        ``value_per_token >= cost_benefit_threshold``. Without it, ABSOLUTE rules are ordinary candidates.
        ``selected`` lists the protected ABSOLUTE rules (rank order) then the chosen candidates (rank
        order); ``skipped`` is in rank order."""
        if isinstance(budget, bool) or not isinstance(budget, int) or budget < 0:
            raise ValueError(f"budget must be an int >= 0, got {budget!r}")
        chosen = self._strategy if strategy is None else _strategy(strategy)
        scores = self._score_pass(rules, tool_name, chosen)
        selected: list[MemoryRule] = []
        skipped: list[MemoryRule] = []
        used = 0
        candidates: list[RulePriorityScore] = []
        for score in scores:
            if protect_absolute and score.rule.authority is AuthorityLevel.ABSOLUTE:
                selected.append(score.rule)
                used += score.token_cost
            else:
                candidates.append(score)
        threshold = self._cost_benefit_threshold
        for score in candidates:
            if used + score.token_cost <= budget and score.value_per_token >= threshold:
                selected.append(score.rule)
                used += score.token_cost
            else:
                skipped.append(score.rule)
        return selected, skipped

    def _score_pass(
        self, rules: Sequence[MemoryRule], tool_name: str, strategy: PrioritizationStrategy
    ) -> list[RulePriorityScore]:
        """Score every rule once and sort: score descending, then the ranking key."""
        rules = list(rules)
        if not rules:
            return []
        costs = TokenCounter.batch_count_tokens(
            [rule_cost_text(r) for r in rules], tool_name, use_tokenizer=self._use_accurate_counting
        )
        usage = self._rule_uses(tool_name) if strategy in _USES_FREQUENCY else {}
        with self._lock:
            adjustments = dict(self._adjustments)
        now = as_utc(self._now())
        scores = [
            self._score(rule, position, strategy, costs[position], usage, adjustments, now)
            for position, rule in enumerate(rules)
        ]
        order = sorted(
            range(len(rules)), key=lambda i: (-scores[i].total_score, ranking_key(rules[i], i))
        )
        return [scores[i] for i in order]

    def _rule_uses(self, tool_name: str) -> Mapping[str, tuple[int, datetime | None]]:
        """``{rule_id: (uses, last_used)}`` from the tracker, read once; empty without a tracker that
        offers ``count_rule_uses``."""
        count_rule_uses = getattr(self._usage_tracker, "count_rule_uses", None)
        if count_rule_uses is None or not callable(count_rule_uses):
            return {}
        result: Mapping[str, tuple[int, datetime | None]] = count_rule_uses(tool_name)
        return result

    def _score(
        self,
        rule: MemoryRule,
        position: int,
        strategy: PrioritizationStrategy,
        cost: int,
        usage: Mapping[str, tuple[int, datetime | None]],
        adjustments: Mapping[str, float],
        now: datetime,
    ) -> RulePriorityScore:
        S = PrioritizationStrategy
        adj = adjustments.get(rule.id, 0.0)
        authority = 1.0 if rule.authority is AuthorityLevel.ABSOLUTE else 0.5
        priority = rule_priority(rule) / 100.0
        uses, last_used = usage.get(rule.id, (0, None))
        frequency = math.log1p(uses) / 10.0
        divisor = max(1, cost)
        components: dict[str, float]

        if strategy is S.IMPORTANCE:
            total = 0.7 * authority + 0.3 * priority + adj
            components = {"authority": authority, "priority": priority, "adjustment": adj}
        elif strategy is S.FREQUENCY:
            total = frequency + adj
            components = {"frequency": frequency, "adjustment": adj}
        elif strategy is S.COST_BENEFIT:
            base = 0.6 * authority + 0.2 * priority + 0.2 * frequency
            total = base / divisor + adj
            components = {"base_value": base, "cost_benefit": base / divisor, "adjustment": adj}
        elif strategy is S.RECENCY:
            age = _age_days(rule, now)
            recency = math.exp(-age / RECENCY_TIME_CONSTANT_DAYS)
            total = recency + adj
            components = {"recency": recency, "age_days": age, "adjustment": adj}
        else:  # HYBRID, ADAPTIVE
            base = 0.6 * authority + 0.2 * priority + 0.2 * frequency
            age = _age_days(rule, now)
            recency = math.exp(-age / RECENCY_TIME_CONSTANT_DAYS)
            importance_total = 0.7 * authority + 0.3 * priority + adj
            weighted_importance = self._importance_weight * importance_total
            weighted_frequency = self._frequency_weight * frequency
            weighted_recency = self._recency_weight * recency
            total = weighted_importance + weighted_frequency + weighted_recency
            components = {
                "authority": authority,
                "priority": priority,
                "adjustment": adj,
                "frequency": frequency,
                "base_value": base,
                "cost_benefit": base / divisor,
                "recency": recency,
                "age_days": age,
                "weighted_importance": weighted_importance,
                "weighted_frequency": weighted_frequency,
                "weighted_recency": weighted_recency,
            }
            if strategy is S.ADAPTIVE:
                total += 2.0 * adj
                components["adaptive_adjustment"] = 2.0 * adj

        if strategy is S.COST_BENEFIT:
            value_per_token = components["base_value"] / divisor
        else:
            value_per_token = total / divisor
        uses_known = strategy in _USES_FREQUENCY
        return RulePriorityScore(
            rule_id=rule.id,
            rule=rule,
            total_score=total,
            component_scores=components,
            token_cost=cost,
            value_per_token=value_per_token,
            usage_count=uses if uses_known else 0,
            last_used=last_used if uses_known else None,
            metadata={"position": position},
        )


def _age_days(rule: MemoryRule, now: datetime) -> float:
    """Days from ``updated_at`` (else ``created_at``) to ``now``, floored at 0; naive times read as UTC."""
    stamp = rule.updated_at if rule.updated_at is not None else rule.created_at
    if stamp is None:
        return 0.0
    return max(0.0, (now - as_utc(stamp)).total_seconds() / _SECONDS_PER_DAY)


def _statistics(strategy: PrioritizationStrategy, scores: Sequence[RulePriorityScore]) -> dict[str, Any]:
    if not scores:
        return {"strategy": strategy.value, "total_rules": 0}
    totals = [s.total_score for s in scores]
    costs = [s.token_cost for s in scores]
    count = len(scores)
    return {
        "strategy": strategy.value,
        "total_rules": count,
        "score_mean": statistics.fmean(totals),
        "score_median": float(statistics.median(totals)),
        "score_stdev": statistics.stdev(totals) if count > 1 else 0.0,
        "score_min": min(totals),
        "score_max": max(totals),
        "token_cost_total": sum(costs),
        "token_cost_mean": sum(costs) / count,
        "value_per_token_mean": statistics.fmean(s.value_per_token for s in scores),
        "high_priority_count": sum(1 for t in totals if t > HIGH_PRIORITY_THRESHOLD),
        "medium_priority_count": sum(
            1 for t in totals if LOW_PRIORITY_THRESHOLD <= t <= HIGH_PRIORITY_THRESHOLD
        ),
        "low_priority_count": sum(1 for t in totals if t < LOW_PRIORITY_THRESHOLD),
    }
