"""FormatManager: the adapters by tool name, budgets from the configuration."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from ..counting.counter import Counter
from ..errors import UnknownModelError
from ..models.registry import resolve_model
from ..operations import OperationType
from ..rules.model import MemoryRule
from .base import FormattedContext, LLMToolAdapter, check_budget
from .claude_code import ClaudeCodeAdapter
from .codex import GitHubCodexAdapter
from .gemini import GoogleGeminiAdapter

logger = logging.getLogger("ctxbudget.formatters")


class BudgetLookup(Protocol):
    """What the manager needs from a budget configuration (``BudgetConfigManager``)."""

    def get_budget(self, tool_name: str, operation_type: Any = None) -> int: ...


def _key(name: str) -> str:
    if not isinstance(name, str):
        raise TypeError(f"tool name must be str, not {type(name).__name__}")
    return name.strip().lower()


class FormatManager:
    """Adapters registered under ``"claude"``, ``"codex"`` and ``"gemini"``; names are case-insensitive."""

    def __init__(self, config: BudgetLookup | None = None) -> None:
        self.config = config
        self._adapters: dict[str, LLMToolAdapter] = {
            "claude": ClaudeCodeAdapter(),
            "codex": GitHubCodexAdapter(),
            "gemini": GoogleGeminiAdapter(),
        }

    def register_adapter(self, name: str, adapter: LLMToolAdapter) -> None:
        """Serve ``name`` with ``adapter`` (replaces any adapter registered under that name)."""
        if not isinstance(adapter, LLMToolAdapter):
            raise TypeError(f"adapter must be an LLMToolAdapter, got {type(adapter).__name__}")
        key = _key(name)
        if not key:
            raise ValueError("tool name must not be empty")
        self._adapters[key] = adapter

    def get_adapter(self, name: str) -> LLMToolAdapter | None:
        return self._adapters.get(_key(name))

    def list_supported_tools(self) -> list[str]:
        return sorted(self._adapters)

    def _adapter_for_model(self, model: str) -> tuple[LLMToolAdapter, str]:
        try:
            spec = resolve_model(model)
        except UnknownModelError:
            raise ValueError(f"No adapter registered for tool: {model}") from None
        base = self._adapters.get(spec.agent)
        if base is None:
            raise ValueError(f"No adapter registered for tool: {model} (nor for its agent {spec.agent!r})")
        return type(base)(max_context_tokens=base.max_context_tokens, counter=Counter.for_model(model)), spec.budget_key

    def format_for_tool(
        self, tool: str, rules: Sequence[MemoryRule], budget: int | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> FormattedContext:
        """Render ``rules`` for ``tool``; ``budget=None`` → the config's ``context_injection`` budget for the tool
        (the budget ``fit`` and ``ctxbudget check`` use too).

        ``tool`` is an adapter's name, or a model id the registry knows: then the adapter of the model's agent
        renders, counted with the model's own tokenizer, under its budget key (``gpt-4``: the Codex layout,
        cl100k, the ``codex`` budgets). Sets ``metadata["valid"]`` from the adapter's ``validate_format`` and
        logs a warning when it is False.
        """
        key = _key(tool)
        adapter = self._adapters.get(key)
        if adapter is None:
            adapter, key = self._adapter_for_model(tool)
        if budget is None:
            if self.config is None:
                raise ValueError(f"No budget given for tool {tool!r} and no budget configuration to resolve it from")
            configured = self.config.get_budget(key, OperationType.CONTEXT_INJECTION)
            budget = check_budget(configured, f"configured budget for {key!r}")
        ctx = adapter.format_rules(rules, budget, options)
        valid = bool(adapter.validate_format(ctx))
        ctx.metadata["valid"] = valid
        if not valid:
            logger.warning(
                "formatted context for %r failed validation (%d tokens, budget %d, max_context_tokens %d, "
                "over_budget=%s)", key, ctx.token_count, budget, adapter.max_context_tokens,
                ctx.metadata.get("over_budget"),
            )
        return ctx
