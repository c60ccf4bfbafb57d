"""``fit``: choose the rules that fit a model's budget and render them as that agent's context text.

The model registry names, for the model (or tool) given, the counter that counts for it, the agent format
that renders for it and the budget that applies. The allocator decides which rules win (authority, priority,
strategy); the agent's formatter then renders them and guarantees that the final text — headings, separators
and footer included — fits the budget, counted by that same counter. Rules the formatter had to leave out are
reported as skipped too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .budget import AllocationStrategy, BudgetAllocation, CompressionStrategy, TokenBudgetManager
from .counting.counter import Counter
from .formatters import ClaudeCodeAdapter, FormatManager, GitHubCodexAdapter, GoogleGeminiAdapter, LLMToolAdapter
from .models.registry import resolve_model
from .operations import OperationType
from .rules.model import MemoryRule

#: The adapter that renders for each agent the registry names.
ADAPTERS: dict[str, type[LLMToolAdapter]] = {
    "claude": ClaudeCodeAdapter, "codex": GitHubCodexAdapter, "gemini": GoogleGeminiAdapter,
}


@dataclass
class FitResult:
    """The rendered context and how it was obtained."""

    text: str
    tokens: int
    budget: int
    tool: str
    included: list[MemoryRule]
    skipped: list[MemoryRule]
    over_budget: bool
    provenance: dict[str, Any]
    allocation: BudgetAllocation
    metadata: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "tool": self.tool, "budget": self.budget, "tokens": self.tokens, "over_budget": self.over_budget,
            "included": [r.id for r in self.included], "skipped": [r.id for r in self.skipped],
            "provenance": dict(self.provenance), "allocation": {
                "absolute_tokens": self.allocation.absolute_tokens,
                "default_tokens": self.allocation.default_tokens,
                "compression_applied": self.allocation.compression_applied,
                "strategy": self.allocation.allocation_stats["strategy"],
            },
            "text": self.text,
        }


def fit(
    rules: Sequence[MemoryRule],
    model: str = "claude",
    budget: int | None = None,
    *,
    strategy: AllocationStrategy | str = AllocationStrategy.PRIORITY_BASED,
    compression: CompressionStrategy | str = CompressionStrategy.NONE,
    config: Any = None,
    options: Mapping[str, Any] | None = None,
    counter: Counter | None = None,
) -> FitResult:
    """Fit ``rules`` into ``budget`` tokens for ``model`` (a model id or tool name) and render them.

    ``budget=None`` takes the ``context_injection`` budget of the model's budget key from ``config`` (a
    ``BudgetConfigManager``; the built-in defaults when None) — the same budget ``ctxbudget check`` gates on.
    ``counter`` defaults to the registry's counter for ``model`` on the process-wide cache; the result's
    ``tool`` is the agent whose format was rendered. Unknown models raise ``UnknownModelError``.
    """
    spec = resolve_model(model)
    counter = counter if counter is not None else Counter.for_model(model)
    if budget is None:
        if config is None:
            from .config import BudgetConfigManager

            config = BudgetConfigManager()
        budget = int(config.get_budget(spec.budget_key, OperationType.CONTEXT_INJECTION))
    manager = TokenBudgetManager(allocation_strategy=AllocationStrategy(strategy),
                                 compression_strategy=CompressionStrategy(compression), overhead_percentage=0.0,
                                 counter=counter)
    allocation = manager.allocate_budget(rules, budget, model)
    adapter_type = ADAPTERS[spec.agent]
    # an explicit budget above the adapter's default injection size raises it: the caller asked for that much
    adapter = adapter_type(max_context_tokens=max(budget, adapter_type.DEFAULT_MAX_CONTEXT_TOKENS), counter=counter)
    formats = FormatManager()
    formats.register_adapter(spec.agent, adapter)
    formatted = formats.format_for_tool(spec.agent, allocation.rules_included, budget,
                                        dict(options) if options else None)
    return FitResult(
        text=formatted.content, tokens=formatted.token_count, budget=budget, tool=spec.agent,
        included=list(formatted.rules_included), skipped=[*allocation.rules_skipped, *formatted.rules_skipped],
        over_budget=bool(formatted.metadata.get("over_budget")), provenance=counter.provenance(),
        allocation=allocation, metadata=dict(formatted.metadata),
    )
