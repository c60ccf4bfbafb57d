"""Formatter core: the data types and the fitting algorithm shared by every adapter.

A rendered document is the concatenation of *units*, each ending in ``"\\n"``; a unit that starts a new
block starts with ``"\\n"`` (the blank line that separates blocks). So the text is always "lines joined by
``\\n``, blocks separated by one blank line, exactly one trailing newline", and the cost of a document can be
estimated from its units' counts. Rule fields are normalised so that they cannot break that shape: names,
scopes, sources and conditions are put on one line; rule text keeps its lines, minus blank lines and trailing
spaces. A blank name renders as the rule id; a rule whose ``metadata["shortened"]`` is true gets
`` (shortened)`` after its name.

Fitting (``LLMToolAdapter.fit_rules``): ABSOLUTE rules are always rendered; DEFAULT rules are taken in ranking
order (priority desc, ``created_at`` desc, position asc), skipping any that does not fit and continuing.
"Fits" is decided on the WHOLE document — header, section and group headings, separators, the footer with
its skipped count, the trailing newline — counted by the adapter's ``Counter`` (given to the constructor, e.g.
the target model's; by default the registry's counter for the adapter's tool). The steps, for ``n`` rules and
a budget of ``B`` tokens:

1. The minimal document (frame + ABSOLUTE rules + the footer when there are DEFAULT rules) is counted exactly.
   If it exceeds ``B``, the result is that document flagged ``over_budget`` — unless every rule fits without a
   footer (tried only when the DEFAULT part is about as short as the footer it replaces).
2. The document with every rule is counted first when it has no more characters than ``B``: the common
   "everything fits" case costs one count of at most ``B`` characters and nothing else.
3. Otherwise every rule unit is rendered once and costed once, in one batch, by its marginal count after a
   line end (``count("end.\\n" + unit) - count("end.\\n")``, so the newline merges that happen in the document
   are priced in). The full document is counted when that estimate says it may fit.
4. Greedy selection in ranking order against the estimate, starting from the exact minimal count (which
   reserves the largest footer): ``O(n)``, no tokenising.
5. The selection is counted exactly; while it is over ``B``, the lowest-ranked included DEFAULT rules whose
   estimated cost covers the excess are dropped and the document is recounted.
6. One fill pass adds skipped rules that fit the measured slack (estimates inflated by the under-count
   measured in step 5), verified by one exact count and reverted if it does not fit.

The tokenizer therefore sees ``O(total rule text + k·B)`` text with a small ``k`` (2–4 whole-document counts
measured on 2000-rule sets) — never a re-render and recount of the document per candidate — and the returned
``token_count`` is always the exact count of the returned content. Everything is a pure function of the
input: identical input gives byte-identical output.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, ClassVar

from ..counting.counter import Counter, TokenCount, TokenCounter
from ..rules.markdown import FENCE
from ..rules.model import AuthorityLevel, MemoryCategory, MemoryRule, ranked_positions

#: Options every adapter accepts, with their defaults.
OPTION_DEFAULTS: dict[str, bool] = {"compact": False, "include_sources": True}

#: What every unit follows in a document: the end of a line.
_TAIL = "end.\n"

#: Marker rendered after the name of a rule whose ``metadata["shortened"]`` is true.
SHORTENED_MARKER = " (shortened)"


class FormatType(str, Enum):
    MARKDOWN = "markdown"
    PLAIN_TEXT = "plain"
    SYSTEM_INSTRUCTION = "system_instruction"


@dataclass(frozen=True)
class ToolCapabilities:
    tool_name: str
    format_type: FormatType
    max_context_tokens: int
    supports_sections: bool
    supports_markdown: bool
    supports_priorities: bool
    injection_method: str


@dataclass
class FormattedContext:
    """A rendered context. ``token_count`` is the adapter's counter's count of ``content``.

    ``rules_included``: the ABSOLUTE rules, then the included DEFAULT rules, each in ranking order (the
    Claude layout groups them by category on the page). ``rules_skipped``: every other input rule (always
    DEFAULT), in ranking order. Bookkeeping is by input position, so a rule given twice is listed twice.
    """

    tool_name: str
    format_type: FormatType
    content: str
    token_count: int
    rules_included: list[MemoryRule]
    rules_skipped: list[MemoryRule]
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class FormatOptions:
    """Validated formatter options."""

    compact: bool = False
    include_sources: bool = True

    @classmethod
    def parse(cls, options: Mapping[str, Any] | None) -> FormatOptions:
        """``None`` → defaults; unknown keys or non-bool values → ``ValueError``."""
        if options is None:
            return cls()
        if not isinstance(options, Mapping):
            raise ValueError(f"options must be a mapping, got {type(options).__name__}")
        unknown = sorted(str(k) for k in options if k not in OPTION_DEFAULTS)
        if unknown:
            raise ValueError(f"unknown formatter option(s): {', '.join(unknown)}; "
                             f"known: {', '.join(sorted(OPTION_DEFAULTS))}")
        values = dict(OPTION_DEFAULTS)
        for key, value in options.items():
            if not isinstance(value, bool):
                raise ValueError(f"formatter option {key!r} must be a bool, got {value!r}")
            values[key] = value
        return cls(**values)


def one_line(text: str) -> str:
    """``text`` on one line: whitespace runs (newlines included) become one space, ends stripped."""
    return " ".join(text.split())


def multi_line(text: str) -> str:
    """``text`` with its line breaks normalised to ``"\\n"`` and trailing spaces removed; blank lines are
    removed too, so a rule never adds a blank line inside its block — except inside fenced code, which is
    kept verbatim, and before indented code, which needs one."""
    lines: list[str] = []
    fence: str | None = None
    source = text.strip().splitlines()
    for n, line in enumerate(source):
        opening = FENCE.match(line)
        if fence is None and opening:
            fence = opening.group(1)
        elif fence is not None and opening and opening.group(1).startswith(fence) and not line.strip(" `~"):
            fence = None
        # a blank line before indented code is what makes it code
        before_code = n + 1 < len(source) and source[n + 1].startswith(("    ", "\t")) and bool(lines) and (
            not lines[-1].startswith(("    ", "\t")))
        if line.strip() or fence is not None or before_code:
            lines.append(line.rstrip())
    return "\n".join(lines)


def starts_block(line: str) -> bool:
    """True when ``line`` opens a fenced code block or a table row, which must start a line of their own."""
    return bool(FENCE.match(line)) or line.lstrip().startswith("|")


def name_is_redundant(rule: MemoryRule) -> bool:
    """True for a rule read from a Markdown instruction file without a ``**Name**:`` of its own: its name is
    only a label made from its text (``metadata["named"]`` is False), so layouts render the text alone."""
    return rule.metadata is not None and rule.metadata.get("named") is False


def display_name(rule: MemoryRule) -> str:
    """The rule's name on one line (the id when blank) plus the shortened marker when flagged."""
    name = one_line(rule.name) or one_line(rule.id)
    if rule.metadata and rule.metadata.get("shortened"):
        name += SHORTENED_MARKER
    return name


