"""The trimmer's state engine (docs/guarantees.md, items 48-49): protected rules, the prioritizer's suggestion,
toggles and their errors, sort orders, the comparison, sessions, and the text a selection is written as."""

from __future__ import annotations

import json
import os
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import ctxbudget
from conftest import CharBackend
from ctxbudget import (
    AuthorityLevel,
    BudgetVisualization,
    Counter,
    InteractiveTrimmer,
    MemoryCategory,
    MemoryRule,
    PrioritizationStrategy,
    RulePrioritizer,
    TokenCounter,
    TrimDecision,
    TrimDecisionType,
    load_document,
    load_rules,
    rule_cost_text,
)
from ctxbudget.fitting import fit
from ctxbudget.trimmer import TextLayout

ROOT = Path(__file__).resolve().parent.parent
CORPUS = Path(__file__).resolve().parent / "fixtures" / "instructions"
MONOREPO = ROOT / "examples" / "monorepo" / "CLAUDE.md"
PROTECTED = "Cannot exclude protected rule: {} (absolute authority rules are always included)"
T0 = datetime(2025, 6, 1, 9, 0, tzinfo=UTC)

#: costs with the one-token-per-character stub: the rule text is the whole cost text (no scope, no source)
COSTS = {"r1": 40, "r2": 60, "r3": 30, "r4": 10, "r5": 20}


class Clock:
    """A ``now`` that moves one second per call."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> datetime:
        self.calls += 1
        return T0 + timedelta(seconds=self.calls)


def rule(rule_id: str, name: str, priority: float, category: MemoryCategory = MemoryCategory.BEHAVIOR,
         authority: AuthorityLevel = AuthorityLevel.DEFAULT) -> MemoryRule:
    return MemoryRule(rule_id, category, name, "x" * COSTS[rule_id], authority, [], source="", priority=priority,
                      created_at=T0)


def five() -> list[MemoryRule]:
    """Ranked (importance) r2 (absolute), r3, r5, r1, r4."""
    return [rule("r1", "code Style", 70), rule("r2", "Security", 95, authority=AuthorityLevel.ABSOLUTE),
            rule("r3", "testing", 85, MemoryCategory.PREFERENCE), rule("r4", "Docs", 60, MemoryCategory.AGENT),
            rule("r5", "error handling", 80, MemoryCategory.PREFERENCE)]


class CountingPrioritizer(RulePrioritizer):
    """A real prioritizer that counts its ranking passes."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.passes = 0

    def prioritize_rules(self, *args: Any, **kwargs: Any) -> Any:
        self.passes += 1
        return super().prioritize_rules(*args, **kwargs)


@pytest.fixture
def stub() -> CharBackend:
    backend = CharBackend()
    TokenCounter.register_backend("stub", backend)
    return backend


def make(budget: int = 120, *, auto: bool = False, clock: Clock | None = None, protect: bool = True,
         prioritizer: RulePrioritizer | None = None, rules: list[MemoryRule] | None = None) -> InteractiveTrimmer:
    return InteractiveTrimmer(five() if rules is None else rules, budget, "stub", prioritizer or RulePrioritizer(),
                              protect_absolute=protect, auto_apply_suggestions=auto, now=clock or Clock())


def kept(trimmer: InteractiveTrimmer) -> list[str]:
    return [r.id for r in trimmer.get_selected_rules()]


# --- construction -------------------------------------------------------------------------------------------

def test_starts_with_every_rule_included_as_the_initial_state(stub: CharBackend) -> None:
    clock = Clock()
    trimmer = make(clock=clock)
    assert trimmer.selection == {"r1": True, "r2": True, "r3": True, "r4": True, "r5": True}
    assert set(trimmer.decisions.values()) == {
        TrimDecision(r, TrimDecisionType.INCLUDE, "automatic", "Initial state", T0 + timedelta(seconds=1))
        for r in COSTS}
    assert trimmer.protected_rules == frozenset({"r2"})
    assert trimmer.strategy is PrioritizationStrategy.IMPORTANCE
    assert {k: s.token_cost for k, s in trimmer.scores_by_id.items()} == COSTS


