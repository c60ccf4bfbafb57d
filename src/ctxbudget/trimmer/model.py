"""The trimmer's records: what was decided for each rule, the session they make up, and the views a screen
shows (the budget, one row per rule)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any, Literal

from .._clock import utcnow
from ..budget.prioritizer import PrioritizationStrategy, RulePriorityScore
from ..rules.model import MemoryRule

#: how a decision was made: by the suggestion (or the initial state), or by the user
DecisionKind = Literal["automatic", "manual"]
DECISION_KINDS: tuple[DecisionKind, ...] = ("automatic", "manual")


class TrimDecisionType(str, Enum):
    INCLUDE = "include"
    EXCLUDE = "exclude"
    AUTOMATIC = "automatic"
    MANUAL = "manual"


@dataclass(frozen=True)
class TrimDecision:
    """The latest decision about one rule: ``decision`` is INCLUDE or EXCLUDE. Frozen: the trimmer hands its
    decisions out without copying them."""

    rule_id: str
    decision: TrimDecisionType
    decision_type: DecisionKind
    reason: str
    timestamp: datetime = field(default_factory=utcnow)

    @property
    def included(self) -> bool:
        return self.decision is TrimDecisionType.INCLUDE


@dataclass
class TrimSession:
    """A saved trimming session (``InteractiveTrimmer.save_session``)."""

    tool_name: str
    budget: int
    strategy: PrioritizationStrategy
    decisions: dict[str, TrimDecision] = field(default_factory=dict)
    total_tokens_used: int = 0
    rules_included: int = 0
    rules_excluded: int = 0
    created_at: datetime = field(default_factory=utcnow)
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class BudgetVisualization:
    """The budget as a screen shows it; ``remaining_tokens`` is negative when over budget."""

    total_budget: int
    used_tokens: int
    remaining_tokens: int
    utilization_pct: float
    over_budget: bool
    over_budget_amount: int
    rules_count: int
    included_count: int
    excluded_count: int
    protected_count: int


@dataclass
class RuleDisplay:
    """One row: the rule, its score, its state; ``display_index`` is 1-based in the order asked for."""

    rule: MemoryRule
    score: RulePriorityScore
    included: bool
    protected: bool
    auto_suggested: bool
    decision_type: TrimDecisionType
    display_index: int