def rule_text(rule: MemoryRule) -> str:
    return multi_line(rule.rule)


def titled(rule: MemoryRule) -> tuple[str | None, str]:
    """``(name to show, text)``: the name is None when it only repeats the text, and a shortened rule's
    marker then ends the text's first line."""
    text = rule_text(rule)
    if not name_is_redundant(rule):
        return display_name(rule), text
    if rule.metadata and rule.metadata.get("shortened"):
        first, newline, rest = text.partition("\n")
        text = first + SHORTENED_MARKER + newline + rest
    return None, text


def category_label(category: MemoryCategory) -> str:
    return category.value.title()


def scope_text(rule: MemoryRule) -> str:
    """``", ".join(scope)`` over the non-blank entries; empty when the rule is global."""
    return ", ".join(item for item in map(one_line, rule.scope) if item)


def condition_text(rule: MemoryRule) -> str:
    """``conditions["condition"]`` on one line; empty when absent or None."""
    if not rule.conditions or "condition" not in rule.conditions:
        return ""
    value = rule.conditions["condition"]
    return "" if value is None else one_line(str(value))


def source_text(rule: MemoryRule) -> str:
    """The source when it is worth showing: non-empty and not ``"user_explicit"``."""
    source = one_line(rule.source or "")
    return "" if source == "user_explicit" else source


def check_budget(value: Any, what: str = "token_budget") -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{what} must be an int, got {type(value).__name__}")
    if value < 0:
        raise ValueError(f"{what} must be >= 0, got {value}")
    return value


