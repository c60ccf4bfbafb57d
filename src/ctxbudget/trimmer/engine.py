"""``InteractiveTrimmer``: the include/exclude state behind the interactive trimmer.

Every rule has exactly one latest decision (include or exclude, automatic or manual). ABSOLUTE rules are
protected (unless ``protect_absolute=False``): included from the start, never excluded, whatever a session
file says. The rules are ranked once by the prioritizer (``refresh`` ranks again); the suggestion —
``select_top_rules`` on that ranking — is computed once per ranking.

Tokens: with a ``TextLayout`` the used tokens are the model's count of the text the selection is written as
(``preview``), the text ``fit`` writes for the same units; without one, the sum of the rules' costs as the
prioritizer counted them.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from .._clock import utcnow
from .._util import utilization_pct
from ..budget.prioritizer import PrioritizationResult, PrioritizationStrategy, RulePrioritizer, RulePriorityScore
from ..counting.counter import Counter
from ..rules.markdown import MarkdownDocument
from ..rules.model import MemoryRule
from .layout import TextLayout
from .model import BudgetVisualization, DecisionKind, RuleDisplay, TrimDecision, TrimDecisionType, TrimSession
from .session import read_session, write_session
from .suggest import Suggestion, suggest

SORT_ORDERS = ("priority", "name", "tokens", "category")

INITIAL_REASON = "Initial state"
SUGGESTED_REASON = "Auto-suggested by prioritizer"
EXCLUDED_REASON = "Excluded to fit budget"
TOGGLED_REASON = "Manually toggled by user"
INCLUDE_ALL_REASON = "Included via include_all"
EXCLUDE_ALL_REASON = "Excluded via exclude_all_non_protected"


class InteractiveTrimmer:
    """Thread-safe: one lock guards the decisions; counting happens outside it, on a snapshot."""

    def __init__(
        self,
        rules: Sequence[MemoryRule],
        budget: int,
        tool_name: str,
        prioritizer: RulePrioritizer,
        strategy: PrioritizationStrategy | str | None = None,
        protect_absolute: bool = True,
        auto_apply_suggestions: bool = False,
        *,
        layout: TextLayout | None = None,
        now: Callable[[], datetime] = utcnow,
    ) -> None:
        """``layout``: what the selection is written as (its rules must be ``rules``, in order); the budget
        then applies to the written text. ``tool_name`` is what the prioritizer counts costs for — a tool
        or a model id, the layout's model for the two to agree."""
        self._rules = tuple(rules)
        self._index: dict[str, int] = {}
        for position, rule in enumerate(self._rules):
            if rule.id in self._index:
                raise ValueError(f"rule ids must be unique: {rule.id!r} is rules[{self._index[rule.id]}] "
                                 f"and rules[{position}]")
            self._index[rule.id] = position
        if isinstance(budget, bool) or not isinstance(budget, int) or budget < 0:
            raise ValueError(f"budget must be an int >= 0, got {budget!r}")
        if layout is not None and [r.id for r in layout.rules] != [r.id for r in self._rules]:
            raise ValueError("the layout must hold the trimmer's rules, in the same order")
        self._budget = budget
        self._tool_name = tool_name
        self._prioritizer = prioritizer
        self._strategy = prioritizer.strategy if strategy is None else PrioritizationStrategy(strategy)
        self._protect_absolute = bool(protect_absolute)
        self._protected = frozenset(r.id for r in self._rules if r.is_absolute) if protect_absolute else frozenset()
        self._layout = layout
        self._now = now
        self._lock = threading.RLock()
        self._ranking = prioritizer.prioritize_rules(self._rules, tool_name, self._strategy)
        self._scores = {s.rule_id: s for s in self._ranking.priority_scores}
        self._version = 0  # bumped by refresh: the cached suggestion belongs to one ranking
        self._suggestion: tuple[int, Suggestion] | None = None
        self._decisions: dict[str, TrimDecision] = {}
        if auto_apply_suggestions:
            self.apply_auto_suggestions()
        else:
            stamp = now()
            self._decisions = {r.id: TrimDecision(r.id, TrimDecisionType.INCLUDE, "automatic", INITIAL_REASON, stamp)
                               for r in self._rules}

    @classmethod
    def for_source(
        cls,
        source: Sequence[MemoryRule] | MarkdownDocument | Sequence[MarkdownDocument],
        model: str,
        budget: int,
        prioritizer: RulePrioritizer | None = None,
        strategy: PrioritizationStrategy | str | None = None,
        protect_absolute: bool = True,
        auto_apply_suggestions: bool = True,
        *,
        layout: str | None = None,
        counter: Counter | None = None,
        now: Callable[[], datetime] = utcnow,
    ) -> InteractiveTrimmer:
        """A trimmer over what ``fit`` takes — rules, or parsed instruction files — for ``model`` (a model id
        or tool name), its budget applying to the text written (``layout`` as in ``fit``), starting from the
        suggestion."""
        text_layout = TextLayout(source, model, layout=layout, counter=counter)
        return cls(text_layout.rules, budget, model, prioritizer if prioritizer is not None else RulePrioritizer(),
                   strategy, protect_absolute, auto_apply_suggestions, layout=text_layout, now=now)

    # --- configuration (read-only) and state (copies) -----------------------------------------------------
    @property
    def rules(self) -> list[MemoryRule]:
        return list(self._rules)

    @property
    def budget(self) -> int:
        return self._budget

    @property
    def tool_name(self) -> str:
        return self._tool_name

    @property
    def prioritizer(self) -> RulePrioritizer:
        return self._prioritizer

    @property
    def strategy(self) -> PrioritizationStrategy:
        return self._strategy

    @property
    def protect_absolute(self) -> bool:
        return self._protect_absolute

    @property
    def layout(self) -> TextLayout | None:
        return self._layout

    @property
    def protected_rules(self) -> frozenset[str]:
        return self._protected

    @property
    def prioritization(self) -> PrioritizationResult:
        with self._lock:
            return self._ranking

    @property
    def scores_by_id(self) -> dict[str, RulePriorityScore]:
        with self._lock:
            return dict(self._scores)

    @property
    def decisions(self) -> dict[str, TrimDecision]:
        with self._lock:
            return dict(self._decisions)

    @property
    def selection(self) -> dict[str, bool]:
        """``{rule id: included}`` in input order."""
        with self._lock:
            return {r.id: self._decisions[r.id].included for r in self._rules}

    def is_included(self, rule_id: str) -> bool:
        with self._lock:
            self._known(rule_id)
            return self._decisions[rule_id].included

    # --- ranking and suggestion ---------------------------------------------------------------------------
    def refresh(self) -> None:
        """Rank the rules again (after usage or adjustments changed); the selection stays as it is."""
        ranking = self._prioritizer.prioritize_rules(self._rules, self._tool_name, self._strategy)
        with self._lock:
            self._ranking = ranking
            self._scores = {s.rule_id: s for s in ranking.priority_scores}
            self._version += 1
            self._suggestion = None

    def _auto(self) -> Suggestion:
        with self._lock:
            if self._suggestion is not None and self._suggestion[0] == self._version:
                return self._suggestion[1]
            version, scores = self._version, list(self._ranking.priority_scores)
        measure = None if self._layout is None else self._measure_ids
        found = suggest(scores, self._budget, self._protected, self._prioritizer.cost_benefit_threshold, measure)
        with self._lock:
            if version == self._version:
                self._suggestion = (version, found)
        return found

    def apply_auto_suggestions(self) -> dict[str, Any]:
        """Take the prioritizer's suggestion for every rule (automatic decisions)."""
        found = self._auto()
        stamp = self._now()
        with self._lock:
            for rule in self._rules:
                if rule.id in found.included:
                    decision = TrimDecision(rule.id, TrimDecisionType.INCLUDE, "automatic", SUGGESTED_REASON, stamp)
                else:
                    decision = TrimDecision(rule.id, TrimDecisionType.EXCLUDE, "automatic", EXCLUDED_REASON, stamp)
                self._decisions[rule.id] = decision
        return {"rules_included": len(found.included), "rules_excluded": len(self._rules) - len(found.included),
                "tokens_used": found.tokens, "budget": self._budget, "within_budget": found.tokens <= self._budget,
                "utilization_pct": utilization_pct(found.tokens, self._budget)}

    def reset_to_auto_suggestions(self) -> dict[str, Any]:
        return self.apply_auto_suggestions()

    # --- changes ------------------------------------------------------------------------------------------
    def _known(self, rule_id: str) -> None:
        if rule_id not in self._index:
            raise KeyError(f"unknown rule id: {rule_id!r}")

    def _set(self, rule_id: str, include: bool, kind: DecisionKind, reason: str) -> None:
        decision = TrimDecisionType.INCLUDE if include else TrimDecisionType.EXCLUDE
        self._decisions[rule_id] = TrimDecision(rule_id, decision, kind, reason, self._now())

    def toggle_rule(self, rule_id: str) -> bool:
        """Flip one rule; returns its new state. ``KeyError`` for an unknown id, ``ValueError`` for excluding a
        protected rule."""
        with self._lock:
            self._known(rule_id)
            included = self._decisions[rule_id].included
            if included and rule_id in self._protected:
                raise ValueError(f"Cannot exclude protected rule: {rule_id} "
                                 "(absolute authority rules are always included)")
            self._set(rule_id, not included, "manual", TOGGLED_REASON)
            return not included

    def include_rule(self, rule_id: str) -> None:
        with self._lock:
            if not self.is_included(rule_id):
                self.toggle_rule(rule_id)

    def exclude_rule(self, rule_id: str) -> None:
        with self._lock:
            if self.is_included(rule_id):
                self.toggle_rule(rule_id)

    def include_all(self) -> int:
        """Include every rule; returns the number of rules included (all of them)."""
        with self._lock:
            for rule in self._rules:
                if not self._decisions[rule.id].included:
                    self._set(rule.id, True, "manual", INCLUDE_ALL_REASON)
            return len(self._rules)

    def exclude_all_non_protected(self) -> int:
        """Exclude every rule that is not protected; returns how many were included before."""
        excluded = 0
        with self._lock:
            for rule in self._rules:
                if rule.id not in self._protected and self._decisions[rule.id].included:
                    self._set(rule.id, False, "manual", EXCLUDE_ALL_REASON)
                    excluded += 1
        return excluded

    # --- views --------------------------------------------------------------------------------------------
    def get_selected_rules(self) -> list[MemoryRule]:
        with self._lock:
            return [r for r in self._rules if self._decisions[r.id].included]

    def get_excluded_rules(self) -> list[MemoryRule]:
        with self._lock:
            return [r for r in self._rules if not self._decisions[r.id].included]

    def _included_ids(self) -> frozenset[str]:
        with self._lock:
            return frozenset(rule_id for rule_id, d in self._decisions.items() if d.included)

    def _measure_ids(self, included: frozenset[str]) -> int:
        return self._tokens(included)[1]

    def _tokens(self, included: frozenset[str]) -> tuple[str | None, int]:
        if self._layout is None:
            with self._lock:
                scores = self._scores
            return None, sum(scores[rule_id].token_cost for rule_id in included)
        text = self._layout.render(included, self._budget)
        return text, self._layout.count(text)

    def preview(self) -> str:
        """The text the current selection is written as (needs a layout)."""
        if self._layout is None:
            raise ValueError("a preview needs a layout: pass layout=TextLayout(...)")
        return self._layout.render(self._included_ids(), self._budget)

    def measure_preview(self) -> tuple[str, BudgetVisualization]:
        """The preview and the budget for the same selection (one snapshot, counted outside the lock)."""
        if self._layout is None:
            raise ValueError("a preview needs a layout: pass layout=TextLayout(...)")
        included = self._included_ids()
        text, used = self._tokens(included)
        return text or "", self._visualization(len(included), used)

    def get_budget_visualization(self) -> BudgetVisualization:
        included = self._included_ids()
        return self._visualization(len(included), self._tokens(included)[1])

    def _visualization(self, included: int, used: int) -> BudgetVisualization:
        budget = self._budget
        return BudgetVisualization(
            total_budget=budget, used_tokens=used, remaining_tokens=budget - used,
            utilization_pct=utilization_pct(used, budget), over_budget=used > budget,
            over_budget_amount=max(0, used - budget), rules_count=len(self._rules), included_count=included,
            excluded_count=len(self._rules) - included, protected_count=len(self._protected))

    def get_rule_displays(self, sort_by: str = "priority") -> list[RuleDisplay]:
        """One row per rule: ``priority`` (the ranking), ``name`` (case-insensitive), ``tokens`` (most first)
        or ``category`` (by value); ties keep the ranking's order."""
        if sort_by not in SORT_ORDERS:
            raise ValueError(f"sort_by must be one of {', '.join(SORT_ORDERS)}, got {sort_by!r}")
        with self._lock:
            scores = list(self._ranking.priority_scores)
            decisions = dict(self._decisions)
        if sort_by == "name":
            scores.sort(key=lambda s: s.rule.name.casefold())
        elif sort_by == "tokens":
            scores.sort(key=lambda s: -s.token_cost)
        elif sort_by == "category":
            scores.sort(key=lambda s: s.rule.category.value)
        return [RuleDisplay(rule=s.rule, score=s, included=decisions[s.rule_id].included,
                            protected=s.rule_id in self._protected,
                            auto_suggested=decisions[s.rule_id].decision_type == "automatic",
                            decision_type=decisions[s.rule_id].decision, display_index=n)
                for n, s in enumerate(scores, 1)]

    def get_comparison(self) -> dict[str, Any]:
        """The suggestion beside the current selection; ``manual_changes``: rules whose latest decision is
        manual."""
        found = self._auto()
        included = self._included_ids()
        used = self._tokens(included)[1]
        with self._lock:
            manual = sum(1 for d in self._decisions.values() if d.decision_type == "manual")
        total, budget = len(self._rules), self._budget
        return {
            "auto_suggestions": {"included_count": len(found.included),
                                 "excluded_count": total - len(found.included), "tokens_used": found.tokens,
                                 "within_budget": found.tokens <= budget},
            "current_selection": {"included_count": len(included), "excluded_count": total - len(included),
                                  "tokens_used": used, "within_budget": used <= budget},
            "manual_changes": manual,
            "budget": budget,
        }

    # --- sessions -----------------------------------------------------------------------------------------
    def session(self) -> TrimSession:
        """The current state as a session (what ``save_session`` writes)."""
        viz = self.get_budget_visualization()
        return TrimSession(
            tool_name=self._tool_name, budget=self._budget, strategy=self._strategy, decisions=self.decisions,
            total_tokens_used=viz.used_tokens, rules_included=viz.included_count,
            rules_excluded=viz.excluded_count, created_at=self._now(),
            metadata={"over_budget": viz.over_budget, "utilization_pct": viz.utilization_pct,
                      "protected_count": viz.protected_count})

    def save_session(self, path: str | os.PathLike[str]) -> None:
        """Write the session as JSON (atomically, UTF-8, ``indent=2``)."""
        write_session(path, self.session())

    def load_session(self, path: str | os.PathLike[str]) -> dict[str, Any]:
        """Apply a saved session's decisions. Ids this trimmer does not know, and exclusions of protected
        rules, are ignored and reported; rules the session does not name keep their state.
        ``FileNotFoundError`` for a missing file, ``ValueError`` for one that is not a session."""
        loaded = read_session(path)
        unknown: list[str] = []
        protected: list[str] = []
        applied = 0
        with self._lock:
            for rule_id, decision in loaded.decisions.items():
                if rule_id not in self._index:
                    unknown.append(rule_id)
                elif rule_id in self._protected and not decision.included:
                    protected.append(rule_id)
                else:
                    self._decisions[rule_id] = decision
                    applied += 1
        return {"applied": applied, "ignored_unknown": unknown, "ignored_protected": protected,
                "budget_mismatch": loaded.budget != self._budget}