def test_ids_must_be_unique_and_the_budget_a_non_negative_int(stub: CharBackend) -> None:
    rules = [*five(), rule("r3", "again", 10)]
    with pytest.raises(ValueError, match=r"rule ids must be unique: 'r3' is rules\[2\] and rules\[5\]"):
        make(rules=rules)
    for bad in (-1, 1.5, True):
        with pytest.raises(ValueError, match="budget must be an int >= 0"):
            make(budget=bad)  # type: ignore[arg-type]


def test_auto_apply_starts_from_the_suggestion_skipping_and_continuing(stub: CharBackend) -> None:
    trimmer = make(120, auto=True)
    # r2 (protected, 60), r3 (30), r5 (20); r1 (40) would pass 120 and is skipped; r4 (10) still fits
    assert kept(trimmer) == ["r2", "r3", "r4", "r5"]
    decisions = trimmer.decisions
    assert decisions["r1"].decision is TrimDecisionType.EXCLUDE and decisions["r1"].reason == "Excluded to fit budget"
    assert decisions["r3"].reason == "Auto-suggested by prioritizer"
    assert {d.decision_type for d in decisions.values()} == {"automatic"}


def test_apply_auto_suggestions_reports_the_suggestion(stub: CharBackend) -> None:
    trimmer = make(120)
    assert trimmer.apply_auto_suggestions() == {"rules_included": 4, "rules_excluded": 1, "tokens_used": 120,
                                                "budget": 120, "within_budget": True, "utilization_pct": 100.0}
    assert make(0).apply_auto_suggestions() == {"rules_included": 1, "rules_excluded": 4, "tokens_used": 60,
                                                "budget": 0, "within_budget": False, "utilization_pct": 100.0}


@pytest.mark.parametrize("protect", [True, False])
@pytest.mark.parametrize("strategy", ["importance", "cost_benefit"])
def test_the_suggestion_is_select_top_rules(stub: CharBackend, protect: bool, strategy: str) -> None:
    prioritizer = RulePrioritizer(strategy=strategy)
    for budget in range(0, 175, 5):
        trimmer = make(budget, protect=protect, prioritizer=prioritizer)
        trimmer.apply_auto_suggestions()
        selected, skipped = prioritizer.select_top_rules(five(), "stub", budget, protect_absolute=protect)
        assert set(kept(trimmer)) == {r.id for r in selected}, budget
        assert {r.id for r in trimmer.get_excluded_rules()} == {r.id for r in skipped}, budget


@pytest.mark.guarantee(25)
def test_unprotected_absolute_rules_compete(stub: CharBackend) -> None:
    trimmer = make(50, protect=False, auto=True)
    assert trimmer.protected_rules == frozenset()
    assert kept(trimmer) == ["r3", "r5"]  # r2 ranks first but its 60 do not fit in 50
    assert trimmer.toggle_rule("r2") is True
    assert trimmer.toggle_rule("r2") is False


def test_the_cost_benefit_threshold_is_honoured(stub: CharBackend) -> None:
    # importance per token: r4 (10 tokens) is worth 0.53/10, r1 (40) 0.56/40 = 0.014
    trimmer = make(500, prioritizer=RulePrioritizer(cost_benefit_threshold=0.02), auto=True)
    assert kept(trimmer) == ["r2", "r3", "r4", "r5"]


# --- changes ------------------------------------------------------------------------------------------------

@pytest.mark.guarantee(49)
def test_toggle_flips_records_a_manual_decision_and_refuses_unknown_and_protected(stub: CharBackend) -> None:
    clock = Clock()
    trimmer = make(clock=clock)
    assert trimmer.toggle_rule("r1") is False
    assert trimmer.decisions["r1"] == TrimDecision("r1", TrimDecisionType.EXCLUDE, "manual",
                                                   "Manually toggled by user", T0 + timedelta(seconds=2))
    assert trimmer.toggle_rule("r1") is True
    with pytest.raises(KeyError, match="unknown rule id: 'nope'"):
        trimmer.toggle_rule("nope")
    with pytest.raises(ValueError) as caught:
        trimmer.toggle_rule("r2")
    assert str(caught.value) == PROTECTED.format("r2")
    assert trimmer.is_included("r2") and trimmer.decisions["r2"].reason == "Initial state"