class LLMToolAdapter(ABC):
    """One agent's context format. Subclasses implement the three abstract methods and the layout hooks
    (``_header_unit`` … ``_footer_unit``) used by the shared ``fit_rules``.
    """

    tool_name: str = ""
    format_type: FormatType = FormatType.PLAIN_TEXT
    #: Default injection budget (the constructor argument's default).
    DEFAULT_MAX_CONTEXT_TOKENS: int = 4096
    #: True: rules are grouped under per-category headings (categories sorted by value).
    groups_by_category: bool = False
    #: True: rule numbers run over both sections; False: they restart in each section.
    continuous_numbering: bool = False

    def __init__(self, max_context_tokens: int | None = None, *, counter: Counter | None = None) -> None:
        value = self.DEFAULT_MAX_CONTEXT_TOKENS if max_context_tokens is None else max_context_tokens
        check_budget(value, "max_context_tokens")
        if value == 0:
            raise ValueError("max_context_tokens must be > 0")
        self.max_context_tokens: int = value
        #: what counts the rendered text; None: the registry's counter for ``tool_name`` at each call
        self.counter = counter

    def get_counter(self) -> Counter:
        """The counter of this call: the one given to the constructor, else the process-wide façade's counter
        for ``tool_name`` (resolved now, so the Claude model variables are followed)."""
        return self.counter if self.counter is not None else TokenCounter.counter(self.tool_name)

    # --- the public contract ------------------------------------------------------------------------
    @abstractmethod
    def format_rules(
        self, rules: Sequence[MemoryRule], token_budget: int | None = None, options: Mapping[str, Any] | None = None
    ) -> FormattedContext:
        """Render ``rules`` within ``token_budget`` (None → ``max_context_tokens``)."""

    @abstractmethod
    def get_capabilities(self) -> ToolCapabilities: ...

    @abstractmethod
    def validate_format(self, ctx: FormattedContext) -> bool: ...

    def estimate_token_count(self, text: str) -> int:
        return self.get_counter().count(text)

    @staticmethod
    def separate_by_authority(rules: Iterable[MemoryRule]) -> tuple[list[MemoryRule], list[MemoryRule]]:
        """``(absolute, default)`` rules, each in input order."""
        absolute: list[MemoryRule] = []
        default: list[MemoryRule] = []
        for rule in rules:
            (absolute if rule.authority is AuthorityLevel.ABSOLUTE else default).append(rule)
        return absolute, default

    @staticmethod
    def sort_by_priority(rules: Sequence[MemoryRule]) -> list[MemoryRule]:
        """ABSOLUTE rules first, then DEFAULT; each in ranking order (priority desc, newest first, input order)."""
        rules = list(rules)
        absolute = [i for i, r in enumerate(rules) if r.authority is AuthorityLevel.ABSOLUTE]
        default = [i for i, r in enumerate(rules) if r.authority is not AuthorityLevel.ABSOLUTE]
        return [rules[i] for i in (*ranked_positions(rules, absolute), *ranked_positions(rules, default))]

    def _base_validation(self, ctx: FormattedContext) -> bool:
        """Checks shared by every adapter: within ``max_context_tokens`` and a truthful ``token_count``."""
        if not isinstance(ctx.content, str) or not ctx.content:
            return False
        if ctx.token_count > self.max_context_tokens:
            return False
        return ctx.token_count == self.estimate_token_count(ctx.content)

    # --- layout hooks ---------------------------------------------------------------------------------
    def _header_unit(self) -> str:
        raise NotImplementedError

    def _section_unit(self, authority: AuthorityLevel) -> str:
        raise NotImplementedError

    def _group_unit(self, category: MemoryCategory) -> str:
        """The heading unit of a category group (only when ``groups_by_category``)."""
        raise NotImplementedError

    def _rule_prefix(self, number: int) -> str:
        """The number-dependent start of a rule unit (may be empty)."""
        raise NotImplementedError

    def _rule_body(self, rule: MemoryRule, opts: FormatOptions) -> str:
        """The rest of a rule unit, ending in ``"\\n"``."""
        raise NotImplementedError

    def _footer_unit(self, skipped: int) -> str:
        raise NotImplementedError

    # --- shared fitting ---------------------------------------------------------------------------------
    def fit_rules(
        self, rules: Sequence[MemoryRule], token_budget: int | None = None, options: Mapping[str, Any] | None = None
    ) -> FormattedContext:
        """The shared algorithm behind every adapter's ``format_rules`` (see the module docstring)."""
        return _Fitter(self, rules, token_budget, options).run()

    def render_selection(
        self, rules: Sequence[MemoryRule], skipped: int, options: Mapping[str, Any] | None = None
    ) -> str:
        """The document with exactly ``rules`` (ABSOLUTE first, then DEFAULT, each in ranking order) and a
        footer saying that ``skipped`` rules were left out (no footer when 0); no fitting."""
        fitter = _Fitter(self, rules, None, options)
        return fitter.render(range(len(fitter.cands)), skipped=skipped)


