"""RulePrioritizer: exact scores per strategy, ties, selection, adjustments, statistics."""

from __future__ import annotations

import math
import sys
import threading
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest

from conftest import WordBackend
from ctxbudget import TokenCounter
from ctxbudget.budget.prioritizer import (
    PrioritizationResult,
    PrioritizationStrategy,
    RulePrioritizer,
    RulePriorityScore,
)
from ctxbudget.rules import AuthorityLevel, MemoryCategory, MemoryRule
from ctxbudget.tokenizers.factory import register_backend

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)
LN4 = math.log(4.0)
TOL = 1e-9
S = PrioritizationStrategy



class StubTracker:
    """Duck-typed usage tracker: ``count_rule_uses`` only; records the tools it was asked about."""

    def __init__(self, uses: dict[str, tuple[int, datetime]]) -> None:
        self.uses = uses
        self.calls: list[str] = []

    def count_rule_uses(self, tool_name: str) -> dict[str, tuple[int, datetime]]:
        self.calls.append(tool_name)
        return dict(self.uses)


@pytest.fixture
def words() -> WordBackend:
    backend = WordBackend()
    register_backend("stub", backend)
    return backend


def make_rule(
    rid: str,
    text: str,
    *,
    authority: AuthorityLevel = AuthorityLevel.DEFAULT,
    scope: Sequence[str] = (),
    priority: float | None = None,
    metadata: dict[str, object] | None = None,
    created: datetime | None = None,
    updated: datetime | None = None,
) -> MemoryRule:
    return MemoryRule(
        id=rid, category=MemoryCategory.BEHAVIOR, name=rid, rule=text, authority=authority,
        scope=list(scope), created_at=created if created is not None else NOW - DAY, updated_at=updated,
        metadata=metadata, priority=priority,
    )


def sized(rid: str, cost: int, **kwargs: object) -> MemoryRule:
    """A rule whose cost text has exactly ``cost`` words (the source adds one)."""
    return make_rule(rid, " ".join(f"{rid}w{i}" for i in range(cost - 1)), **kwargs)  # type: ignore[arg-type]


def ids(rules: Sequence[MemoryRule]) -> list[str]:
    return [r.id for r in rules]


def prioritizer(**kwargs: object) -> RulePrioritizer:
    kwargs.setdefault("now", lambda: NOW)
    return RulePrioritizer(**kwargs)  # type: ignore[arg-type]


# -- the hand-computed case -------------------------------------------------------------------------------
#
# r_abs: ABSOLUTE, priority field 80 → A=1.0, P=0.8; cost text "Always run the tests python
#        source:user_explicit" = 6 words; updated 3 days before NOW; used 3 times → freq = ln 4 / 10; adj 0.
# r_def: DEFAULT, metadata priority 40 → A=0.5, P=0.4; cost text "Prefer short functions
#        source:user_explicit" = 4 words; created 45 days before NOW, never updated; unused; adj 0.1.

R_ABS_LAST_USED = NOW - DAY


def case_rules() -> list[MemoryRule]:
    return [
        make_rule("r_abs", "Always run the tests", authority=AuthorityLevel.ABSOLUTE, scope=["python"],
                  priority=80, created=NOW - 10 * DAY, updated=NOW - 3 * DAY),
        make_rule("r_def", "Prefer short functions", metadata={"priority": 40}, created=NOW - 45 * DAY),
    ]


def case_prioritizer(tracker: StubTracker | None = None, **kwargs: object) -> RulePrioritizer:
    p = prioritizer(usage_tracker=tracker or StubTracker({"r_abs": (3, R_ABS_LAST_USED)}), **kwargs)
    p.adjust_priority_from_usage("r_def", 2.0, learning_rate=0.05)  # adj = 0.1
    return p


