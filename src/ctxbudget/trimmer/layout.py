"""What a selection of rules is written as, and its count for the target model.

The renderers are ``fit``'s own — a Markdown instruction file trimmed to the kept units (its footer saying how
many were left out), or the agent's generated layout for rules files — so a trimmer's text is the text ``fit``
writes when it keeps the same units.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any, cast

from ..budget import BudgetAllocation
from ..counting.counter import Counter
from ..fitting import ADAPTERS, LAYOUTS, GeneratedLayout, MarkdownLayout, documents_of
from ..formatters import LLMToolAdapter
from ..models.registry import resolve_model
from ..rules.markdown import MarkdownDocument
from ..rules.model import MemoryRule


class TextLayout:
    """``render(kept_ids, budget)`` writes the kept rules as ``fit`` would; ``count`` counts with the model's
    counter (``Counter.for_model``, on the process-wide cache, unless one is given)."""

    def __init__(self, source: Sequence[MemoryRule] | MarkdownDocument | Sequence[MarkdownDocument], model: str,
                 *, layout: str | None = None, counter: Counter | None = None,
                 options: Mapping[str, Any] | None = None) -> None:
        self.spec = resolve_model(model)
        self.model = model
        documents = documents_of(source)
        self.layout = layout or ("markdown" if documents else "generated")
        if self.layout not in LAYOUTS:
            raise ValueError(f"layout must be one of {', '.join(LAYOUTS)}, got {layout!r}")
        if self.layout == "markdown" and documents is None:
            raise ValueError("the markdown layout needs Markdown instruction files (parse_markdown / load_document)")
        self.documents = documents or []
        self.rules = source_rules(source)
        self.counter = counter if counter is not None else Counter.for_model(model)
        self.options = options
        self._adapters: dict[int, LLMToolAdapter] = {}

    def render(self, kept: Collection[str], budget: int) -> str:
        positions = [i for i, rule in enumerate(self.rules) if rule.id in kept]
        # fit's layouts read only which positions are kept and what is left out
        allocation = BudgetAllocation(
            total_budget=budget, absolute_tokens=0, default_tokens=0, overhead_tokens=0,
            rules_included=[self.rules[i] for i in positions],
            rules_skipped=[r for r in self.rules if r.id not in kept], compression_applied=False,
            allocation_stats={"included_indices": positions})
        if self.layout == "markdown":
            return MarkdownLayout(self.documents, budget, self.model).render(allocation)
        return GeneratedLayout(self._adapter(budget), self.options).render(allocation)

    def count(self, text: str) -> int:
        return self.counter.count(text)

    def provenance(self) -> dict[str, Any]:
        return self.counter.provenance()

    def _adapter(self, budget: int) -> LLMToolAdapter:
        adapter = self._adapters.get(budget)
        if adapter is None:
            adapter = ADAPTERS[self.spec.agent](max_context_tokens=max(budget, 1), counter=self.counter)
            self._adapters[budget] = adapter
        return adapter


def source_rules(source: Sequence[MemoryRule] | MarkdownDocument | Sequence[MarkdownDocument]) -> list[MemoryRule]:
    """The rules of what ``fit`` takes: the units of the instruction files, in file order, or the rules."""
    documents = documents_of(source)
    if documents is not None:
        return [r for d in documents for r in d.rules]
    assert not isinstance(source, MarkdownDocument)  # _documents took it
    items = list(source)
    for position, item in enumerate(items):
        if not isinstance(item, MemoryRule):
            raise TypeError(f"rules[{position}] must be a MemoryRule or MarkdownDocument, got {type(item).__name__}")
    return cast(list[MemoryRule], items)