@pytest.mark.guarantee(49)
def test_include_and_exclude_change_only_what_needs_changing(stub: CharBackend) -> None:
    trimmer = make()
    trimmer.include_rule("r1")
    assert trimmer.decisions["r1"].reason == "Initial state"
    trimmer.exclude_rule("r1")
    trimmer.exclude_rule("r1")
    assert trimmer.selection["r1"] is False and trimmer.decisions["r1"].decision_type == "manual"
    trimmer.include_rule("r1")
    assert trimmer.selection["r1"] is True
    with pytest.raises(ValueError, match="Cannot exclude protected rule: r2"):
        trimmer.exclude_rule("r2")
    trimmer.include_rule("r2")  # already in: nothing to do, no error
    for method in (trimmer.include_rule, trimmer.exclude_rule, trimmer.is_included):
        with pytest.raises(KeyError):
            method("nope")


def test_include_all_and_exclude_all_non_protected(stub: CharBackend) -> None:
    trimmer = make(auto=True)  # r1 left out
    assert trimmer.include_all() == 5
    assert trimmer.decisions["r1"].reason == "Included via include_all"
    assert trimmer.decisions["r3"].reason == "Auto-suggested by prioritizer"  # unchanged ones keep theirs
    assert trimmer.exclude_all_non_protected() == 4
    assert kept(trimmer) == ["r2"]
    assert trimmer.decisions["r4"].reason == "Excluded via exclude_all_non_protected"
    assert trimmer.exclude_all_non_protected() == 0


def test_reset_to_auto_suggestions_undoes_manual_changes(stub: CharBackend) -> None:
    trimmer = make(auto=True)
    trimmer.toggle_rule("r1")
    trimmer.toggle_rule("r3")
    assert trimmer.reset_to_auto_suggestions()["tokens_used"] == 120
    assert kept(trimmer) == ["r2", "r3", "r4", "r5"]
    assert {d.decision_type for d in trimmer.decisions.values()} == {"automatic"}


# --- views --------------------------------------------------------------------------------------------------

def test_budget_visualization(stub: CharBackend) -> None:
    trimmer = make(120)
    assert trimmer.get_budget_visualization() == BudgetVisualization(
        total_budget=120, used_tokens=160, remaining_tokens=-40, utilization_pct=160 / 120 * 100, over_budget=True,
        over_budget_amount=40, rules_count=5, included_count=5, excluded_count=0, protected_count=1)
    trimmer.exclude_rule("r1")
    assert trimmer.get_budget_visualization() == BudgetVisualization(120, 120, 0, 100.0, False, 0, 5, 4, 1, 1)
    empty = make(0, rules=[])
    assert empty.get_budget_visualization() == BudgetVisualization(0, 0, 0, 0.0, False, 0, 0, 0, 0, 0)
    assert empty.get_rule_displays() == [] and empty.apply_auto_suggestions()["tokens_used"] == 0


def test_selected_and_excluded_are_disjoint_cover_everything_and_keep_input_order(stub: CharBackend) -> None:
    trimmer = make(auto=True)
    trimmer.toggle_rule("r5")
    assert [r.id for r in trimmer.get_selected_rules()] == ["r2", "r3", "r4"]
    assert [r.id for r in trimmer.get_excluded_rules()] == ["r1", "r5"]