ABS_BASE = 0.6 * 1.0 + 0.2 * 0.8 + 0.2 * (LN4 / 10)  # 0.787725887...
DEF_BASE = 0.6 * 0.5 + 0.2 * 0.4  # 0.38
ABS_HYBRID = {
    "authority": 1.0, "priority": 0.8, "adjustment": 0.0, "frequency": LN4 / 10,
    "base_value": ABS_BASE, "cost_benefit": ABS_BASE / 6, "recency": math.exp(-0.1), "age_days": 3.0,
    "weighted_importance": 0.5 * 0.94, "weighted_frequency": 0.3 * LN4 / 10,
    "weighted_recency": 0.2 * math.exp(-0.1),
}
DEF_HYBRID = {
    "authority": 0.5, "priority": 0.4, "adjustment": 0.1, "frequency": 0.0,
    "base_value": 0.38, "cost_benefit": 0.095, "recency": math.exp(-1.5), "age_days": 45.0,
    "weighted_importance": 0.5 * 0.57, "weighted_frequency": 0.0, "weighted_recency": 0.2 * math.exp(-1.5),
}
ABS_HYBRID_TOTAL = 0.47 + 0.03 * LN4 + 0.2 * math.exp(-0.1)
DEF_HYBRID_TOTAL = 0.285 + 0.2 * math.exp(-1.5)

# strategy → (expected order, {rule_id: (total_score, value_per_token, component_scores)})
EXPECTED: dict[PrioritizationStrategy, tuple[list[str], dict[str, tuple[float, float, dict[str, float]]]]] = {
    S.IMPORTANCE: (["r_abs", "r_def"], {
        "r_abs": (0.94, 0.94 / 6, {"authority": 1.0, "priority": 0.8, "adjustment": 0.0}),
        "r_def": (0.57, 0.57 / 4, {"authority": 0.5, "priority": 0.4, "adjustment": 0.1}),
    }),
    S.FREQUENCY: (["r_abs", "r_def"], {
        "r_abs": (LN4 / 10, LN4 / 60, {"frequency": LN4 / 10, "adjustment": 0.0}),
        "r_def": (0.1, 0.025, {"frequency": 0.0, "adjustment": 0.1}),
    }),
    S.COST_BENEFIT: (["r_def", "r_abs"], {
        "r_abs": (ABS_BASE / 6, ABS_BASE / 6,
                  {"base_value": ABS_BASE, "cost_benefit": ABS_BASE / 6, "adjustment": 0.0}),
        "r_def": (0.195, 0.095, {"base_value": 0.38, "cost_benefit": 0.095, "adjustment": 0.1}),
    }),
    S.RECENCY: (["r_abs", "r_def"], {
        "r_abs": (math.exp(-0.1), math.exp(-0.1) / 6, {"recency": math.exp(-0.1), "age_days": 3.0,
                                                        "adjustment": 0.0}),
        "r_def": (math.exp(-1.5) + 0.1, (math.exp(-1.5) + 0.1) / 4,
                  {"recency": math.exp(-1.5), "age_days": 45.0, "adjustment": 0.1}),
    }),
    S.HYBRID: (["r_abs", "r_def"], {
        "r_abs": (ABS_HYBRID_TOTAL, ABS_HYBRID_TOTAL / 6, ABS_HYBRID),
        "r_def": (DEF_HYBRID_TOTAL, DEF_HYBRID_TOTAL / 4, DEF_HYBRID),
    }),
    S.ADAPTIVE: (["r_abs", "r_def"], {
        "r_abs": (ABS_HYBRID_TOTAL, ABS_HYBRID_TOTAL / 6, {**ABS_HYBRID, "adaptive_adjustment": 0.0}),
        "r_def": (DEF_HYBRID_TOTAL + 0.2, (DEF_HYBRID_TOTAL + 0.2) / 4,
                  {**DEF_HYBRID, "adaptive_adjustment": 0.2}),
    }),
}


