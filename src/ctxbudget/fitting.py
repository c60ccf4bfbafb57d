"""``fit``: choose the rules that fit a model's budget and write them as that agent's context text.

The model registry names, for the model (or tool) given, the counter that counts for it, the agent format
that renders for it and the budget that applies. Two layouts:

- ``markdown`` (the default for Markdown instruction files): the file itself, trimmed — the original text of
  the kept units, byte for byte, in file order, under their headings, and one footer line saying how many
  units were left out. Keeping every unit returns the file unchanged.
- ``generated`` (the only layout for rules files): the agent's generated layout (``formatters/``).

The allocator (``TokenBudgetManager``: authority, priority, strategy, compression) decides which rules are
kept, and the text contains exactly its choice: the allowance it is given is the budget minus what the
layout adds (headings, frame, footer), found by rendering and counting the whole text with the target
model's counter — shrunk by the measured excess until the text fits, then grown by the measured slack and
bisected towards the smallest allowance found too large. So the returned ``tokens`` is the exact count of
``text``, ``included`` and ``skipped`` are the allocation's, and the footer number is ``len(skipped)``. When
the ABSOLUTE rules alone do not fit, the text holds them all and the result says ``over_budget``. A budget too
small for even the footer gets the text without it, with the units that fit in the room it leaves
(``metadata["footer"]`` says whether the text has one).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .budget import AllocationStrategy, BudgetAllocation, CompressionStrategy, TokenBudgetManager
from .budget.allowance import search_allowance
from .counting.counter import Counter
from .formatters import ClaudeCodeAdapter, GitHubCodexAdapter, GoogleGeminiAdapter, LLMToolAdapter
from .models.registry import resolve_model
from .operations import OperationType
from .rules.markdown import MarkdownDocument
from .rules.model import MemoryRule

#: The adapter that renders for each agent the registry names.
ADAPTERS: dict[str, type[LLMToolAdapter]] = {
    "claude": ClaudeCodeAdapter, "codex": GitHubCodexAdapter, "gemini": GoogleGeminiAdapter,
}

LAYOUTS = ("markdown", "generated")


@dataclass
class FitResult:
    """The written context and how it was obtained. ``included``/``skipped`` are the allocation's rules
    (shortened copies included as such); ``rule_tokens`` maps each input position to its cost."""

    text: str
    tokens: int
    budget: int
    tool: str
    included: list[MemoryRule]
    skipped: list[MemoryRule]
    over_budget: bool
    provenance: dict[str, Any]
    allocation: BudgetAllocation
    layout: str = "generated"
    #: included rules whose written text compression changed (cut text; dropped scope/source/condition lines)
    shortened: list[MemoryRule] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)

    def units(self) -> list[dict[str, Any]]:
        """Every input rule: id, name, line (Markdown), tokens, and status kept / shortened / left out."""
        stats = self.allocation.allocation_stats
        costs = stats["rule_tokens"]
        status: dict[int, tuple[str, MemoryRule]] = {}
        shortened = {id(r) for r in self.shortened}
        for position, rule in zip(stats["included_indices"], self.allocation.rules_included, strict=True):
            status[position] = ("shortened" if id(rule) in shortened else "kept", rule)
        for position, rule in zip(stats["skipped_indices"], self.allocation.rules_skipped, strict=True):
            status[position] = ("left out", rule)
        rows = []
        for position in sorted(status):
            state, rule = status[position]
            meta = rule.metadata or {}
            rows.append({"id": rule.id, "name": rule.name, "authority": rule.authority.value,
                         "priority": rule.priority, "line": meta.get("line"), "file": meta.get("file"),
                         "tokens": costs[position], "status": state})
        return rows

    def to_dict(self) -> dict[str, Any]:
        return {
            "tool": self.tool, "layout": self.layout, "budget": self.budget, "tokens": self.tokens,
            "over_budget": self.over_budget,
            "included": [r.id for r in self.included], "skipped": [r.id for r in self.skipped],
            "shortened": [r.id for r in self.shortened], "units": self.units(),
            "provenance": dict(self.provenance), "allocation": {
                "allowance": self.allocation.total_budget,
                "absolute_tokens": self.allocation.absolute_tokens,
                "default_tokens": self.allocation.default_tokens,
                "compression_applied": self.allocation.compression_applied,
                "compressed_rules": self.allocation.allocation_stats["compressed_rules"],
                "strategy": self.allocation.allocation_stats["strategy"],
            },
            "text": self.text,
        }


def footer_line(left_out: int, total: int, budget: int, model: str) -> str:
    """The one line a trimmed Markdown file ends with (an HTML comment: agents read it, viewers hide it)."""
    units = "unit" if total == 1 else "units"
    return f"<!-- ctxbudget: {left_out} of {total} {units} left out to fit {budget:,} tokens for {model} -->"


class MarkdownLayout:
    """Trimmed instruction files, one after the other (a blank line between files), one footer."""

    def __init__(self, documents: Sequence[MarkdownDocument], budget: int, model: str) -> None:
        self.documents = list(documents)
        self.budget, self.model = budget, model
        self.total = sum(len(d.rules) for d in self.documents)

    def render(self, allocation: BudgetAllocation | None, footer_allowed: bool = True) -> str:
        kept: list[list[MemoryRule]] = [[] for _ in self.documents]
        left_out = self.total
        if allocation is not None:
            owner = [n for n, d in enumerate(self.documents) for _ in d.rules]
            positions = allocation.allocation_stats["included_indices"]
            for position, rule in zip(positions, allocation.rules_included, strict=True):
                kept[owner[position]].append(rule)
            left_out = len(allocation.rules_skipped)
        footer = footer_line(left_out, self.total, self.budget, self.model) if left_out and footer_allowed else None
        out = ""
        for n, document in enumerate(self.documents):
            text = document.render(kept[n], footer if n == len(self.documents) - 1 else None)
            if out and text:
                out += document.newline  # the blank line between two files
            if text and n < len(self.documents) - 1 and not text.endswith(("\n", "\r")):
                text += document.newline
            out += text
        return out


class GeneratedLayout:
    """The agent's generated layout, rendering exactly the allocation's rules."""

    def __init__(self, adapter: LLMToolAdapter, options: Mapping[str, Any] | None) -> None:
        self.adapter, self.options = adapter, options

    def render(self, allocation: BudgetAllocation | None, footer_allowed: bool = True) -> str:
        if allocation is None:
            return self.adapter.render_selection([], 0, self.options)
        skipped = len(allocation.rules_skipped) if footer_allowed else 0
        return self.adapter.render_selection(allocation.rules_included, skipped, self.options)


@dataclass
class _Found:
    allocation: BudgetAllocation
    text: str
    tokens: int
    allowance: int
    footer: bool


class _Search:
    """``search_allowance`` over this fit's allocations: every round is one allocation (its costs come from the
    counter's cache after the first) and one count of the whole text."""

    def __init__(self, manager: TokenBudgetManager, items: list[MemoryRule], model: str,
                 renderer: MarkdownLayout | GeneratedLayout, counter: Counter, budget: int) -> None:
        self.manager, self.items, self.model = manager, items, model
        self.renderer, self.counter, self.budget = renderer, counter, budget
        self.frame = counter.count(renderer.render(None)) if items else 0
        self.rounds = 0

    def attempt(self, allowance: int, footer: bool) -> _Found:
        self.rounds += 1
        allocation = self.manager.allocate_budget(self.items, allowance, self.model)
        text = self.renderer.render(allocation, footer_allowed=footer)
        return _Found(allocation, text, self.counter.count(text), allowance, footer)

    def run(self, footer: bool) -> _Found:
        start = self.budget - (self.frame if footer else 0)
        return search_allowance(lambda allowance: self.attempt(allowance, footer), self.budget, start,
                                lambda found: _room_to_grow(found.allocation))


