"""fit(): the bundled example rules rendered for each agent at three budgets, byte for byte."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ctxbudget import TokenCounter, fit, load_rules, resolve_model

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = Path(__file__).resolve().parent / "golden" / "examples"
BUDGETS = (250, 450, 4000)


@pytest.mark.parametrize("tool", ["claude", "codex", "gemini"])
@pytest.mark.parametrize("budget", BUDGETS)
def test_example_rules_golden(tool: str, budget: int) -> None:
    rules = load_rules(ROOT / "examples" / "rules.yaml")
    result = fit(rules, tool, budget)
    golden = GOLDEN / f"{tool}_{budget}.txt"
    if os.environ.get("UPDATE_GOLDEN"):
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(result.text, encoding="utf-8", newline="")
    assert result.text == golden.read_text(encoding="utf-8")
    assert result.tokens == TokenCounter.count_tokens(result.text, tool) <= budget
    assert result.over_budget is False
    assert sorted(r.id for r in result.included + result.skipped) == sorted(r.id for r in rules)
    assert {r.id for r in rules if r.is_absolute} <= {r.id for r in result.included}


def test_tight_budget_reports_absolute_overflow() -> None:
    rules = load_rules(ROOT / "examples" / "rules.yaml")
    result = fit(rules, "codex", 60)
    assert result.over_budget is True
    assert sorted(r.id for r in result.included) == ["no-secrets", "reversible-migrations", "tests-first"]
    assert result.tokens > 60
    assert result.metadata["overflow_tokens"] == result.tokens - 60


def test_models_pick_their_agent() -> None:
    models = ("claude-sonnet-4-5", "gpt-5-codex", "gpt-4o", "gemini-2.5-pro", "CODEX")
    assert [resolve_model(m).agent for m in models] == ["claude", "codex", "codex", "gemini", "codex"]
    rules = load_rules(ROOT / "examples" / "rules.yaml")
    assert [fit(rules, m, 4000).tool for m in models] == ["claude", "codex", "codex", "gemini", "codex"]


def test_budget_from_default_config() -> None:
    rules = load_rules(ROOT / "examples" / "rules.yaml")
    assert fit(rules, "codex").budget == 2000  # the context_injection budget, as `check` uses


def test_large_explicit_budget_is_valid_for_codex() -> None:
    rules = load_rules(ROOT / "examples" / "rules.yaml")
    result = fit(rules, "gpt-5-codex", 8000)
    assert result.tokens == TokenCounter.count_tokens(result.text, "gpt-5-codex") <= 8000
    assert result.skipped == []


def test_an_explicit_budget_above_the_adapters_default_raises_its_maximum() -> None:
    """Review finding: not raising the adapter's maximum went unnoticed, because the example rules stay far
    below the Codex adapter's 4,096-token default. These rules need about 5,600."""
    from ctxbudget import GitHubCodexAdapter, MemoryRule

    rules = [MemoryRule(id=f"r{i}", category="behavior", name=f"Rule {i}", authority="default", scope=[],
                        rule="Run the whole test suite, read every failure, fix the cause and not the symptom. " * 4)
             for i in range(80)]
    assert GitHubCodexAdapter.DEFAULT_MAX_CONTEXT_TOKENS == 4096
    result = fit(rules, "gpt-5-codex", 6000)
    assert 4096 < result.tokens <= 6000
    assert result.tokens == TokenCounter.count_tokens(result.text, "gpt-5-codex")
    assert len(result.included) > 60