@pytest.mark.guarantee(17)
@pytest.mark.parametrize("strategy", list(S))
def test_each_strategy_scores_the_hand_computed_case(
    words: WordBackend, strategy: PrioritizationStrategy
) -> None:
    result = case_prioritizer().prioritize_rules(case_rules(), "stub", strategy)
    order, expected = EXPECTED[strategy]
    assert result.strategy is strategy
    assert ids(result.ranked_rules) == order
    assert [s.rule_id for s in result.priority_scores] == order
    assert result.total_rules == 2
    by_id = {s.rule_id: s for s in result.priority_scores}
    for rid, (total, vpt, components) in expected.items():
        score = by_id[rid]
        assert score.total_score == pytest.approx(total, abs=TOL)
        assert score.value_per_token == pytest.approx(vpt, abs=TOL)
        assert set(score.component_scores) == set(components)
        for key, value in components.items():
            assert score.component_scores[key] == pytest.approx(value, abs=TOL), key
    assert by_id["r_abs"].token_cost == 6
    assert by_id["r_def"].token_cost == 4
    assert result.total_value == pytest.approx(sum(t for t, _, _ in expected.values()), abs=TOL)


@pytest.mark.guarantee(26)
@pytest.mark.parametrize("strategy", [S.FREQUENCY, S.COST_BENEFIT, S.HYBRID, S.ADAPTIVE])
def test_usage_count_and_last_used_come_from_the_tracker(
    words: WordBackend, strategy: PrioritizationStrategy
) -> None:
    result = case_prioritizer().prioritize_rules(case_rules(), "stub", strategy)
    by_id = {s.rule_id: s for s in result.priority_scores}
    assert (by_id["r_abs"].usage_count, by_id["r_abs"].last_used) == (3, R_ABS_LAST_USED)
    assert (by_id["r_def"].usage_count, by_id["r_def"].last_used) == (0, None)


def test_default_strategy_is_the_constructor_strategy(words: WordBackend) -> None:
    p = case_prioritizer(strategy="recency")
    assert p.strategy is S.RECENCY
    result = p.prioritize_rules(case_rules(), "stub")
    assert result.strategy is S.RECENCY
    assert result.priority_scores[0].total_score == pytest.approx(math.exp(-0.1), abs=TOL)


def test_unknown_strategy_raises(words: WordBackend) -> None:
    with pytest.raises(ValueError, match="unknown prioritization strategy"):
        prioritizer(strategy="loudest")
    with pytest.raises(ValueError, match="unknown prioritization strategy"):
        prioritizer().prioritize_rules(case_rules(), "stub", "loudest")


def test_weights_are_normalised(words: WordBackend) -> None:
    p = case_prioritizer(importance_weight=2, frequency_weight=1, recency_weight=1)
    assert (p.importance_weight, p.frequency_weight, p.recency_weight) == (0.5, 0.25, 0.25)
    score = p.prioritize_rules(case_rules(), "stub", S.HYBRID).priority_scores[0]
    assert score.rule_id == "r_abs"
    assert score.total_score == pytest.approx(0.5 * 0.94 + 0.25 * LN4 / 10 + 0.25 * math.exp(-0.1), abs=TOL)


@pytest.mark.parametrize(
    "weights",
    [(-0.1, 0.5, 0.6), (0.5, -1.0, 0.5), (0.5, 0.5, -0.01), (0.0, 0.0, 0.0), (math.nan, 0.5, 0.5),
     (math.inf, 0.5, 0.5)],
)
def test_invalid_weights_raise(weights: tuple[float, float, float]) -> None:
    wi, wf, wr = weights
    with pytest.raises(ValueError):
        RulePrioritizer(importance_weight=wi, frequency_weight=wf, recency_weight=wr)


def test_zero_weights_are_allowed_when_the_sum_is_positive() -> None:
    p = RulePrioritizer(importance_weight=0.0, frequency_weight=0.0, recency_weight=3.0)
    assert (p.importance_weight, p.frequency_weight, p.recency_weight) == (0.0, 0.0, 1.0)


# -- priority and ties ------------------------------------------------------------------------------------


