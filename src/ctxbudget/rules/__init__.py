"""Rules: the data model and the loaders for rules files and agent instruction files."""

from .model import (
    AuthorityLevel,
    MemoryCategory,
    MemoryRule,
    ranked_positions,
    ranking_key,
    rule_cost_text,
    rule_priority,
)

__all__ = [
    "AuthorityLevel",
    "MemoryCategory",
    "MemoryRule",
    "ranked_positions",
    "ranking_key",
    "rule_cost_text",
    "rule_priority",
]
