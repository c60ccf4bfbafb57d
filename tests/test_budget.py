"""TokenBudgetManager: strategies, overhead, absolute protection, compression, cache policy, properties."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import WordBackend
from ctxbudget import TokenCountCache, TokenCounter, fit
from ctxbudget.budget import AllocationStrategy, CompressionStrategy, TokenBudgetManager
from ctxbudget.budget.manager import overhead_for
from ctxbudget.rules import MemoryRule, rule_cost_text
from ctxbudget.tokenizers.factory import register_backend

T0 = datetime(2025, 1, 1, tzinfo=UTC)



@pytest.fixture
def words() -> WordBackend:
    backend = WordBackend()
    register_backend("stub", backend)
    return backend


def rule(rid: str, words: int, *, authority: str = "default", priority: float | None = None,
         category: str = "behavior", age_days: int = 0, metadata: dict | None = None,
         scope: list[str] | None = None, text: str | None = None) -> MemoryRule:
    """A rule whose cost text has exactly ``words`` words (rule text words + 1 for 'source:...')."""
    body = text if text is not None else " ".join(["w"] * (words - 1))
    return MemoryRule(rid, category, rid, body, authority, scope or [], priority=priority,
                      created_at=T0 - timedelta(days=age_days), metadata=metadata)


def manager(**kwargs: object) -> TokenBudgetManager:
    kwargs.setdefault("overhead_percentage", 0.0)
    return TokenBudgetManager(**kwargs)  # type: ignore[arg-type]


def ids(rules: Sequence[MemoryRule]) -> list[str]:
    return [r.id for r in rules]


@pytest.mark.guarantee(17)
def test_priority_100_beats_10_field_and_metadata(words: WordBackend) -> None:
    for high, low in (
        (rule("high", 5, priority=100), rule("low", 5, priority=10)),
        (rule("high", 5, metadata={"priority": 100}), rule("low", 5, metadata={"priority": 10})),
    ):
        alloc = manager().allocate_budget([low, high], 5, "stub")
        assert ids(alloc.rules_included) == ["high"]
        assert ids(alloc.rules_skipped) == ["low"]


@pytest.mark.guarantee(18)
def test_ties_newest_first_then_input_order(words: WordBackend) -> None:
    old, new, new2 = rule("old", 3, age_days=5), rule("new", 3), rule("new2", 3)
    alloc = manager().allocate_budget([old, new, new2], 6, "stub")
    assert ids(alloc.rules_included) == ["new", "new2"]


@pytest.mark.guarantee(19)
def test_big_then_small_skips_and_continues(words: WordBackend) -> None:
    alloc = manager().allocate_budget([rule("big", 8, priority=90), rule("small", 3, priority=10)], 5, "stub")
    assert ids(alloc.rules_included) == ["small"]
    assert alloc.default_tokens == 3
    assert alloc.allocation_stats["skipped_count"] == 1


@pytest.mark.guarantee(21)
def test_three_identical_rules_all_accounted(words: WordBackend) -> None:
    same = rule("dup", 4)
    alloc = manager().allocate_budget([same, same, same], 8, "stub")
    assert len(alloc.rules_included) == 2
    assert len(alloc.rules_skipped) == 1
    assert alloc.allocation_stats["included_indices"] == [0, 1]
    assert alloc.allocation_stats["skipped_indices"] == [2]
    assert alloc.default_tokens == 8


@pytest.mark.guarantee(22)
def test_overhead_is_exact_decimal() -> None:
    assert overhead_for(1000, 0.10) == 100
    assert overhead_for(100, 0.57) == 57
    assert overhead_for(999, 0.05) == 49
    for bad in (-0.1, 1.0, 1.5, True):
        with pytest.raises(ValueError, match="overhead_percentage"):
            TokenBudgetManager(overhead_percentage=bad)  # type: ignore[arg-type]


def test_overhead_reduces_available(words: WordBackend) -> None:
    alloc = TokenBudgetManager(overhead_percentage=0.1).allocate_budget([rule("a", 10)], 10, "stub")
    assert (alloc.overhead_tokens, alloc.allocation_stats["available_tokens"]) == (1, 9)
    assert ids(alloc.rules_skipped) == ["a"]


@pytest.mark.parametrize("bad", [-1, 1.5, "100", True])
def test_bad_budget_raises(bad: object, words: WordBackend) -> None:
    with pytest.raises(ValueError, match="total_budget"):
        manager().allocate_budget([rule("a", 2)], bad, "stub")  # type: ignore[arg-type]


def test_none_budget_needs_config_and_config_is_used(words: WordBackend) -> None:
    with pytest.raises(ValueError, match="no budget config"):
        manager().allocate_budget([rule("a", 2)], None, "stub")

    class Config:
        def get_budget(self, tool_name: str | None = None, operation_type: object = None) -> int:
            return 7 if operation_type is None else 3

        def validate_budget(self, budget: int, tool_name: str | None = None) -> bool:
            return 1 <= budget <= 10

    m = manager(config=Config())
    assert m.allocate_budget([rule("a", 2)], None, "stub").total_budget == 7
    assert m.allocate_budget([rule("a", 2)], None, "stub", "user_query").total_budget == 3
    with pytest.raises(ValueError, match="outside the configured limits"):
        m.allocate_budget([rule("a", 2)], 11, "stub")


@pytest.mark.guarantee(20)
def test_protected_absolutes_over_budget_skip_every_default(words: WordBackend) -> None:
    rules = [rule("d1", 2), rule("a1", 6, authority="absolute"), rule("a2", 6, authority="absolute")]
    alloc = manager().allocate_budget(rules, 10, "stub")
    assert ids(alloc.rules_included) == ["a1", "a2"]
    assert ids(alloc.rules_skipped) == ["d1"]
    stats = alloc.allocation_stats
    assert (stats["over_budget"], stats["overflow_tokens"], stats["absolute_skipped_count"]) == (True, 2, 0)
    assert alloc.absolute_tokens == 12


@pytest.mark.guarantee(25)
def test_unprotected_absolutes_compete_in_ranking_order(words: WordBackend) -> None:
    rules = [rule("a_low", 6, authority="absolute", priority=10), rule("a_high", 6, authority="absolute",
             priority=90), rule("a_small", 3, authority="absolute", priority=5), rule("d", 2)]
    alloc = manager(absolute_rules_protected=False).allocate_budget(rules, 11, "stub")
    assert ids(alloc.rules_included) == ["a_high", "a_small", "d"]
    assert ids(alloc.rules_skipped) == ["a_low"]
    stats = alloc.allocation_stats
    assert (stats["over_budget"], stats["absolute_skipped_count"], stats["absolute_count"]) == (False, 1, 2)


def test_round_robin_exact_selection_and_leftover_cascade(words: WordBackend) -> None:
    rules = [
        rule("b1", 4, category="behavior", priority=90), rule("p1", 2, category="preference", priority=80),
        rule("b2", 4, category="behavior", priority=70), rule("p2", 5, category="preference", priority=60),
        rule("g1", 9, category="agent", priority=50),
    ]
    # remaining 18 → share 6 each: behavior b1 (4); preference p1 (2) (p2 5 > 4 left); agent g1 9 > 6.
    # leftover 18 - 6 = 12 in ranking order: b2 (4) → 8 left, p2 (5) → 3 left, g1 9 no.
    alloc = manager(allocation_strategy=AllocationStrategy.ROUND_ROBIN).allocate_budget(rules, 18, "stub")
    assert ids(alloc.rules_included) == ["b1", "p1", "b2", "p2"]
    assert alloc.default_tokens == 15
    assert alloc.allocation_stats["strategy"] == "round_robin"


def test_equal_exact_selection_and_leftover(words: WordBackend) -> None:
    rules = [rule("a", 3, priority=10), rule("b", 7, priority=90), rule("c", 2, priority=50),
             rule("d", 6, priority=80)]
    # remaining 16 → share 4: pass 1 (input order) a (3), c (2); leftover 11 in ranking order: b (7) → 4, d 6 no.
    alloc = manager(allocation_strategy=AllocationStrategy.EQUAL).allocate_budget(rules, 16, "stub")
    assert ids(alloc.rules_included) == ["a", "c", "b"]
    assert alloc.default_tokens == 12


def test_stats_keys_are_uniform(words: WordBackend) -> None:
    expected = {"over_budget", "overflow_tokens", "available_tokens", "absolute_count", "absolute_skipped_count",
                "default_count", "skipped_count", "strategy", "utilization", "tokenizer_used", "tokenizer_id",
                "tokenizer_exact", "compression", "compressed_rules", "rule_tokens", "included_indices",
                "skipped_indices"}
    for strategy in AllocationStrategy:
        for rules in ([], [rule("a", 3)], [rule("x", 99, authority="absolute")]):
            alloc = manager(allocation_strategy=strategy).allocate_budget(rules, 10, "stub")
            assert set(alloc.allocation_stats) == expected
    empty = manager().allocate_budget([], 0, "stub")
    assert empty.allocation_stats["utilization"] == 0.0


def test_tokenizer_provenance_in_stats() -> None:
    alloc = manager().allocate_budget([rule("a", 3)], 100, "codex")
    assert alloc.allocation_stats["tokenizer_used"] == "tiktoken"
    assert alloc.allocation_stats["tokenizer_exact"] is True
    est = manager(use_accurate_counting=False).allocate_budget([rule("a", 3)], 100, "codex")
    assert est.allocation_stats["tokenizer_used"] == "estimation"
    assert est.absolute_tokens + est.default_tokens == int(len(rule_cost_text(rule("a", 3)).split()) * 1.3)


@pytest.mark.guarantee(24)
def test_each_rule_costed_once_per_allocation(words: WordBackend) -> None:
    rules = [rule(f"r{i}", 3) for i in range(10)]
    manager(enable_cache=False).allocate_budget(rules, 12, "stub")
    assert len(words.batches) == 1
    assert len(words.batches[0]) == 1  # ten identical cost texts: deduplicated in the one batch


@pytest.mark.guarantee(12)
def test_cache_policy() -> None:
    assert TokenBudgetManager(enable_cache=False).cache is None
    shared = TokenCounter.get_cache()
    assert shared is not None and (shared.maxsize, shared.ttl) == (1000, 300.0)  # a fresh process's default
    assert TokenBudgetManager().cache is shared  # the same size and TTL: shared
    other = TokenBudgetManager(cache_maxsize=70, cache_ttl=10.0)
    assert other.cache is not shared
    assert isinstance(other.cache, TokenCountCache)
    assert (other.cache.maxsize, other.cache.ttl) == (70, 10.0)


def test_building_a_manager_changes_no_global_state() -> None:
    """Review finding: a manager installed the process-wide cache, so fit() undid a user's reset_cache()."""
    TokenCounter.reset_cache()
    manager = TokenBudgetManager(cache_maxsize=50, cache_ttl=10.0)
    assert TokenCounter.get_cache() is None
    assert manager.cache is not None and (manager.cache.maxsize, manager.cache.ttl) == (50, 10.0)
    rules = [MemoryRule(id="a", category="behavior", name="a", rule="Run the tests.", authority="default",
                        scope=[])]
    fit(rules, "codex", 1000)
    assert TokenCounter.get_cache() is None
    replaced = TokenCounter.initialize_cache(maxsize=7)
    TokenBudgetManager()
    assert TokenCounter.get_cache() is replaced