@pytest.mark.guarantee(17)
@pytest.mark.parametrize("how", ["field", "metadata"])
def test_priority_100_beats_10(words: WordBackend, how: str) -> None:
    def pri(value: float) -> dict[str, object]:
        return {"priority": value} if how == "field" else {"metadata": {"priority": value}}

    low = make_rule("low", "Low priority rule", created=NOW - DAY, **pri(10))  # type: ignore[arg-type]
    high = make_rule("high", "High priority rule", created=NOW - 2 * DAY, **pri(100))  # type: ignore[arg-type]
    result = prioritizer().prioritize_rules([low, high], "stub", S.IMPORTANCE)
    assert ids(result.ranked_rules) == ["high", "low"]
    assert [s.total_score for s in result.priority_scores] == pytest.approx([0.65, 0.38], abs=TOL)


@pytest.mark.guarantee(18)
def test_equal_scores_go_newest_first_then_input_order(words: WordBackend) -> None:
    rules = [
        sized("old_a", 3, created=NOW - 5 * DAY),
        sized("new_a", 3, created=NOW - DAY),
        sized("new_b", 3, created=NOW - DAY),
        sized("old_b", 3, created=NOW - 5 * DAY),
    ]
    result = prioritizer().prioritize_rules(rules, "stub", S.IMPORTANCE)
    assert [s.total_score for s in result.priority_scores] == pytest.approx([0.5] * 4, abs=TOL)
    assert ids(result.ranked_rules) == ["new_a", "new_b", "old_a", "old_b"]


@pytest.mark.guarantee(18)
def test_equal_scores_break_on_priority_before_age(words: WordBackend) -> None:
    # FREQUENCY with no usage: every score is 0.0, so order is the ranking key alone.
    rules = [
        sized("p10_new", 3, priority=10, created=NOW),
        sized("p100_old", 3, metadata={"priority": 100}, created=NOW - 9 * DAY),
        sized("p50", 3, created=NOW - DAY),
    ]
    result = prioritizer().prioritize_rules(rules, "stub", S.FREQUENCY)
    assert [s.total_score for s in result.priority_scores] == [0.0, 0.0, 0.0]
    assert ids(result.ranked_rules) == ["p100_old", "p50", "p10_new"]


def test_scores_are_ordered_by_total_score() -> None:
    rule = sized("r", 3)
    low = RulePriorityScore("a", rule, 0.2, token_cost=99)
    high = RulePriorityScore("b", rule, 0.9)
    same = RulePriorityScore("c", rule, 0.2)
    assert low < high
    assert high > low
    assert low <= same
    assert low >= same
    assert not low < same
    assert sorted([high, low]) == [low, high]
    assert max([low, high, same]) is high
    with pytest.raises(TypeError):
        _ = low < 0.5


# -- costing and usage: once per pass ---------------------------------------------------------------------


@pytest.mark.guarantee(24)
def test_each_pass_costs_every_rule_in_one_batch_call(words: WordBackend) -> None:
    TokenCounter.reset_cache()  # no process-wide cache: every pass reaches the backend
    p = case_prioritizer()
    rules = case_rules()
    expected_texts = ["Always run the tests python source:user_explicit",
                      "Prefer short functions source:user_explicit"]
    p.prioritize_rules(rules, "stub", S.HYBRID)
    assert words.batches == [expected_texts]
    p.prioritize_rules(rules, "stub", S.COST_BENEFIT)
    assert words.batches == [expected_texts, expected_texts]
    p.select_top_rules(rules, "stub", 100)
    assert words.batches == [expected_texts] * 3
    assert words.singles == []


@pytest.mark.guarantee(24)
def test_an_empty_pass_costs_nothing(words: WordBackend) -> None:
    result = prioritizer().prioritize_rules([], "stub", S.HYBRID)
    assert words.batches == []
    assert result == PrioritizationResult(S.HYBRID, [], [], 0, 0.0, {"strategy": "hybrid", "total_rules": 0})


@pytest.mark.guarantee(23)
def test_use_accurate_counting_false_uses_the_estimate(words: WordBackend) -> None:
    rule = make_rule("r", "Prefer short functions")  # cost text is 43 characters → 43 // 4 = 10
    score = prioritizer(use_accurate_counting=False).prioritize_rules([rule], "stub").priority_scores[0]
    assert score.token_cost == 10
    assert words.batches == []


