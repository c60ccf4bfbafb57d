"""ClaudeBudgetManager: session spend, overhead only with rules, context window, thresholds, env detection."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime

import pytest

from ctxbudget.models.claude_ids import ClaudeModel
from ctxbudget.rules import MemoryRule
from ctxbudget.tokenizers.base import TokenizerType
from ctxbudget.tokenizers.factory import register_backend
from ctxbudget.tracking.claude_session import ClaudeBudgetManager


class Words:
    tokenizer_id = "stub:words@1"
    tokenizer_type = TokenizerType.CLAUDE
    exact = False

    def count(self, text: str) -> int:
        return max(1, len(text.split()))

    def count_batch(self, texts: list[str]) -> list[int]:
        return [self.count(t) for t in texts]


@pytest.fixture(autouse=True)
def words() -> None:
    register_backend("claude", Words())


def rule(rid: str, n_words: int, authority: str = "default") -> MemoryRule:
    return MemoryRule(rid, "behavior", rid, " ".join(["w"] * (n_words - 1)), authority, [],
                      created_at=datetime(2025, 1, 1, tzinfo=UTC))


@pytest.mark.guarantee(40)
def test_fifty_empty_calls_spend_nothing() -> None:
    manager = ClaudeBudgetManager(custom_budget_limit=10_000)
    for _ in range(50):
        result = manager.allocate_budget([])
        assert result.context_overhead_tokens == 0
    assert manager.session_stats.total_tokens_used == 0
    assert manager.session_stats.interaction_count == 50


@pytest.mark.guarantee(43)
def test_query_tokens_accumulate_and_query_text_is_counted() -> None:
    manager = ClaudeBudgetManager(custom_budget_limit=10_000)
    manager.allocate_budget([], user_query_tokens=100)
    manager.allocate_budget([], user_query_tokens=150)
    assert manager.session_stats.total_tokens_used == 250
    assert manager.session_stats.total_user_tokens == 250
    manager.allocate_budget([], user_query="three word query")
    assert manager.session_stats.total_user_tokens == 253


def test_overhead_charged_when_rules_are_injected() -> None:
    manager = ClaudeBudgetManager(custom_budget_limit=1000, overhead_percentage=0.1)
    result = manager.allocate_budget([rule("a", 10)], user_query_tokens=100)
    # available = 1000 - 100 = 900, overhead floor(900 * 0.1) = 90
    assert result.total_budget == 900
    assert result.context_overhead_tokens == 90
    assert manager.session_stats.total_tokens_used == 10 + 90 + 100
    assert manager.session_stats.total_context_tokens == 100


@pytest.mark.guarantee(41)
def test_never_allocates_beyond_context_window() -> None:
    manager = ClaudeBudgetManager(custom_budget_limit=1_000_000, context_window=50, overhead_percentage=0.0)
    result = manager.allocate_budget([rule("big", 60), rule("small", 20)], user_query_tokens=10)
    assert result.total_budget == 40
    assert [r.id for r in result.rules_included] == ["small"]


@pytest.mark.guarantee(43)
def test_zero_custom_limit_is_honoured_and_negative_rejected() -> None:
    manager = ClaudeBudgetManager(custom_budget_limit=0)
    assert manager.budget_limit == 0
    result = manager.allocate_budget([rule("a", 3)])
    assert result.rules_included == []
    assert manager.session_stats.utilization_percentage() == 0.0
    with pytest.raises(ValueError, match="custom_budget_limit"):
        ClaudeBudgetManager(custom_budget_limit=-1)


@pytest.mark.guarantee(39)
def test_thresholds_cross_once_and_log_once(caplog: pytest.LogCaptureFixture) -> None:
    manager = ClaudeBudgetManager(custom_budget_limit=1000)
    caplog.set_level(logging.INFO, logger="ctxbudget")
    assert manager.allocate_budget([], user_query_tokens=850).warning_level == 80
    assert manager.allocate_budget([], user_query_tokens=10).warning_level == 80
    assert manager.allocate_budget([], user_query_tokens=100).warning_level == 95
    assert manager.session_stats.warnings_triggered == [80, 90, 95]
    crossings = [r.getMessage() for r in caplog.records if "budget at" in r.getMessage()]
    assert [m.split(" - ")[0] for m in crossings] == ["INFO", "WARNING", "CRITICAL"]
    assert manager.session_stats.is_over_budget() is False
    assert manager.get_session_report()["warnings_triggered"] == [80, 90, 95]


def test_report_and_reset() -> None:
    clock = [datetime(2025, 5, 1, 12, 0, tzinfo=UTC)]
    manager = ClaudeBudgetManager(model="claude-3-7-sonnet-20250219", custom_budget_limit=500, now=lambda: clock[0])
    manager.allocate_budget([], user_query_tokens=50)
    report = manager.get_session_report()
    assert set(report) == {"session_id", "model", "budget_limit", "tokens_used", "context_tokens", "user_tokens",
                           "tokens_remaining", "utilization_percentage", "interaction_count", "started_at",
                           "last_interaction_at", "warnings_triggered", "is_over_budget",
                           "average_tokens_per_interaction"}
    assert (report["model"], report["tokens_used"], report["tokens_remaining"], report["utilization_percentage"]) == (
        "claude-3-7-sonnet-20250219", 50, 450, 10.0)
    assert report["session_id"].startswith("claude_session_20250501_120000_000000_")
    manager.reset_session("next")
    assert (manager.session_stats.session_id, manager.session_stats.total_tokens_used,
            manager.session_stats.budget_limit) == ("next", 0, 500)


def test_session_ids_unique_and_stats_locked() -> None:
    ids = {ClaudeBudgetManager().session_stats.session_id for _ in range(50)}
    assert len(ids) == 50
    manager = ClaudeBudgetManager(custom_budget_limit=10**9)

    def work() -> None:
        for _ in range(100):
            manager.allocate_budget([], user_query_tokens=7)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert manager.session_stats.total_tokens_used == 4 * 100 * 7
    assert manager.session_stats.interaction_count == 400


@pytest.mark.guarantee(42)
def test_model_ids_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert ClaudeBudgetManager(model="claude-sonnet-4-5").model is ClaudeModel.SONNET_4_5
    assert ClaudeBudgetManager.detect_model_from_environment() is ClaudeModel.DEFAULT
    monkeypatch.setenv("ANTHROPIC_MODEL", "claude-3-5-haiku-20241022")
    assert ClaudeBudgetManager.detect_model_from_environment() is ClaudeModel.HAIKU_3_5
    monkeypatch.setenv("CLAUDE_MODEL", "claude-opus-4-1")
    assert ClaudeBudgetManager.detect_model_from_environment() is ClaudeModel.OPUS_4_1


def test_context_window_comes_from_the_registry() -> None:
    assert ClaudeBudgetManager(model=ClaudeModel.OPUS_4_7).context_window == 1_000_000
    assert ClaudeBudgetManager(model=ClaudeModel.HAIKU_4_5).context_window == 200_000
    assert ClaudeBudgetManager(model=ClaudeModel.OPUS_4_7).budget_limit == 200_000
