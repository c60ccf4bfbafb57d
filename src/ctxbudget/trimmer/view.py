"""The words the trimmer's screen and its text report share: a row per rule, the budget line."""

from __future__ import annotations

from collections.abc import Sequence

from ..rules.model import MemoryRule
from .model import BudgetVisualization, RuleDisplay

COLUMNS = ("#", "state", "tokens", "authority", "priority", "category", "by", "id", "name")
#: columns aligned right
NUMERIC = frozenset({0, 2, 4})
PROTECTED_WHY = "absolute authority: always included"


def state(included: bool, protected: bool) -> str:
    if protected:
        return "protected"
    return "kept" if included else "left out"


def priority_text(rule: MemoryRule) -> str:
    return "" if rule.priority is None else f"{rule.priority:g}"


def row(display: RuleDisplay, name_width: int = 56) -> list[str]:
    rule = display.rule
    return [str(display.display_index), state(display.included, display.protected), f"{display.score.token_cost:,}",
            rule.authority.value, priority_text(rule), rule.category.value,
            "auto" if display.auto_suggested else "manual", rule.id, rule.name[:name_width]]


def matches(rule: MemoryRule, query: str) -> bool:
    """Whether the filter ``query`` (case-insensitive) occurs in the rule's id, name, text or section."""
    needle = query.casefold().strip()
    if not needle:
        return True
    section = str((rule.metadata or {}).get("section", ""))
    return any(needle in part.casefold() for part in (rule.id, rule.name, rule.rule, section))


def budget_line(viz: BudgetVisualization, model: str) -> str:
    """``codex: 1,988 / 2,000 tokens (99.4%) · 47 of 77 units kept, 13 protected · 12 to spare`` — or, in
    place of the spare tokens, ``OVER BUDGET by N``."""
    line = (f"{model}: {viz.used_tokens:,} / {viz.total_budget:,} tokens ({viz.utilization_pct:.1f}%) · "
            f"{viz.included_count} of {viz.rules_count} units kept, {viz.protected_count} protected · ")
    if viz.over_budget:
        return line + f"OVER BUDGET by {viz.over_budget_amount:,}"
    return line + f"{viz.remaining_tokens:,} to spare"


def filtered(displays: Sequence[RuleDisplay], query: str) -> list[RuleDisplay]:
    return [d for d in displays if matches(d.rule, query)]