class _Fitter:
    """One fitting pass. Works on input positions, so duplicate rules each count."""

    def __init__(
        self, adapter: LLMToolAdapter, rules: Sequence[MemoryRule], token_budget: int | None,
        options: Mapping[str, Any] | None,
    ) -> None:
        self.adapter = adapter
        self.opts = FormatOptions.parse(options)
        self.budget = check_budget(adapter.max_context_tokens if token_budget is None else token_budget)
        if isinstance(rules, (str, bytes)) or not isinstance(rules, Iterable):
            raise TypeError(f"rules must be a sequence of MemoryRule, got {type(rules).__name__}")
        self.rules = list(rules)
        for i, rule in enumerate(self.rules):
            if not isinstance(rule, MemoryRule):
                raise TypeError(f"rules[{i}] must be a MemoryRule, got {type(rule).__name__}")
        absolute = [i for i, r in enumerate(self.rules) if r.authority is AuthorityLevel.ABSOLUTE]
        default = [i for i, r in enumerate(self.rules) if r.authority is not AuthorityLevel.ABSOLUTE]
        self.absolute = ranked_positions(self.rules, absolute)
        #: DEFAULT candidates in ranking order; the fitting works on indexes into this list.
        self.cands = ranked_positions(self.rules, default)
        if len(self.rules) > 1 and len({source_text(r) for r in self.rules}) == 1:  # a shared source says nothing
            self.opts = dataclasses.replace(self.opts, include_sources=False)
        self.bodies = {i: adapter._rule_body(self.rules[i], self.opts) for i in (*self.absolute, *self.cands)}
        self.counter = adapter.get_counter()  # one route for the whole pass
        self._counts: dict[str, int] = {}
        self.rule_costs: list[int] = []
        self.last: TokenCount | None = None

    # --- counting -------------------------------------------------------------------------------------
    def count(self, text: str) -> int:
        """Estimate-side count of a unit, memoised per pass."""
        n = self._counts.get(text)
        if n is None:
            n = self._counts[text] = self.counter.count(text)
        return n

    def exact(self, content: str) -> int:
        """The exact count of a whole document; remembers the provenance of the last one."""
        self.last = self.counter.count_detailed(content)
        return self.last.count

    # --- rendering ------------------------------------------------------------------------------------
    def render(self, included: Sequence[int], skipped: int | None = None) -> str:
        """The document with every ABSOLUTE rule and the DEFAULT candidates ``included`` (candidate indexes);
        the footer counts ``skipped`` rules, by default the candidates not included."""
        adapter = self.adapter
        parts = [adapter._header_unit()]
        number = 0
        for authority, positions in ((AuthorityLevel.ABSOLUTE, self.absolute),
                                     (AuthorityLevel.DEFAULT, [self.cands[k] for k in sorted(included)])):
            if not positions:
                continue
            parts.append(adapter._section_unit(authority))
            if not adapter.continuous_numbering:
                number = 0
            ordered: list[tuple[MemoryCategory | None, list[int]]] = [(None, positions)]
            if adapter.groups_by_category:
                groups: dict[MemoryCategory, list[int]] = {}
                for i in positions:
                    groups.setdefault(self.rules[i].category, []).append(i)
                ordered = [(category, groups[category]) for category in sorted(groups, key=lambda c: c.value)]
            for category, members in ordered:
                if category is not None:
                    parts.append(adapter._group_unit(category))
                for i in members:
                    number += 1
                    parts.append(adapter._rule_prefix(number))
                    parts.append(self.bodies[i])
        if skipped is None:
            skipped = len(self.cands) - len(included)
        if skipped:
            parts.append(adapter._footer_unit(skipped))
        return "".join(parts)

    # --- estimates --------------------------------------------------------------------------------------
    # A unit is costed by its marginal count after a line end, count(TAIL + unit) - count(TAIL): in the
    # document every unit follows a "\n", which tokenizers merge with a leading "\n" or word.
    def unit_cost(self, unit: str) -> int:
        return self.count(_TAIL + unit) - self.count(_TAIL)

    def prefix_delta(self, number: int) -> int:
        """How much the prefix for ``number`` costs more than the prefix for 1 (the one bodies were costed with)."""
        prefix = self.adapter._rule_prefix(number)
        return self.count(prefix) - self.count(self.adapter._rule_prefix(1)) if prefix and number != 1 else 0

    def number_for(self, n_included_defaults: int) -> int:
        """The number the next appended DEFAULT rule gets (exact for ungrouped layouts)."""
        base = len(self.absolute) if self.adapter.continuous_numbering else 0
        return base + n_included_defaults + 1

    def add_cost(self, k: int, n_included: int, group_sizes: dict[MemoryCategory, int]) -> int:
        """Estimated tokens added by including candidate ``k`` next to ``n_included`` others."""
        cost = self.rule_costs[k] + self.prefix_delta(self.number_for(n_included))
        if n_included == 0:
            cost += self.unit_cost(self.adapter._section_unit(AuthorityLevel.DEFAULT))
        if self.adapter.groups_by_category:
            category = self.rules[self.cands[k]].category
            if not group_sizes.get(category):
                cost += self.unit_cost(self.adapter._group_unit(category))
        return cost

    # --- the algorithm ------------------------------------------------------------------------------------
    def run(self) -> FormattedContext:
        adapter, budget, cands = self.adapter, self.budget, self.cands
        minimal = self.render([])  # frame + ABSOLUTE rules (+ the footer when there are candidates)
        minimal_tokens = self.exact(minimal)
        if not cands:
            return self.result(minimal, minimal_tokens, [])
        every = list(range(len(cands)))

        if minimal_tokens > budget:
            # Over budget unless every rule fits without the footer, which needs the DEFAULT part to be
            # shorter than the footer it replaces: only then is the full document worth counting.
            content = self.render(every)
            footer = adapter._footer_unit(len(cands))
            if len(content) - (len(minimal) - len(footer)) <= 4 * len(footer):
                tokens = self.exact(content)
                if tokens <= budget:
                    return self.result(content, tokens, every)
            return self.result(minimal, minimal_tokens, [])

        # Everything, no footer: a document no longer (in characters) than the budget (in tokens) almost
        # always fits, so count it before costing the rules; such a count costs less than the budget.
        content = self.render(every)
        if len(content) <= budget:
            tokens = self.exact(content)
            if tokens <= budget:
                return self.result(content, tokens, every)
            tried_every = True
        else:
            tried_every = False

        # Every rule unit costed once, in one batch, as if numbered 1.
        lead = _TAIL + adapter._rule_prefix(1)
        tail = self.count(_TAIL)
        texts = [lead + self.bodies[i] for i in cands]
        self.rule_costs = [n - tail for n in self.counter.count_batch(texts)]

        # All rules at once: the only document without a footer; counted when the estimate says it may fit.
        est_all = minimal_tokens - self.unit_cost(adapter._footer_unit(len(cands))) + self._sum_costs(every)
        if not tried_every and est_all <= budget + 2 * len(cands) + 8:
            tokens = self.exact(content)
            if tokens <= budget:
                return self.result(content, tokens, every)

        # Greedy in ranking order against the estimate; the minimal document reserves the largest footer.
        included: list[int] = []
        group_sizes: dict[MemoryCategory, int] = {}
        est = minimal_tokens
        for k in range(len(cands)):
            cost = self.add_cost(k, len(included), group_sizes)
            if est + cost <= budget:
                est += cost
                included.append(k)
                category = self.rules[cands[k]].category
                group_sizes[category] = group_sizes.get(category, 0) + 1

        content = self.render(included)
        tokens = self.exact(content)
        # Over: drop the lowest-ranked included rules whose estimated cost covers the excess, recount.
        while tokens > budget:
            excess, dropped = tokens - budget, 0
            while included and dropped < excess:
                k = included.pop()
                category = self.rules[cands[k]].category
                group_sizes[category] -= 1
                dropped += max(1, self.add_cost(k, len(included), group_sizes))
            content = self.render(included)
            tokens = self.exact(content)
            if not included:
                break  # the minimal document: known to fit

        # Fill: the estimates are approximate; spend the measured slack once, verified.
        chosen = set(included)
        skipped = [k for k in range(len(cands)) if k not in chosen]
        if skipped:
            # Per rule, how much the estimates under-counted the measured document (0 when they over-count).
            est_included = minimal_tokens + self._sum_costs(included)
            bias = max(0.0, (tokens - est_included) / max(1, len(included)))
            slack = float(budget - tokens)
            trial = list(included)
            trial_sizes = dict(group_sizes)
            for k in skipped:
                need = self.add_cost(k, len(trial), trial_sizes) + bias
                if need <= slack:
                    slack -= need
                    trial.append(k)
                    category = self.rules[cands[k]].category
                    trial_sizes[category] = trial_sizes.get(category, 0) + 1
            if len(trial) > len(included):
                trial.sort()
                trial_content = self.render(trial)
                trial_tokens = self.exact(trial_content)
                if trial_tokens <= budget:
                    included, content, tokens = trial, trial_content, trial_tokens
        return self.result(content, tokens, sorted(included))

    def _sum_costs(self, ks: Sequence[int]) -> int:
        total = 0
        sizes: dict[MemoryCategory, int] = {}
        for n, k in enumerate(ks):
            total += self.add_cost(k, n, sizes)
            category = self.rules[self.cands[k]].category
            sizes[category] = sizes.get(category, 0) + 1
        return total

    def result(self, content: str, tokens: int, included: Sequence[int]) -> FormattedContext:
        adapter, detailed = self.adapter, self.last
        assert detailed is not None  # every pass counts at least the minimal document; same route throughout
        chosen = set(included)
        over = tokens > self.budget
        return FormattedContext(
            tool_name=adapter.tool_name,
            format_type=adapter.format_type,
            content=content,
            token_count=tokens,
            rules_included=[self.rules[i] for i in (*self.absolute, *(self.cands[k] for k in sorted(included)))],
            rules_skipped=[self.rules[i] for k, i in enumerate(self.cands) if k not in chosen],
            metadata={
                "absolute_rules": len(self.absolute),
                "default_rules": len(chosen),
                "over_budget": over,
                "overflow_tokens": tokens - self.budget if over else 0,
                "token_budget": self.budget,
                "tokenizer_used": detailed.tokenizer_type.value,
                "tokenizer_id": detailed.tokenizer_id,
                "tokenizer_exact": bool(detailed.exact),
            },
        )