@pytest.mark.guarantee(26)
def test_usage_is_read_once_per_pass(words: WordBackend) -> None:
    tracker = StubTracker({"r_abs": (3, R_ABS_LAST_USED)})
    p = case_prioritizer(tracker)
    p.prioritize_rules(case_rules() * 5, "stub", S.ADAPTIVE)
    assert tracker.calls == ["stub"]
    p.select_top_rules(case_rules() * 5, "stub", 100, S.FREQUENCY)
    assert tracker.calls == ["stub", "stub"]
    p.prioritize_rules(case_rules(), "stub", S.IMPORTANCE)  # no frequency term: no scan at all
    assert tracker.calls == ["stub", "stub"]


@pytest.mark.guarantee(26)
def test_a_tracker_without_count_rule_uses_means_no_usage(words: WordBackend) -> None:
    p = prioritizer(usage_tracker=object())
    score = p.prioritize_rules([case_rules()[0]], "stub", S.FREQUENCY).priority_scores[0]
    assert (score.total_score, score.usage_count, score.last_used) == (0.0, 0, None)


@pytest.mark.guarantee(26)
def test_real_usage_tracker_counts_operations_tagged_with_the_rule(words: WordBackend) -> None:
    from ctxbudget.tracking.usage import OperationType, TokenUsageTracker

    clock = [NOW - 9 * DAY]
    tracker = TokenUsageTracker(now=lambda: clock[0])
    for days_ago, tool, rid in [(3, "stub", "r_abs"), (2, "stub", "r_abs"), (1, "other", "r_abs"),
                                (1, "stub", "r_def"), (0, "stub", None)]:
        clock[0] = NOW - days_ago * DAY
        metadata = {"rule_id": rid} if rid is not None else {}
        tracker.track_operation(tool, OperationType.RULE_RETRIEVAL, 5, metadata=metadata)
    result = prioritizer(usage_tracker=tracker).prioritize_rules(case_rules(), "stub", S.FREQUENCY)
    by_id = {s.rule_id: s for s in result.priority_scores}
    assert (by_id["r_abs"].usage_count, by_id["r_abs"].last_used) == (2, NOW - 2 * DAY)
    assert by_id["r_abs"].total_score == pytest.approx(math.log(3) / 10, abs=TOL)
    assert (by_id["r_def"].usage_count, by_id["r_def"].last_used) == (1, NOW - DAY)
    assert by_id["r_def"].total_score == pytest.approx(math.log(2) / 10, abs=TOL)


# -- time -------------------------------------------------------------------------------------------------


@pytest.mark.guarantee(26)
def test_future_timestamps_score_full_recency(words: WordBackend) -> None:
    rule = make_rule("future", "From the future", created=NOW + 10 * DAY)
    score = prioritizer().prioritize_rules([rule], "stub", S.RECENCY).priority_scores[0]
    assert score.component_scores["age_days"] == 0.0
    assert score.total_score == 1.0


@pytest.mark.guarantee(26)
def test_naive_now_and_naive_rule_times_are_read_as_utc(words: WordBackend) -> None:
    rule = make_rule("naive", "Naive timestamps", created=datetime(2024, 5, 1), updated=datetime(2024, 5, 2))
    p = RulePrioritizer(now=lambda: datetime(2024, 6, 1))
    score = p.prioritize_rules([rule], "stub", S.RECENCY).priority_scores[0]
    assert score.component_scores["age_days"] == 30.0
    assert score.total_score == pytest.approx(math.exp(-1.0), abs=TOL)


def test_recency_half_life_is_about_20_8_days(words: WordBackend) -> None:
    half_life = 30 * math.log(2)
    rule = make_rule("half", "Half way", created=NOW - timedelta(days=half_life))
    score = prioritizer().prioritize_rules([rule], "stub", S.RECENCY).priority_scores[0]
    assert score.total_score == pytest.approx(0.5, abs=TOL)
    assert round(half_life, 1) == 20.8


# -- statistics -------------------------------------------------------------------------------------------