def test_disabled_cache_really_disables(words: WordBackend) -> None:
    shared = TokenCounter.initialize_cache()
    m = manager(enable_cache=False)
    m.allocate_budget([rule("a", 3)], 10, "stub")
    m.allocate_budget([rule("a", 3)], 10, "stub")
    assert len(words.batches) == 2
    assert shared.get_statistics().misses == 0


def test_simple_compression_only_when_it_helps(words: WordBackend) -> None:
    scoped = rule("s", 0, text="keep it short", scope=["a", "b", "c"])  # cost 3 + 3 + 1 = 7, simple 3
    plain = rule("p", 4, priority=90)
    m = manager(compression_strategy=CompressionStrategy.SIMPLE)
    roomy = m.allocate_budget([plain, scoped], 11, "stub")
    assert roomy.compression_applied is False
    assert roomy.rules_included == [plain, scoped]
    tight = m.allocate_budget([plain, scoped], 7, "stub")
    assert tight.compression_applied is True
    assert ids(tight.rules_included) == ["p", "s"]
    squeezed = tight.rules_included[1]
    assert (squeezed.scope, squeezed.source, squeezed.metadata) == ([], "", {"compressed": "simple"})
    assert tight.allocation_stats["compressed_rules"][-1] == {"index": 1, "id": "s", "mode": "simple", "tokens": 3}
    assert tight.default_tokens == 3 + 3
    uncompressed = manager().allocate_budget([plain, scoped], 7, "stub")
    assert ids(uncompressed.rules_skipped) == ["s"]


