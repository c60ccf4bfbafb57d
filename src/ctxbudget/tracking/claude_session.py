"""Claude session budgets: model limits, cumulative spend across requests, threshold warnings."""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from .._clock import utcnow
from .._util import utilization_pct
from ..budget import AllocationStrategy, BudgetAllocation, CompressionStrategy, TokenBudgetManager
from ..counting.counter import TokenCounter
from ..models.claude_ids import ClaudeModel, parse_claude_id
from ..models.registry import CLAUDE_ENV_VARS, resolve_model
from ..rules.model import MemoryRule
from .warnings import BudgetThreshold, BudgetWarningSystem, ThrottleConfig, WarningLevel

_session_numbers = itertools.count(1)


@dataclass
class SessionUsageStats:
    session_id: str
    model: ClaudeModel
    total_tokens_used: int = 0
    total_context_tokens: int = 0
    total_user_tokens: int = 0
    interaction_count: int = 0
    started_at: datetime = field(default_factory=utcnow)
    last_interaction_at: datetime = field(default_factory=utcnow)
    budget_limit: int = 200000
    warnings_triggered: list[int] = field(default_factory=list)

    def utilization_percentage(self) -> float:
        return utilization_pct(self.total_tokens_used, self.budget_limit)

    def tokens_remaining(self) -> int:
        return self.budget_limit - self.total_tokens_used

    def is_over_budget(self) -> bool:
        return self.total_tokens_used > self.budget_limit


@dataclass
class ClaudeBudgetAllocation:
    base_allocation: BudgetAllocation
    session_stats: SessionUsageStats
    context_overhead_tokens: int
    model: ClaudeModel
    warning_level: int | None = None

    @property
    def total_budget(self) -> int:
        return self.base_allocation.total_budget

    @property
    def rules_included(self) -> list[MemoryRule]:
        return self.base_allocation.rules_included

    @property
    def rules_skipped(self) -> list[MemoryRule]:
        return self.base_allocation.rules_skipped


def _session_id(now: datetime) -> str:
    return f"claude_session_{now.strftime('%Y%m%d_%H%M%S_%f')}_{next(_session_numbers)}"