class FixedLayoutAdapter(LLMToolAdapter):
    """An adapter whose contract follows from class data: a header, one heading per authority section, its
    capability flags and the prefix its output starts with. Only the rule layout (prefix, body, groups,
    footer) is written per adapter."""

    HEADER: ClassVar[str]
    SECTIONS: ClassVar[Mapping[AuthorityLevel, str]]
    #: what ``validate_format`` requires the content to start with (besides the shared checks)
    REQUIRED_PREFIX: ClassVar[str]
    supports_markdown: ClassVar[bool] = False
    supports_priorities: ClassVar[bool] = False
    injection_method: ClassVar[str] = "file"

    def format_rules(
        self, rules: Sequence[MemoryRule], token_budget: int | None = None, options: Mapping[str, Any] | None = None
    ) -> FormattedContext:
        return self.fit_rules(rules, token_budget, options)

    def get_capabilities(self) -> ToolCapabilities:
        return ToolCapabilities(
            tool_name=self.tool_name, format_type=self.format_type, max_context_tokens=self.max_context_tokens,
            supports_sections=True, supports_markdown=self.supports_markdown,
            supports_priorities=self.supports_priorities, injection_method=self.injection_method,
        )

    def validate_format(self, ctx: FormattedContext) -> bool:
        return (isinstance(ctx.content, str) and ctx.content.startswith(self.REQUIRED_PREFIX)
                and self._base_validation(ctx))

    def _header_unit(self) -> str:
        return self.HEADER

    def _section_unit(self, authority: AuthorityLevel) -> str:
        return self.SECTIONS[authority]