def adjusted_frequency_rules(p: RulePrioritizer, values: dict[str, tuple[float, int]]) -> list[MemoryRule]:
    """FREQUENCY with no usage scores exactly the adjustment; set each rule's adjustment to ``value``."""
    rules = []
    for rid, (value, cost) in values.items():
        p.adjust_priority_from_usage(rid, value, learning_rate=1.0)
        rules.append(sized(rid, cost))
    return rules


def bands(stats: dict[str, object]) -> tuple[object, object, object]:
    return stats["high_priority_count"], stats["medium_priority_count"], stats["low_priority_count"]


def test_statistics_are_exact_for_three_rules(words: WordBackend) -> None:
    p = prioritizer(strategy=S.FREQUENCY)
    rules = adjusted_frequency_rules(p, {"low": (0.1, 5), "high": (0.9, 3), "mid": (0.3, 4)})
    result = p.prioritize_rules(rules, "stub")
    assert ids(result.ranked_rules) == ["high", "mid", "low"]
    assert result.total_value == pytest.approx(1.3, abs=TOL)
    mean = 1.3 / 3
    stdev = math.sqrt(((0.9 - mean) ** 2 + (0.3 - mean) ** 2 + (0.1 - mean) ** 2) / 2)
    stats = result.statistics
    assert set(stats) == {
        "strategy", "total_rules", "score_mean", "score_median", "score_stdev", "score_min", "score_max",
        "token_cost_total", "token_cost_mean", "value_per_token_mean", "high_priority_count",
        "medium_priority_count", "low_priority_count",
    }
    assert stats["strategy"] == "frequency"
    assert stats["total_rules"] == 3
    assert stats["score_mean"] == pytest.approx(mean, abs=TOL)
    assert stats["score_median"] == pytest.approx(0.3, abs=TOL)
    assert stats["score_stdev"] == pytest.approx(stdev, abs=TOL)
    assert stats["score_min"] == pytest.approx(0.1, abs=TOL)
    assert stats["score_max"] == pytest.approx(0.9, abs=TOL)
    assert stats["token_cost_total"] == 12
    assert stats["token_cost_mean"] == 4.0
    assert stats["value_per_token_mean"] == pytest.approx((0.9 / 3 + 0.3 / 4 + 0.1 / 5) / 3, abs=TOL)
    assert bands(stats) == (1, 1, 1)


def test_priority_bands_include_both_medium_boundaries(words: WordBackend) -> None:
    p = prioritizer(strategy=S.FREQUENCY)
    rules = adjusted_frequency_rules(
        p, {"a": (0.7, 2), "b": (0.3, 2), "c": (0.7000001, 2), "d": (0.2999999, 2), "e": (0.5, 2)}
    )
    stats = p.prioritize_rules(rules, "stub").statistics
    assert bands(stats) == (1, 3, 1)


def test_one_rule_has_zero_stdev(words: WordBackend) -> None:
    stats = prioritizer().prioritize_rules([sized("only", 3)], "stub", S.IMPORTANCE).statistics
    assert stats["score_stdev"] == 0.0
    assert stats["score_median"] == pytest.approx(0.5, abs=TOL)
    assert stats["total_rules"] == 1


# -- select_top_rules -------------------------------------------------------------------------------------


def three_defaults() -> list[MemoryRule]:
    # IMPORTANCE ranks by priority: first (0.62, cost 6), big (0.59, cost 10), small (0.56, cost 4).
    return [sized("small", 4, priority=70), sized("big", 10, priority=80), sized("first", 6, priority=90)]


@pytest.mark.guarantee(19)
def test_select_skips_what_does_not_fit_and_continues(words: WordBackend) -> None:
    selected, skipped = prioritizer().select_top_rules(three_defaults(), "stub", 10, S.IMPORTANCE)
    assert ids(selected) == ["first", "small"]  # 6 + 4 == 10: exactly the budget
    assert ids(skipped) == ["big"]


