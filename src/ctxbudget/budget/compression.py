"""Compression of rules that do not fit: SIMPLE drops optional parts, INTELLIGENT also shortens text.

SIMPLE removes what a rule's costed and rendered text may lose without changing its instruction: scope,
source and condition. INTELLIGENT additionally shortens DEFAULT rules that still do not fit, cutting their
text at a sentence or line boundary, and marks the copy with ``metadata["shortened"] = True``; atomic rules
(``metadata["atomic"]``) are never shortened.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Sequence
from enum import Enum

from ..rules.model import MemoryRule


class CompressionStrategy(str, Enum):
    NONE = "none"
    SIMPLE = "simple"
    INTELLIGENT = "intelligent"


_BOUNDARY = re.compile(r"(?<=[.!?;:])\s+|\n+")


def simplify(rule: MemoryRule) -> MemoryRule:
    """The rule without scope, source and condition (unchanged object if it has none of them)."""
    if not rule.scope and not rule.source and not rule.conditions:
        return rule
    metadata = {**(rule.metadata or {}), "compressed": "simple"}
    return dataclasses.replace(rule, scope=[], source="", conditions=None, metadata=metadata)


def sentence_prefixes(text: str) -> list[str]:
    """Proper prefixes of ``text`` that end at a sentence or line boundary, longest first."""
    cuts = [m.start() for m in _BOUNDARY.finditer(text)]
    prefixes = [text[:cut].rstrip() for cut in cuts]
    return [p for p in sorted(set(prefixes), key=len, reverse=True) if p and p != text.rstrip()]


def shorten(
    rule: MemoryRule, allowance: int, cost_of: Callable[[Sequence[MemoryRule]], list[int]]
) -> tuple[MemoryRule, int] | None:
    """The longest sentence-boundary shortening of ``rule`` (already simplified) costing ≤ ``allowance``.

    ``cost_of`` costs candidate rules in one batch. ``None`` if no shortening fits, or when the rule is
    atomic (``metadata["atomic"]``: code, tables, nested lists — text that a cut would break).
    """
    if rule.metadata and rule.metadata.get("atomic"):
        return None
    prefixes = sentence_prefixes(rule.rule)
    if not prefixes or allowance <= 0:
        return None
    metadata = {**(rule.metadata or {}), "compressed": "intelligent", "shortened": True}
    candidates = [dataclasses.replace(rule, rule=p, metadata=metadata) for p in prefixes]
    for candidate, cost in zip(candidates, cost_of(candidates), strict=True):
        if cost <= allowance:
            return candidate, cost
    return None