def test_intelligent_compression_shortens_at_sentence_boundaries(words: WordBackend) -> None:
    long_rule = rule("long", 0, text="First do this. Then do that thing. Finally report all results.", priority=10)
    head = rule("head", 0, text="one two three", priority=90)
    alloc = manager(compression_strategy=CompressionStrategy.INTELLIGENT).allocate_budget([head, long_rule], 10, "stub")
    assert alloc.compression_applied is True
    assert ids(alloc.rules_included) == ["head", "long"]
    short = alloc.rules_included[1]
    assert short.rule == "First do this. Then do that thing."
    assert short.metadata == {"compressed": "intelligent", "shortened": True}
    assert alloc.default_tokens == 3 + 7
    assert alloc.allocation_stats["compressed_rules"][-1]["mode"] == "intelligent"


rule_strategy = st.builds(
    lambda i, w, absolute, prio, cat, age: rule(f"r{i}", w, authority="absolute" if absolute else "default",
                                                 priority=prio, category=cat, age_days=age),
    st.integers(0, 5), st.integers(2, 12), st.booleans(),
    st.none() | st.integers(0, 100), st.sampled_from(["behavior", "preference", "agent"]), st.integers(0, 3),
)


@settings(max_examples=150, deadline=None)
@given(
    rules=st.lists(rule_strategy, max_size=12),
    budget=st.integers(0, 80),
    strategy=st.sampled_from(list(AllocationStrategy)),
    compression=st.sampled_from(list(CompressionStrategy)),
    protected=st.booleans(),
    overhead=st.sampled_from([0.0, 0.05, 0.1]),
)
def test_allocation_properties(
    rules: list[MemoryRule], budget: int, strategy: AllocationStrategy, compression: CompressionStrategy,
    protected: bool, overhead: float,
) -> None:
    register_backend("stub", WordBackend())
    m = TokenBudgetManager(allocation_strategy=strategy, compression_strategy=compression,
                           absolute_rules_protected=protected, overhead_percentage=overhead, enable_cache=False)
    alloc = m.allocate_budget(rules, budget, "stub")
    stats = alloc.allocation_stats
    inc, skip = stats["included_indices"], stats["skipped_indices"]
    assert sorted(inc + skip) == list(range(len(rules)))  # a permutation: each input exactly once
    assert len(alloc.rules_included) == len(inc) and len(alloc.rules_skipped) == len(skip)
    assert [alloc.rules_skipped[k] is rules[i] for k, i in enumerate(skip)] == [True] * len(skip)
    assert [r.id for r in alloc.rules_included] == [rules[i].id for i in inc]
    available = budget - alloc.overhead_tokens
    remaining = max(0, available - alloc.absolute_tokens)
    assert alloc.default_tokens <= remaining
    if not stats["over_budget"]:
        assert alloc.absolute_tokens + alloc.default_tokens <= available
    else:
        assert protected and stats["default_count"] == 0 and stats["overflow_tokens"] > 0
    if protected:
        assert [i for i in skip if rules[i].is_absolute] == []
    again = m.allocate_budget(rules, budget, "stub")
    assert again == alloc  # deterministic


@settings(max_examples=100, deadline=None)
@given(rules=st.lists(rule_strategy, max_size=10), budget=st.integers(0, 60))
def test_priority_strategy_never_prefers_lower_priority_of_equal_or_larger_size(
    rules: list[MemoryRule], budget: int
) -> None:
    from ctxbudget.rules import rule_priority

    register_backend("stub", WordBackend())
    alloc = manager(enable_cache=False).allocate_budget(rules, budget, "stub")
    cost = {i: len(rule_cost_text(rules[i]).split()) for i in range(len(rules))}
    inc, skip = alloc.allocation_stats["included_indices"], alloc.allocation_stats["skipped_indices"]
    defaults_in = [i for i in inc if not rules[i].is_absolute]
    for s in skip:
        if rules[s].is_absolute:
            continue
        for i in defaults_in:
            assert not (rule_priority(rules[s]) > rule_priority(rules[i]) and cost[i] >= cost[s])