@pytest.mark.guarantee(19)
def test_select_never_exceeds_the_budget(words: WordBackend) -> None:
    selected, skipped = prioritizer().select_top_rules(three_defaults(), "stub", 9, S.IMPORTANCE)
    assert ids(selected) == ["first"]
    assert ids(skipped) == ["big", "small"]
    selected, skipped = prioritizer().select_top_rules(three_defaults(), "stub", 0, S.IMPORTANCE)
    assert (ids(selected), ids(skipped)) == ([], ["first", "big", "small"])


@pytest.mark.guarantee(23)
def test_select_honours_cost_benefit_threshold(words: WordBackend) -> None:
    # value_per_token (IMPORTANCE) = total / cost: first 0.62/6 ≈ 0.1033, big 0.59/10 = 0.059,
    # small 0.56/4 = 0.14.
    p = prioritizer(cost_benefit_threshold=0.1)
    assert p.cost_benefit_threshold == 0.1
    selected, skipped = p.select_top_rules(three_defaults(), "stub", 100, S.IMPORTANCE)
    assert (ids(selected), ids(skipped)) == (["first", "small"], ["big"])
    selected, skipped = prioritizer(cost_benefit_threshold=0.12).select_top_rules(
        three_defaults(), "stub", 100, S.IMPORTANCE
    )
    assert (ids(selected), ids(skipped)) == (["small"], ["first", "big"])


@pytest.mark.guarantee(23)
def test_cost_benefit_threshold_uses_base_per_token_for_cost_benefit(words: WordBackend) -> None:
    # COST_BENEFIT value_per_token = base / cost, without the adjustment: r_def 0.38/4 = 0.095.
    p = case_prioritizer(cost_benefit_threshold=0.0949)
    selected, skipped = p.select_top_rules(case_rules(), "stub", 100, S.COST_BENEFIT, protect_absolute=False)
    assert (ids(selected), ids(skipped)) == (["r_def", "r_abs"], [])
    p = case_prioritizer(cost_benefit_threshold=0.0951)
    selected, skipped = p.select_top_rules(case_rules(), "stub", 100, S.COST_BENEFIT, protect_absolute=False)
    assert (ids(selected), ids(skipped)) == (["r_abs"], ["r_def"])


def absolute_mix() -> list[MemoryRule]:
    return [
        sized("d_big", 4, priority=90),
        sized("abs", 8, authority=AuthorityLevel.ABSOLUTE, priority=10),
        sized("d_small", 2, priority=60),
    ]


@pytest.mark.guarantee(25)
def test_protected_absolute_rules_come_first_and_use_budget(words: WordBackend) -> None:
    p = prioritizer(cost_benefit_threshold=1.0)  # no DEFAULT rule passes; protection ignores it
    selected, skipped = p.select_top_rules(absolute_mix(), "stub", 5, S.IMPORTANCE)
    assert (ids(selected), ids(skipped)) == (["abs"], ["d_big", "d_small"])
    selected, skipped = prioritizer().select_top_rules(absolute_mix(), "stub", 10, S.IMPORTANCE)
    assert (ids(selected), ids(skipped)) == (["abs", "d_small"], ["d_big"])  # 8 + 2 == 10


@pytest.mark.guarantee(25)
def test_unprotected_absolute_rules_compete_as_ordinary_candidates(words: WordBackend) -> None:
    # IMPORTANCE: abs 0.73 ranks first, then d_big 0.62, d_small 0.53.
    selected, skipped = prioritizer().select_top_rules(absolute_mix(), "stub", 6, S.IMPORTANCE,
                                                        protect_absolute=False)
    assert (ids(selected), ids(skipped)) == (["d_big", "d_small"], ["abs"])
    selected, skipped = prioritizer().select_top_rules(absolute_mix(), "stub", 10, S.IMPORTANCE,
                                                        protect_absolute=False)
    assert (ids(selected), ids(skipped)) == (["abs", "d_small"], ["d_big"])
    # Subject to the threshold too: abs 0.73/8 = 0.09125 < 0.1 ≤ d_small 0.53/2.
    selected, skipped = prioritizer(cost_benefit_threshold=0.1).select_top_rules(
        absolute_mix(), "stub", 100, S.IMPORTANCE, protect_absolute=False
    )
    assert (ids(selected), ids(skipped)) == (["d_big", "d_small"], ["abs"])