class ClaudeBudgetManager:
    """Allocates rules request by request within one Claude session's budget and context window."""

    WARNING_THRESHOLDS: ClassVar[list[int]] = [80, 90, 95]  # the reference behaviour

    def __init__(
        self,
        model: ClaudeModel | str = ClaudeModel.DEFAULT,
        session_id: str | None = None,
        allocation_strategy: AllocationStrategy = AllocationStrategy.PRIORITY_BASED,
        compression_strategy: CompressionStrategy = CompressionStrategy.NONE,
        absolute_rules_protected: bool = True,
        overhead_percentage: float = 0.05,
        custom_budget_limit: int | None = None,
        context_window: int | None = None,
        warning_thresholds: Sequence[int] = (80, 90, 95),
        *,
        now: Callable[[], datetime] = utcnow,
    ) -> None:
        self.model = model if isinstance(model, ClaudeModel) else ClaudeModel.from_model_id(model)
        #: what the registry counts for: the model given (an unlisted but well-formed id keeps its own
        #: tokenizer generation), or the ``claude`` tool — the model in use — for DEFAULT
        self.count_as = self.model.model_id if self.model is not ClaudeModel.DEFAULT else "claude"
        if isinstance(model, str) and self.model is ClaudeModel.DEFAULT and parse_claude_id(model) is not None:
            self.count_as = model
        for name, value in (("custom_budget_limit", custom_budget_limit), ("context_window", context_window)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
                raise ValueError(f"{name} must be an int >= 0, got {value!r}")
        thresholds = sorted(warning_thresholds)
        if len(thresholds) != 3:
            raise ValueError(f"warning_thresholds needs three values (info, warning, critical), got {thresholds}")
        self._now = now
        self.budget_limit = self.model.token_limit if custom_budget_limit is None else custom_budget_limit
        # the model's real input window (1M for Opus/Sonnet 4.6+), not the 200k budget default
        default_window = resolve_model(self.count_as).context_window
        self.context_window = default_window if context_window is None else context_window
        self.warning_thresholds = thresholds
        self._manager = TokenBudgetManager(
            allocation_strategy=allocation_strategy, compression_strategy=compression_strategy,
            absolute_rules_protected=absolute_rules_protected, overhead_percentage=overhead_percentage,
        )
        self._lock = threading.RLock()
        self.session_stats = self._new_stats(session_id)
        self._warnings = self._new_warning_system()

    def _new_stats(self, session_id: str | None) -> SessionUsageStats:
        at = self._now()
        return SessionUsageStats(session_id or _session_id(at), self.model, started_at=at, last_interaction_at=at,
                                 budget_limit=self.budget_limit)

    def _new_warning_system(self) -> BudgetWarningSystem:
        levels = (WarningLevel.INFO, WarningLevel.WARNING, WarningLevel.CRITICAL)
        return BudgetWarningSystem(
            thresholds=[BudgetThreshold(level, float(p)) for level, p in zip(levels, self.warning_thresholds,
                                                                                strict=True)],
            throttle_config=ThrottleConfig(enabled=False), now=self._now,
        )

    @property
    def warning_system(self) -> BudgetWarningSystem:
        return self._warnings

    def allocate_budget(
        self, rules: Sequence[MemoryRule], user_query_tokens: int = 0, user_query: str | None = None
    ) -> ClaudeBudgetAllocation:
        if isinstance(user_query_tokens, bool) or not isinstance(user_query_tokens, int) or user_query_tokens < 0:
            raise ValueError(f"user_query_tokens must be an int >= 0, got {user_query_tokens!r}")
        if user_query_tokens > 0:
            query_tokens = user_query_tokens
        elif user_query is not None:
            query_tokens = TokenCounter.count_tokens(user_query, self.count_as)
        else:
            query_tokens = 0
        with self._lock:
            stats = self.session_stats
            room = min(self.context_window, self.budget_limit - stats.total_tokens_used)
            available = max(0, room - query_tokens)
            base = self._manager.allocate_budget(rules, available, self.count_as)
            overhead = base.overhead_tokens if base.rules_included else 0
            context = base.absolute_tokens + base.default_tokens + overhead
            stats.total_tokens_used += context + query_tokens
            stats.total_context_tokens += context
            stats.total_user_tokens += query_tokens
            stats.interaction_count += 1
            stats.last_interaction_at = self._now()
            crossed = [t for t in self.warning_thresholds
                       if stats.utilization_percentage() >= t and t not in stats.warnings_triggered]
            stats.warnings_triggered.extend(crossed)
            level = max((t for t in self.warning_thresholds if stats.utilization_percentage() >= t), default=None)
        if crossed:
            self._warnings.check_claude_budget_manager(self)  # logs each newly crossed threshold once
        return ClaudeBudgetAllocation(base, stats, overhead, self.model, level)

    def reset_session(self, new_session_id: str | None = None) -> None:
        """A new session with the same model and limit; spend and threshold state start over."""
        with self._lock:
            self.session_stats = self._new_stats(new_session_id)
        self._warnings.clear_history()  # re-arms every threshold; registered callbacks stay

    def get_session_report(self) -> dict[str, Any]:
        with self._lock:
            s = self.session_stats
            return {
                "session_id": s.session_id, "model": self.model.model_id, "budget_limit": s.budget_limit,
                "tokens_used": s.total_tokens_used, "context_tokens": s.total_context_tokens,
                "user_tokens": s.total_user_tokens, "tokens_remaining": s.tokens_remaining(),
                "utilization_percentage": s.utilization_percentage(), "interaction_count": s.interaction_count,
                "started_at": s.started_at.isoformat(), "last_interaction_at": s.last_interaction_at.isoformat(),
                "warnings_triggered": list(s.warnings_triggered), "is_over_budget": s.is_over_budget(),
                "average_tokens_per_interaction": (s.total_tokens_used / s.interaction_count
                                                   if s.interaction_count else 0.0),
            }

    @staticmethod
    def detect_model_from_environment() -> ClaudeModel:
        for var in CLAUDE_ENV_VARS:
            value = os.environ.get(var, "").strip()
            if value:
                return ClaudeModel.from_model_id(value)
        return ClaudeModel.DEFAULT