def _written_shorter(original: MemoryRule, chosen: MemoryRule, shows_sources: bool) -> bool:
    """Whether compression changed what is written for a rule: its text cut, or (generated layout) a scope or
    condition line dropped, or a source line where sources are shown."""
    if chosen is original:
        return False
    if chosen.rule != original.rule:
        return True
    return bool(original.scope or original.conditions or (shows_sources and original.source))


def _room_to_grow(allocation: BudgetAllocation) -> bool:
    """More allowance could change the text: a rule is left out, or one is in only as a shortened copy."""
    return bool(allocation.rules_skipped) or any(
        r.metadata and r.metadata.get("shortened") for r in allocation.rules_included)


def documents_of(source: Any) -> list[MarkdownDocument] | None:
    """The instruction files ``source`` is (one or a list), or None when it is rules."""
    if isinstance(source, MarkdownDocument):
        return [source]
    if isinstance(source, Sequence) and source and all(isinstance(d, MarkdownDocument) for d in source):
        return list(source)
    return None


def fit(
    rules: Sequence[MemoryRule] | MarkdownDocument | Sequence[MarkdownDocument],
    model: str = "claude",
    budget: int | None = None,
    *,
    strategy: AllocationStrategy | str = AllocationStrategy.PRIORITY_BASED,
    compression: CompressionStrategy | str = CompressionStrategy.NONE,
    config: Any = None,
    options: Mapping[str, Any] | None = None,
    counter: Counter | None = None,
    layout: str | None = None,
) -> FitResult:
    """Fit ``rules`` — rules, or parsed Markdown instruction files (``parse_markdown``, ``load_document``) —
    into ``budget`` tokens for ``model`` (a model id or tool name) and write them.

    ``layout``: ``"markdown"`` (default for instruction files; not possible for plain rules) or
    ``"generated"``. ``budget=None`` takes the ``context_injection`` budget of the model's budget key from
    ``config`` (a ``BudgetConfigManager``; the built-in defaults when None) — the budget ``ctxbudget check``
    gates on. ``counter`` defaults to the registry's counter for ``model`` on the process-wide cache; the
    result's ``tool`` is the agent the registry names. Unknown models raise ``UnknownModelError``.
    """
    spec = resolve_model(model)
    documents = documents_of(rules)
    chosen_layout = layout or ("markdown" if documents else "generated")
    if chosen_layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {', '.join(LAYOUTS)}, got {layout!r}")
    if chosen_layout == "markdown" and documents is None:
        raise ValueError("the markdown layout needs Markdown instruction files (parse_markdown / load_document)")
    items: list[MemoryRule] = [r for d in documents for r in d.rules] if documents else list(rules)  # type: ignore[arg-type]
    counter = counter if counter is not None else Counter.for_model(model)
    if budget is None:
        if config is None:
            from .config import BudgetConfigManager

            config = BudgetConfigManager()
        budget = int(config.get_budget(spec.budget_key, OperationType.CONTEXT_INJECTION))
    manager = TokenBudgetManager(allocation_strategy=AllocationStrategy(strategy),
                                 compression_strategy=CompressionStrategy(compression), overhead_percentage=0.0,
                                 counter=counter)
    renderer: MarkdownLayout | GeneratedLayout
    if chosen_layout == "markdown":
        renderer = MarkdownLayout(documents or [], budget, model)
    else:
        adapter_type = ADAPTERS[spec.agent]
        adapter = adapter_type(max_context_tokens=max(budget, 1), counter=counter)
        renderer = GeneratedLayout(adapter, options)

    search = _Search(manager, items, model, renderer, counter, budget)
    found = search.run(footer=True)
    if found.tokens > budget and not any(r.is_absolute for r in found.allocation.rules_included):
        # a budget smaller than the footer: the footer gives way, and the units it leaves room for come in
        bare = search.run(footer=False)
        if bare.tokens < found.tokens or (bare.tokens <= budget and len(bare.allocation.rules_included) > len(
                found.allocation.rules_included)):
            found = bare
    allocation, text, tokens = found.allocation, found.text, found.tokens
    shows_sources = chosen_layout == "generated" and len({r.source for r in items}) > 1
    positions = allocation.allocation_stats["included_indices"]
    shortened = [r for position, r in zip(positions, allocation.rules_included, strict=True)
                 if _written_shorter(items[position], r, shows_sources)]
    return FitResult(
        text=text, tokens=tokens, budget=budget, tool=spec.agent, included=list(allocation.rules_included),
        skipped=list(allocation.rules_skipped), over_budget=tokens > budget, provenance=counter.provenance(),
        allocation=allocation, layout=chosen_layout, shortened=shortened,
        metadata={"allowance": found.allowance, "rounds": search.rounds, "frame_tokens": search.frame,
                  "footer": found.footer and bool(allocation.rules_skipped),
                  "overflow_tokens": max(0, tokens - budget)},
    )