@pytest.mark.guarantee(20)
@pytest.mark.guarantee(21)
def test_duplicates_are_accounted_by_position(words: WordBackend) -> None:
    rule = sized("dup", 3)
    selected, skipped = prioritizer().select_top_rules([rule, rule, rule], "stub", 7, S.IMPORTANCE)
    assert (len(selected), len(skipped)) == (2, 1)
    assert words.batches == [["dupw0 dupw1 source:user_explicit"]]


def test_negative_budget_raises(words: WordBackend) -> None:
    with pytest.raises(ValueError, match="budget"):
        prioritizer().select_top_rules(three_defaults(), "stub", -1)


# -- adjustments ------------------------------------------------------------------------------------------


@pytest.mark.guarantee(26)
def test_learning_rate_zero_is_honoured(words: WordBackend) -> None:
    p = prioritizer(adaptive_learning_rate=0.1)
    assert p.adjust_priority_from_usage("r", 5.0, learning_rate=0) == 0.0
    assert p.get_priority_adjustment("r") == 0.0
    p.adjust_priority_from_usage("r", 2.0)  # default rate 0.1
    assert p.get_priority_adjustment("r") == pytest.approx(0.2, abs=TOL)
    p.adjust_priority_from_usage("r", 7.0, learning_rate=0.0)
    assert p.get_priority_adjustment("r") == pytest.approx(0.2, abs=TOL)
    frozen = prioritizer(adaptive_learning_rate=0.0)
    frozen.adjust_priority_from_usage("r", 9.0)
    assert frozen.get_priority_adjustment("r") == 0.0


def test_adjustments_clamp_to_minus_one_and_one(words: WordBackend) -> None:
    p = prioritizer()
    assert p.adjust_priority_from_usage("only", 50.0, learning_rate=0.1) == 1.0
    score = p.prioritize_rules([sized("only", 3)], "stub", S.IMPORTANCE).priority_scores[0]
    assert score.total_score == pytest.approx(1.5, abs=TOL)
    assert score.component_scores["adjustment"] == 1.0
    assert p.adjust_priority_from_usage("only", -100.0, learning_rate=0.1) == -1.0
    assert p.get_priority_adjustment("only") == -1.0
    assert p.adjust_priority_from_usage("only", 0.5, learning_rate=1.0) == -0.5


def test_adjustment_defaults_and_reset() -> None:
    p = prioritizer()
    assert p.get_priority_adjustment("never") == 0.0
    p.adjust_priority_from_usage("a", 3.0)
    assert p.get_priority_adjustment("a") == pytest.approx(0.3, abs=TOL)
    p.reset_priority_adjustments()
    assert p.get_priority_adjustment("a") == 0.0


@pytest.mark.parametrize("kwargs", [{"learning_rate": -0.1}, {"usage_value": math.nan}])
def test_bad_adjustment_inputs_raise(kwargs: dict[str, float]) -> None:
    args: dict[str, float] = {"usage_value": 1.0, **kwargs}
    p = prioritizer()
    with pytest.raises(ValueError):
        p.adjust_priority_from_usage("r", **args)
    assert p.get_priority_adjustment("r") == 0.0


def test_negative_adaptive_learning_rate_raises() -> None:
    with pytest.raises(ValueError, match="adaptive_learning_rate"):
        RulePrioritizer(adaptive_learning_rate=-0.5)


def test_concurrent_adjustments_are_not_lost() -> None:
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible to expose lost updates
    p = prioritizer()
    step = 1 / 16384  # exact in binary: no rounding in the sum
    try:
        def work() -> None:
            for _ in range(2000):
                p.adjust_priority_from_usage("shared", 1.0, learning_rate=step)

        threads = [threading.Thread(target=work) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(previous)
    assert p.get_priority_adjustment("shared") == 16000 / 16384
