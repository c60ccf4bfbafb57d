"""``fit``: choose the rules that fit a model's budget and render them as that agent's context text.

The allocator decides which rules win (authority, priority, strategy); the agent's formatter then renders
them and guarantees that the final text — headings, separators and footer included — fits the budget,
counted with the tool's tokenizer. Rules the formatter had to leave out are reported as skipped too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .budget import AllocationStrategy, BudgetAllocation, CompressionStrategy, TokenBudgetManager
from .errors import UnknownModelError
from .formatters import FormatManager
from .models.registry import ANTHROPIC, GOOGLE, OPENAI, resolve_model
from .rules.model import MemoryRule
from .tokenizers.base import backend_kind
from .tokenizers.factory import resolve_route

_AGENT_TOOLS = {"claude": "claude", "codex": "codex", "gpt": "codex", "openai": "codex", "gemini": "gemini",
                "palm": "gemini"}
_PROVIDER_TOOLS = {ANTHROPIC: "claude", OPENAI: "codex", GOOGLE: "gemini"}


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


def tool_for_model(model: str) -> str:
    """The agent/tool whose format and tokenizer serve ``model`` (a tool name or a model id)."""
    name = model.strip().lower()
    if name in _AGENT_TOOLS:
        return _AGENT_TOOLS[name]
    spec = resolve_model(model)
    tool = _PROVIDER_TOOLS.get(spec.provider)
    if tool is None:  # pragma: no cover - every provider in the registry has an agent format
        raise UnknownModelError(f"No agent format for provider {spec.provider!r}")
    return tool


def fit(
    rules: Sequence[MemoryRule],
    model: str = "claude",
    budget: int | None = None,
    *,
    strategy: AllocationStrategy | str = AllocationStrategy.PRIORITY_BASED,
    compression: CompressionStrategy | str = CompressionStrategy.NONE,
    config: Any = None,
    options: Mapping[str, Any] | None = None,
) -> FitResult:
    """Fit ``rules`` into ``budget`` tokens for ``model`` and render them (see the module docstring).

    ``budget=None`` takes the tool's ``context_injection`` budget from ``config`` (a ``BudgetConfigManager``;
    default budgets when ``config`` is None) — the same budget ``ctxbudget check`` gates on.
    """
    tool = tool_for_model(model)
    if budget is None:
        if config is None:
            from .config import BudgetConfigManager

            config = BudgetConfigManager()
        budget = int(config.get_budget(tool, "context_injection"))
    manager = TokenBudgetManager(allocation_strategy=AllocationStrategy(strategy),
                                 compression_strategy=CompressionStrategy(compression), overhead_percentage=0.0)
    allocation = manager.allocate_budget(rules, budget, tool)
    formats = FormatManager()
    adapter = formats.get_adapter(tool)
    assert adapter is not None
    if budget > adapter.max_context_tokens:  # an explicit budget raises the adapter's default injection size
        formats.register_adapter(tool, type(adapter)(max_context_tokens=budget))
    formatted = formats.format_for_tool(tool, allocation.rules_included, budget, dict(options) if options else None)
    backend = resolve_route(tool, True).backend
    provenance = {"tokenizer_id": backend.tokenizer_id, "tokenizer_type": backend.tokenizer_type.value,
                  "exact": bool(backend.exact), "kind": backend_kind(backend)}
    return FitResult(
        text=formatted.content, tokens=formatted.token_count, budget=budget, tool=tool,
        included=list(formatted.rules_included), skipped=[*allocation.rules_skipped, *formatted.rules_skipped],
        over_budget=bool(formatted.metadata.get("over_budget")), provenance=provenance, allocation=allocation,
        metadata=dict(formatted.metadata),
    )