def test_rule_displays_in_each_sort_order(stub: CharBackend) -> None:
    trimmer = make(auto=True)
    trimmer.toggle_rule("r4")

    def order(sort_by: str) -> list[str]:
        displays = trimmer.get_rule_displays(sort_by)
        assert [d.display_index for d in displays] == [1, 2, 3, 4, 5]
        return [d.rule.id for d in displays]

    assert order("priority") == ["r2", "r3", "r5", "r1", "r4"]
    assert order("name") == ["r1", "r4", "r5", "r2", "r3"]  # code Style, Docs, error handling, Security, testing
    assert order("tokens") == ["r2", "r1", "r3", "r5", "r4"]
    assert order("category") == ["r4", "r2", "r1", "r3", "r5"]  # agent, behavior (ranked), preference (ranked)
    rows = {d.rule.id: d for d in trimmer.get_rule_displays()}
    assert (rows["r2"].protected, rows["r2"].included, rows["r2"].auto_suggested) == (True, True, True)
    assert (rows["r4"].included, rows["r4"].auto_suggested, rows["r4"].decision_type) == (
        False, False, TrimDecisionType.EXCLUDE)
    assert rows["r1"].decision_type is TrimDecisionType.EXCLUDE and rows["r1"].auto_suggested is True
    assert rows["r3"].score.token_cost == 30 and rows["r3"].score.rule_id == "r3"
    with pytest.raises(ValueError, match="sort_by must be one of priority, name, tokens, category, got 'size'"):
        trimmer.get_rule_displays("size")


@pytest.mark.guarantee(49)
def test_comparison_uses_the_cached_suggestion_until_refresh(stub: CharBackend) -> None:
    prioritizer = CountingPrioritizer()
    trimmer = make(120, prioritizer=prioritizer)
    trimmer.toggle_rule("r1")
    trimmer.toggle_rule("r1")
    trimmer.toggle_rule("r4")
    expected = {"auto_suggestions": {"included_count": 4, "excluded_count": 1, "tokens_used": 120,
                                     "within_budget": True},
                "current_selection": {"included_count": 4, "excluded_count": 1, "tokens_used": 150,
                                      "within_budget": False},
                "manual_changes": 2, "budget": 120}
    for _ in range(5):
        assert trimmer.get_comparison() == expected
    trimmer.apply_auto_suggestions()
    assert trimmer.get_comparison()["manual_changes"] == 0
    assert prioritizer.passes == 1  # ranked once, in the constructor
    prioritizer.adjust_priority_from_usage("r1", 10.0, learning_rate=1.0)  # r1 now outranks everything
    assert trimmer.get_comparison()["auto_suggestions"]["included_count"] == 4  # still the old ranking
    trimmer.refresh()
    assert prioritizer.passes == 2
    assert trimmer.selection["r4"] is True  # refresh keeps the selection
    assert trimmer.prioritization.ranked_rules[0].id == "r1"
    trimmer.apply_auto_suggestions()
    assert kept(trimmer) == ["r1", "r2", "r5"]  # r2 60 + r1 40 + r5 20 = 120: r3 and r4 no longer fit


def test_getters_return_copies(stub: CharBackend) -> None:
    trimmer = make()
    trimmer.selection["r1"] = False
    trimmer.decisions.clear()
    trimmer.rules.clear()
    trimmer.scores_by_id.clear()
    assert trimmer.selection["r1"] is True and len(trimmer.decisions) == 5 and len(trimmer.rules) == 5
    assert len(trimmer.scores_by_id) == 5


def test_concurrent_toggles_and_reads(stub: CharBackend) -> None:
    rules = [MemoryRule(f"u{i}", MemoryCategory.BEHAVIOR, f"u{i}", "y" * (i + 1), AuthorityLevel.DEFAULT, [],
                        source="") for i in range(40)]
    trimmer = make(100, rules=rules)
    errors: list[BaseException] = []

    def work(offset: int) -> None:
        try:
            for _ in range(51):  # an odd number of flips: every rule ends excluded
                for i in range(offset, 40, 4):
                    trimmer.toggle_rule(f"u{i}")
                viz = trimmer.get_budget_visualization()
                assert viz.included_count + viz.excluded_count == 40
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert trimmer.get_selected_rules() == []


# --- sessions -----------------------------------------------------------------------------------------------

