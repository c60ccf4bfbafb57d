"""The import contract: every documented public name comes from the top-level package."""

from __future__ import annotations

import subprocess
import sys

import pytest

import ctxbudget

SPEC_NAMES = """
TokenizerType TokenizerBackend TokenizerFactory resolve_model ModelSpec CacheStatistics TokenCountCache TokenCount
PerformanceMetrics TokenCounter AllocationStrategy CompressionStrategy BudgetAllocation TokenBudgetManager ClaudeModel
SessionUsageStats ClaudeBudgetAllocation ClaudeBudgetManager OperationType OperationUsage ToolUsageStats
SessionUsageSnapshot TokenUsageTracker GlobalUsageTracker WarningLevel BudgetThreshold WarningEvent ThrottleConfig
BudgetWarningSystem PrioritizationStrategy RulePriorityScore PrioritizationResult RulePrioritizer BudgetScope
BudgetConfig BudgetConfigManager FormatType ToolCapabilities FormattedContext LLMToolAdapter ClaudeCodeAdapter
GitHubCodexAdapter GoogleGeminiAdapter FormatManager MemoryCategory AuthorityLevel MemoryRule rule_priority
rule_cost_text utilization_pct CtxBudgetError TokenizerLoadError UnknownModelError ConfigError
BudgetNotConfiguredError
""".split()


def test_every_spec_name_and_every_exported_name_imports() -> None:
    assert set(SPEC_NAMES) <= set(ctxbudget.__all__)
    missing = [name for name in ctxbudget.__all__ if getattr(ctxbudget, name, None) is None]
    assert missing == []
    assert sorted(set(ctxbudget.__all__)) == sorted(ctxbudget.__all__)  # no duplicates


def test_lazy_names_load_on_first_use_only() -> None:
    code = (
        "import sys, ctxbudget; before = 'ctxbudget.formatters' in sys.modules;"
        "from ctxbudget import FormatManager; print(before, 'ctxbudget.formatters' in sys.modules,"
        " 'yaml' in sys.modules or 'ctxbudget.config' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "True", "False"]


def test_unknown_attribute_raises_attribute_error() -> None:
    with pytest.raises(AttributeError, match="NoSuchThing"):
        ctxbudget.NoSuchThing  # type: ignore[attr-defined]  # noqa: B018


def test_no_exported_name_is_shadowed_by_a_submodule_of_the_same_name() -> None:
    """``from ctxbudget import fit`` gave the module ``ctxbudget.fit`` once anything had imported it (the trimmer
    does): importing a submodule sets the package attribute of its name. The module is now ``fitting``."""
    code = (
        "import importlib, pkgutil, types, ctxbudget\n"
        "for info in pkgutil.walk_packages(ctxbudget.__path__, 'ctxbudget.'):\n"
        "    if not info.name.endswith(('__main__', '.tui')):\n"
        "        importlib.import_module(info.name)\n"
        "from ctxbudget import fit\n"
        "print(callable(fit), [n for n in ctxbudget.__all__ if isinstance(getattr(ctxbudget, n), types.ModuleType)])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "True []"
