"""ctxbudget: token counts with provenance, a fast count cache, and token budgets for LLM context.

Re-exports only: every public name is importable as ``from ctxbudget import ...``. The counting core is
imported eagerly; the rest (rules, budgets, formatters, config, usage, warnings) is loaded on first
access, so ``import ctxbudget`` stays cheap for the CLI and never imports transformers/torch.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

from ._util import utilization_pct
from ._version import __version__
from .cache import CacheStatistics, TokenCountCache
from .counting.counter import Counter, TokenCount, TokenCounter, backend_for
from .counting.metrics import PerformanceMetrics
from .counting.truncate import TruncateResult, fits, truncate
from .errors import (
    BudgetNotConfiguredError,
    ConfigError,
    CtxBudgetError,
    TokenizerLoadError,
    UnknownModelError,
)
from .models.claude_ids import ClaudeModel
from .models.registry import MODEL_MAPPINGS, ModelSpec, resolve_model, set_claude_model
from .tokenizers.base import TokenizerBackend, TokenizerType
from .tokenizers.factory import TokenizerFactory

_LAZY = {
    ".rules": ("AuthorityLevel", "MemoryCategory", "MemoryRule", "rule_cost_text", "rule_priority"),
    ".rules.loaders": ("RulesFileError", "load_document", "load_rules"),
    ".rules.markdown": ("MarkdownDocument", "parse_markdown", "rules_from_markdown"),
    ".budget": ("AllocationStrategy", "BudgetAllocation", "CompressionStrategy", "TokenBudgetManager"),
    ".budget.prioritizer": ("PrioritizationResult", "PrioritizationStrategy", "RulePrioritizer", "RulePriorityScore"),
    ".formatters": ("ClaudeCodeAdapter", "FormatManager", "FormatType", "FormattedContext", "GitHubCodexAdapter",
                    "GoogleGeminiAdapter", "LLMToolAdapter", "ToolCapabilities"),
    ".fitting": ("FitResult", "fit"),
    ".config": ("BudgetConfig", "BudgetConfigManager", "BudgetScope"),
    ".operations": ("OperationType",),
    ".tracking.usage": ("GlobalUsageTracker", "OperationUsage", "SQLiteUsageStore", "SessionUsageSnapshot",
                        "TokenUsageTracker", "ToolUsageStats"),
    ".tracking.warnings": ("BudgetThreshold", "BudgetWarningSystem", "ThrottleConfig", "WarningEvent",
                           "WarningLevel", "exit_code_for"),
    ".tracking.claude_session": ("ClaudeBudgetAllocation", "ClaudeBudgetManager", "SessionUsageStats"),
    ".trimmer": ("BudgetVisualization", "InteractiveTrimmer", "RuleDisplay", "TrimDecision", "TrimDecisionType",
                 "TrimSession"),
}
_LAZY_NAMES = {name: module for module, names in _LAZY.items() for name in names}


def __getattr__(name: str) -> Any:
    module = _LAZY_NAMES.get(name)
    if module is None:
        raise AttributeError(f"module 'ctxbudget' has no attribute {name!r}")
    value = getattr(import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY_NAMES))


if TYPE_CHECKING:  # pragma: no cover - static view of the lazy names
    from .budget import AllocationStrategy, BudgetAllocation, CompressionStrategy, TokenBudgetManager
    from .budget.prioritizer import PrioritizationResult, PrioritizationStrategy, RulePrioritizer, RulePriorityScore
    from .config import BudgetConfig, BudgetConfigManager, BudgetScope
    from .fitting import FitResult, fit
    from .formatters import (
        ClaudeCodeAdapter,
        FormatManager,
        FormattedContext,
        FormatType,
        GitHubCodexAdapter,
        GoogleGeminiAdapter,
        LLMToolAdapter,
        ToolCapabilities,
    )
    from .operations import OperationType
    from .rules import AuthorityLevel, MemoryCategory, MemoryRule, rule_cost_text, rule_priority
    from .rules.loaders import RulesFileError, load_document, load_rules
    from .rules.markdown import MarkdownDocument, parse_markdown, rules_from_markdown
    from .tracking.claude_session import ClaudeBudgetAllocation, ClaudeBudgetManager, SessionUsageStats
    from .tracking.usage import (
        GlobalUsageTracker,
        OperationUsage,
        SessionUsageSnapshot,
        SQLiteUsageStore,
        TokenUsageTracker,
        ToolUsageStats,
    )
    from .tracking.warnings import (
        BudgetThreshold,
        BudgetWarningSystem,
        ThrottleConfig,
        WarningEvent,
        WarningLevel,
        exit_code_for,
    )
    from .trimmer import (
        BudgetVisualization,
        InteractiveTrimmer,
        RuleDisplay,
        TrimDecision,
        TrimDecisionType,
        TrimSession,
    )

__all__ = [
    "MODEL_MAPPINGS", "BudgetNotConfiguredError", "CacheStatistics", "ClaudeModel", "ConfigError", "Counter",
    "CtxBudgetError", "ModelSpec", "PerformanceMetrics", "TokenCount", "TokenCountCache", "TokenCounter",
    "TokenizerBackend", "TokenizerFactory", "TokenizerLoadError", "TokenizerType", "TruncateResult",
    "UnknownModelError", "__version__", "backend_for", "fits", "resolve_model", "set_claude_model", "truncate",
    "utilization_pct", *sorted(_LAZY_NAMES),
]