def test_session_json_has_exactly_the_documented_keys(stub: CharBackend, tmp_path: Path) -> None:
    clock = Clock()
    trimmer = make(120, auto=True, clock=clock)  # decisions at T0+1s
    trimmer.toggle_rule("r4")  # T0+2s
    path = tmp_path / "deep" / "session.json"
    trimmer.save_session(str(path))  # a str path; parents are created; created_at T0+3s
    text = path.read_text(encoding="utf-8")
    data = json.loads(text)
    assert text == json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    assert list(data) == ["format_version", "tool_name", "budget", "strategy", "total_tokens_used", "rules_included",
                          "rules_excluded", "created_at", "decisions", "metadata"]
    assert {k: v for k, v in data.items() if k != "decisions"} == {
        "format_version": 1, "tool_name": "stub", "budget": 120, "strategy": "importance", "total_tokens_used": 110,
        "rules_included": 3, "rules_excluded": 2, "created_at": "2025-06-01T09:00:03+00:00",
        "metadata": {"over_budget": False, "utilization_pct": 110 / 120 * 100, "protected_count": 1}}
    assert list(data["decisions"]) == ["r1", "r2", "r3", "r4", "r5"]
    assert data["decisions"]["r4"] == {"rule_id": "r4", "decision": "exclude", "decision_type": "manual",
                                       "reason": "Manually toggled by user",
                                       "timestamp": "2025-06-01T09:00:02+00:00"}
    assert data["decisions"]["r3"]["reason"] == "Auto-suggested by prioritizer"


def test_a_saved_session_reloads_to_the_same_state(stub: CharBackend, tmp_path: Path) -> None:
    trimmer = make(120, auto=True)
    trimmer.toggle_rule("r1")
    trimmer.toggle_rule("r3")
    trimmer.save_session(tmp_path / "s.json")
    fresh = make(120)
    assert fresh.load_session(tmp_path / "s.json") == {"applied": 5, "ignored_unknown": [], "ignored_protected": [],
                                                       "budget_mismatch": False}
    assert fresh.decisions == trimmer.decisions
    assert fresh.get_budget_visualization() == trimmer.get_budget_visualization()
    assert fresh.get_comparison() == trimmer.get_comparison()


@pytest.mark.guarantee(48)
def test_protected_rules_stay_included_and_ignored_entries_are_reported(stub: CharBackend, tmp_path: Path) -> None:
    unprotected = make(120, protect=False)
    unprotected.toggle_rule("r2")
    unprotected.toggle_rule("r5")
    unprotected.save_session(tmp_path / "s.json")
    data = json.loads((tmp_path / "s.json").read_text(encoding="utf-8"))
    data["decisions"]["gone"] = {**data["decisions"]["r1"], "rule_id": "gone"}
    (tmp_path / "s.json").write_text(json.dumps(data), encoding="utf-8")
    trimmer = make(200)
    assert trimmer.load_session(tmp_path / "s.json") == {
        "applied": 4, "ignored_unknown": ["gone"], "ignored_protected": ["r2"], "budget_mismatch": True}
    assert trimmer.selection == {"r1": True, "r2": True, "r3": True, "r4": True, "r5": False}
    assert trimmer.decisions["r2"].reason == "Initial state"


def test_rules_a_session_does_not_name_keep_their_state(stub: CharBackend, tmp_path: Path) -> None:
    (tmp_path / "s.json").write_text(json.dumps({
        "tool_name": "stub", "budget": 120, "strategy": "importance", "created_at": "2025-06-01T09:00:00",
        "decisions": {"r3": {"rule_id": "r3", "decision": "exclude", "decision_type": "manual", "reason": "mine",
                             "timestamp": "2025-06-01T10:00:00"}}}), encoding="utf-8")  # no format_version: 1
    trimmer = make(120, auto=True)
    assert trimmer.load_session(tmp_path / "s.json")["applied"] == 1
    assert kept(trimmer) == ["r2", "r4", "r5"]
    assert trimmer.decisions["r3"].timestamp == datetime(2025, 6, 1, 10, tzinfo=UTC)  # naive read as UTC


