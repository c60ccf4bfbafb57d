"""TokenBudgetManager: fit ABSOLUTE and DEFAULT rules into a token budget.

Every rule is costed once per pass with one batch count of ``rule_cost_text``, by the manager's ``Counter``
when it was given one, else by the counter the model registry names for the ``tool_name`` of the call (on
the manager's cache). Selection works on input positions, so duplicate rules each count and nothing depends
on rule equality. The rules of selection, compression and the statistics are documented in
``docs/allocation.md``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol

from ..cache.memory import TokenCountCache
from ..counting.counter import Counter, TokenCounter
from ..models.registry import budget_key
from ..rules.model import AuthorityLevel, MemoryRule, ranked_positions, rule_cost_text
from .compression import CompressionStrategy, shorten, simplify
from .strategies import AllocationStrategy, fill, select_equal, select_priority, select_round_robin


class BudgetSource(Protocol):
    """What the manager needs from a budget configuration (``BudgetConfigManager``)."""

    def get_budget(self, tool_name: str | None = None, operation_type: Any = None) -> int: ...

    def validate_budget(self, budget: int, tool_name: str | None = None) -> bool: ...


@dataclass
class BudgetAllocation:
    total_budget: int
    absolute_tokens: int
    default_tokens: int
    overhead_tokens: int
    rules_included: list[MemoryRule]
    rules_skipped: list[MemoryRule]
    compression_applied: bool
    allocation_stats: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Selection:
    absolute: list[int]
    absolute_skipped: list[int]
    defaults: list[int]
    costs: list[int]
    rules: list[MemoryRule]
    over_budget: bool

    @property
    def absolute_tokens(self) -> int:
        return sum(self.costs[i] for i in self.absolute)

    @property
    def default_tokens(self) -> int:
        return sum(self.costs[i] for i in self.defaults)

    @property
    def included(self) -> int:
        return len(self.absolute) + len(self.defaults)


def overhead_for(total_budget: int, percentage: float) -> int:
    """``floor(total × percentage)`` in decimal arithmetic (10 % of 1000 is 100, 0.57 × 100 is 57)."""
    return math.floor(Decimal(total_budget) * Decimal(str(percentage)))


class TokenBudgetManager:
    def __init__(
        self,
        allocation_strategy: AllocationStrategy = AllocationStrategy.PRIORITY_BASED,
        compression_strategy: CompressionStrategy = CompressionStrategy.NONE,
        absolute_rules_protected: bool = True,
        overhead_percentage: float = 0.05,
        use_accurate_counting: bool = True,
        enable_cache: bool = True,
        cache_maxsize: int = 1000,
        cache_ttl: float = 300.0,
        config: BudgetSource | None = None,
        *,
        counter: Counter | None = None,
    ) -> None:
        if isinstance(overhead_percentage, bool) or not isinstance(overhead_percentage, (int, float)) or not (
            0 <= overhead_percentage < 1
        ):
            raise ValueError(f"overhead_percentage must be in [0, 1), got {overhead_percentage!r}")
        self.allocation_strategy = AllocationStrategy(allocation_strategy)
        self.compression_strategy = CompressionStrategy(compression_strategy)
        self.absolute_rules_protected = absolute_rules_protected
        self.overhead_percentage = overhead_percentage
        self.use_accurate_counting = use_accurate_counting
        self.config = config
        #: counts every rule when given; else each call counts with the registry's counter for its tool_name
        self.counter = counter
        self.cache = counter.cache if counter is not None else self._choose_cache(enable_cache, cache_maxsize,
                                                                                   cache_ttl)

    @staticmethod
    def _choose_cache(enable: bool, maxsize: int, ttl: float) -> TokenCountCache | None:
        """No cache when disabled; else the process-wide one if it has our size and TTL, else a private one — a
        manager never silently inherits another's size or TTL, and building one changes no global state."""
        if not enable:
            return None
        shared = TokenCounter.get_cache()
        if shared is not None and shared.maxsize == maxsize and shared.ttl == float(ttl):
            return shared
        return TokenCountCache(maxsize=maxsize, ttl=ttl)

    # --- costing -----------------------------------------------------------------------------------------
    def counter_for(self, tool_name: str) -> Counter:
        """The counter this manager costs ``tool_name``'s rules with (see the module docstring)."""
        if self.counter is not None:
            return self.counter
        return Counter.for_model(tool_name, self.cache, use_tokenizer=self.use_accurate_counting,
                                 recorder=TokenCounter._recorder)

    @staticmethod
    def _cost(counter: Counter, rules: Sequence[MemoryRule]) -> list[int]:
        return counter.count_batch([rule_cost_text(r) for r in rules])

    def _resolve_budget(self, total_budget: int | None, tool_name: str, operation_type: Any) -> int:
        """An explicit budget, checked against the config; else the config's budget for the tool — for a model
        id, the budget of the tool the registry names for it (``gpt-4`` → ``codex``)."""
        key = budget_key(tool_name)
        if total_budget is None:
            if self.config is None:
                raise ValueError("total_budget is None and the manager has no budget config")
            return int(self.config.get_budget(key, operation_type))
        if isinstance(total_budget, bool) or not isinstance(total_budget, int) or total_budget < 0:
            raise ValueError(f"total_budget must be an int >= 0, got {total_budget!r}")
        if self.config is not None and not self.config.validate_budget(total_budget, key):
            raise ValueError(f"total_budget {total_budget} is outside the configured limits for {tool_name!r}")
        return total_budget

    # --- selection ---------------------------------------------------------------------------------------
    def _select(self, rules: list[MemoryRule], costs: list[int], available: int, ranked: list[int]) -> _Selection:
        is_absolute = [r.authority is AuthorityLevel.ABSOLUTE for r in rules]
        absolute_ranked = [i for i in ranked if is_absolute[i]]
        if self.absolute_rules_protected:
            absolute = sorted(absolute_ranked)
            absolute_skipped: list[int] = []
        else:
            absolute = fill(absolute_ranked, costs, available, set())[0]
            chosen = set(absolute)
            absolute_skipped = [i for i in absolute_ranked if i not in chosen]
        absolute_tokens = sum(costs[i] for i in absolute)
        over = self.absolute_rules_protected and absolute_tokens > available
        remaining = max(0, available - absolute_tokens)
        default_ranked = [i for i in ranked if not is_absolute[i]]
        strategy = self.allocation_strategy
        if over:
            defaults: list[int] = []
        elif strategy is AllocationStrategy.ROUND_ROBIN:
            categories = [r.category for r in rules]
            defaults = select_round_robin(default_ranked, categories, costs, remaining)
        elif strategy is AllocationStrategy.EQUAL:
            defaults = select_equal(default_ranked, costs, remaining)
        else:
            defaults = select_priority(default_ranked, costs, remaining)
        return _Selection(absolute, absolute_skipped, defaults, costs, list(rules), over)

    def _compressed(
        self, rules: list[MemoryRule], available: int, ranked: list[int], counter: Counter
    ) -> tuple[_Selection, list[dict[str, Any]]]:
        """Selection over SIMPLE copies, then (INTELLIGENT) shortened copies of rules still left out."""
        simple = [simplify(r) for r in rules]
        costs = self._cost(counter, simple)
        selection = self._select(simple, costs, available, ranked)
        if self.compression_strategy is CompressionStrategy.INTELLIGENT and not selection.over_budget:
            left = available - selection.absolute_tokens - selection.default_tokens
            chosen = set(selection.defaults)
            for i in ranked:
                if left <= 0:
                    break
                if simple[i].is_absolute or i in chosen:
                    continue
                found = shorten(simple[i], left, lambda cands: self._cost(counter, cands))
                if found is not None:
                    simple[i] = selection.rules[i] = found[0]
                    costs[i] = found[1]
                    selection.defaults.append(i)
                    left -= found[1]
        changed = [
            {"index": i, "id": rules[i].id, "mode": str((simple[i].metadata or {}).get("compressed")),
             "tokens": costs[i]}
            for i in (*selection.absolute, *selection.defaults)
            if simple[i] is not rules[i]
        ]
        return selection, changed

    def allocate_budget(
        self, rules: Sequence[MemoryRule], total_budget: int | None, tool_name: str, operation_type: Any = None
    ) -> BudgetAllocation:
        budget = self._resolve_budget(total_budget, tool_name, operation_type)
        counter = self.counter_for(tool_name)
        items = list(rules)
        costs = self._cost(counter, items)
        overhead = overhead_for(budget, self.overhead_percentage)
        available = budget - overhead
        ranked = ranked_positions(items)
        selection = self._select(items, costs, available, ranked)
        compressed: list[dict[str, Any]] = []
        skipped_any = selection.included < len(items)
        if self.compression_strategy is not CompressionStrategy.NONE and (skipped_any or selection.over_budget):
            candidate, changed = self._compressed(items, available, ranked, counter)
            better = candidate.included > selection.included or (
                selection.over_budget and candidate.absolute_tokens < selection.absolute_tokens
            )
            if better and changed:
                selection, compressed = candidate, changed
        return self._allocation(items, selection, budget, overhead, available, compressed, counter)

    def _allocation(
        self, items: list[MemoryRule], sel: _Selection, budget: int, overhead: int, available: int,
        compressed: list[dict[str, Any]], counter: Counter,
    ) -> BudgetAllocation:
        included_positions = [*sel.absolute, *sel.defaults]
        chosen = set(included_positions)
        skipped_positions = [i for i in range(len(items)) if i not in chosen]
        absolute_tokens, default_tokens = sel.absolute_tokens, sel.default_tokens
        backend = counter.backend
        stats: dict[str, Any] = {
            "over_budget": sel.over_budget,
            "overflow_tokens": max(0, absolute_tokens - available),
            "available_tokens": available,
            "absolute_count": len(sel.absolute),
            "absolute_skipped_count": len(sel.absolute_skipped),
            "default_count": len(sel.defaults),
            "skipped_count": len(skipped_positions),
            "strategy": self.allocation_strategy.value,
            "utilization": (absolute_tokens + default_tokens) / budget if budget else 0.0,
            "tokenizer_used": backend.tokenizer_type.value,
            "tokenizer_id": backend.tokenizer_id,
            "tokenizer_exact": bool(backend.exact),
            "compression": self.compression_strategy.value,
            "compressed_rules": compressed,
            "rule_tokens": list(sel.costs),
            "included_indices": included_positions,
            "skipped_indices": skipped_positions,
        }
        return BudgetAllocation(
            total_budget=budget,
            absolute_tokens=absolute_tokens,
            default_tokens=default_tokens,
            overhead_tokens=overhead,
            rules_included=[sel.rules[i] for i in included_positions],
            rules_skipped=[items[i] for i in skipped_positions],
            compression_applied=bool(compressed),
            allocation_stats=stats,
        )