def test_load_session_errors(stub: CharBackend, tmp_path: Path) -> None:
    trimmer = make()
    with pytest.raises(FileNotFoundError):
        trimmer.load_session(tmp_path / "missing.json")
    good = {"format_version": 1, "tool_name": "stub", "budget": 120, "strategy": "importance",
            "created_at": "2025-06-01T09:00:00+00:00",
            "decisions": {"r1": {"rule_id": "r1", "decision": "exclude", "decision_type": "manual", "reason": "",
                                 "timestamp": "2025-06-01T09:00:00+00:00"}}}
    path = tmp_path / "s.json"
    cases: list[tuple[Any, str]] = [
        ("{not json", r"s\.json:1: not a trim session: invalid JSON"),
        ([], "not a trim session: expected a JSON object"),
        ({**good, "format_version": 2}, "unsupported session format_version 2 "),
        ({**good, "budget": "lots"}, "budget: expected an integer, got str"),
        ({**good, "strategy": "vibes"}, "strategy: must be one of importance, "),
        ({k: v for k, v in good.items() if k != "decisions"}, "decisions: missing"),
        ({**good, "decisions": {"r1": {**good["decisions"]["r1"], "decision": "automatic"}}},
         "decisions.r1.decision: must be one of include, exclude, got 'automatic'"),
        ({**good, "decisions": {"r1": {**good["decisions"]["r1"], "decision_type": "robot"}}},
         "decisions.r1.decision_type: must be one of automatic, manual"),
        ({**good, "decisions": {"r1": {**good["decisions"]["r1"], "rule_id": "r2"}}},
         "decisions.r1.rule_id: 'r2' is filed under 'r1'"),
        ({**good, "decisions": {"r1": {**good["decisions"]["r1"], "timestamp": "noon"}}},
         "decisions.r1.timestamp: not an ISO 8601 timestamp: 'noon'"),
    ]
    for content, message in cases:
        path.write_text(content if isinstance(content, str) else json.dumps(content), encoding="utf-8")
        with pytest.raises(ValueError, match=message):
            trimmer.load_session(path)
    assert trimmer.selection["r1"] is True  # nothing was applied from a bad file
    path.write_text(json.dumps(good), encoding="utf-8")
    assert trimmer.load_session(path)["applied"] == 1


@pytest.mark.guarantee(49)
def test_a_failed_save_keeps_the_old_file(stub: CharBackend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    trimmer = make()
    path = tmp_path / "s.json"
    trimmer.save_session(path)
    before = path.read_bytes()
    trimmer.toggle_rule("r1")

    def crash(*_args: Any) -> None:
        raise OSError("disk on fire")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk on fire"):
        trimmer.save_session(path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.json"]  # no temporary file left behind


@pytest.mark.guarantee(49)
def test_loading_is_linear_in_rules_and_decisions(stub: CharBackend, tmp_path: Path) -> None:
    n = 10_000  # comparing every decision with every rule would take tens of seconds
    rules = [MemoryRule(f"u{i}", MemoryCategory.BEHAVIOR, f"u{i}", "z", AuthorityLevel.DEFAULT, [], source="")
             for i in range(n)]
    trimmer = make(10, rules=rules)
    trimmer.exclude_all_non_protected()
    trimmer.save_session(tmp_path / "s.json")
    data = json.loads((tmp_path / "s.json").read_text(encoding="utf-8"))
    data["decisions"].update({f"gone{i}": {**data["decisions"]["u0"], "rule_id": f"gone{i}"} for i in range(n)})
    (tmp_path / "s.json").write_text(json.dumps(data), encoding="utf-8")
    fresh = make(10, rules=rules)
    started = time.perf_counter()
    report = fresh.load_session(tmp_path / "s.json")
    assert time.perf_counter() - started < 2.0
    assert report["applied"] == n and len(report["ignored_unknown"]) == n
    assert fresh.get_selected_rules() == []


# --- the written text ---------------------------------------------------------------------------------------

def test_a_preview_needs_a_layout(stub: CharBackend) -> None:
    with pytest.raises(ValueError, match="a preview needs a layout"):
        make().preview()
    with pytest.raises(ValueError, match="the layout must hold the trimmer's rules, in the same order"):
        InteractiveTrimmer(five()[::-1], 100, "codex", RulePrioritizer(), layout=TextLayout(five(), "codex"))


@pytest.mark.parametrize("path", [MONOREPO, CORPUS / "django-CLAUDE.md", CORPUS / "go-service-AGENTS.md",
                                  CORPUS / "russian-team-CLAUDE.md"], ids=lambda p: p.name)
def test_the_preview_is_fits_text_for_the_same_units_and_the_budget_counts_it(path: Path) -> None:
    document = load_document(path)
    counter = Counter.for_model("codex")
    size = counter.count(document.text)
    for budget in (size // 4, size // 2, size):
        result = fit(document, "codex", budget)
        trimmer = InteractiveTrimmer.for_source(document, "codex", budget)
        trimmer.exclude_all_non_protected()
        for unit in result.included:
            trimmer.include_rule(unit.id)
        text, viz = trimmer.measure_preview()
        assert text == result.text == trimmer.preview()
        assert viz.used_tokens == counter.count(text) == result.tokens
        assert (viz.included_count, viz.excluded_count) == (len(result.included), len(result.skipped))


@pytest.mark.parametrize("path", sorted(CORPUS.glob("*.md")), ids=lambda p: p.name)
def test_the_suggestion_fits_the_written_text(path: Path) -> None:
    document = load_document(path)
    counter = Counter.for_model("claude")
    size = counter.count(document.text)
    for budget in (size // 3, (2 * size) // 3):
        trimmer = InteractiveTrimmer.for_source(document, "claude", budget)
        text, viz = trimmer.measure_preview()
        protected = {r.id for r in document.rules if r.is_absolute}
        assert protected <= {r.id for r in trimmer.get_selected_rules()}
        assert viz.used_tokens == counter.count(text) == trimmer.get_comparison()["auto_suggestions"]["tokens_used"]
        alone = InteractiveTrimmer.for_source(document, "claude", budget, auto_apply_suggestions=False)
        alone.exclude_all_non_protected()
        floor = alone.get_budget_visualization().used_tokens  # the protected units and their headings
        assert viz.used_tokens <= max(budget, floor), (path.name, budget)
        assert viz.over_budget is (viz.used_tokens > budget)
    everything = InteractiveTrimmer.for_source(document, "claude", size)
    assert everything.preview() == document.text  # all kept: the file itself


def test_rules_files_are_written_in_the_agents_generated_layout() -> None:
    rules = load_rules(ROOT / "examples" / "rules.yaml")
    budget = fit(rules, "gemini", None).tokens // 2
    result = fit(rules, "gemini", budget)
    trimmer = InteractiveTrimmer.for_source(rules, "gemini", budget)
    assert trimmer.layout is not None and trimmer.layout.layout == "generated"
    trimmer.exclude_all_non_protected()
    for unit in result.included:
        trimmer.include_rule(unit.id)
    assert trimmer.preview() == result.text
    assert trimmer.get_budget_visualization().used_tokens == result.tokens
    with pytest.raises(ValueError, match="the markdown layout needs Markdown instruction files"):
        TextLayout(rules, "gemini", layout="markdown")
    with pytest.raises(TypeError, match=r"rules\[0\] must be a MemoryRule or MarkdownDocument, got str"):
        TextLayout(["text"], "gemini")  # type: ignore[list-item]


def test_rule_costs_are_the_target_models_counts() -> None:
    document = load_document(MONOREPO)
    trimmer = InteractiveTrimmer.for_source(document, "gpt-4", 4000)  # cl100k_base, not codex's o200k_base
    counter = Counter.for_model("gpt-4")
    assert {k: s.token_cost for k, s in trimmer.scores_by_id.items()} == {
        r.id: counter.count(rule_cost_text(r)) for r in document.rules}


def test_the_trimmer_names_are_exported_from_the_package() -> None:
    from ctxbudget import trimmer

    for name in ("BudgetVisualization", "InteractiveTrimmer", "RuleDisplay", "TrimDecision", "TrimDecisionType",
                 "TrimSession"):
        assert getattr(ctxbudget, name) is getattr(trimmer, name)
        assert name in ctxbudget.__all__
    assert [t.value for t in TrimDecisionType] == ["include", "exclude", "automatic", "manual"]
