"""Regression tests for defects found in review: each failed before its fix."""

from __future__ import annotations

import dataclasses
import pickle
import stat
import subprocess
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ctxbudget import MODEL_MAPPINGS, MemoryRule, TokenCountCache, TokenCounter, TokenizerFactory
from ctxbudget.counting.metrics import MetricsRecorder
from ctxbudget.rules import ranked_positions, rule_cost_text
from ctxbudget.tokenizers import openai as openai_mod
from ctxbudget.tracking.claude_session import ClaudeBudgetManager


@pytest.mark.guarantee(4)
def test_claude_model_variables_are_followed_after_first_use(monkeypatch: pytest.MonkeyPatch) -> None:
    assert TokenCounter.count_tokens_detailed("hello", "claude").tokenizer_id.startswith("ctok:claude-4.7@")
    monkeypatch.setenv("CLAUDE_MODEL", "claude-3-5-sonnet-20241022")
    assert TokenCounter.count_tokens_detailed("hello", "claude").tokenizer_id.startswith("ctok:claude-3@")
    assert TokenizerFactory.get_preferred_tokenizer_type("claude").value == "claude"
    monkeypatch.delenv("CLAUDE_MODEL")
    assert TokenCounter.count_tokens_detailed("hello", "claude").tokenizer_id.startswith("ctok:claude-4.7@")


def test_rules_are_deeply_frozen_so_cached_rank_and_cost_stay_true() -> None:
    t0 = datetime(2025, 1, 1, tzinfo=UTC)
    low = MemoryRule("a", "behavior", "a", "x", "default", ["py"], metadata={"priority": 10}, created_at=t0)
    high = MemoryRule("b", "behavior", "b", "y", "default", [], metadata={"priority": 50}, created_at=t0)
    with pytest.raises(TypeError, match="frozen"):
        low.metadata["priority"] = 100  # type: ignore[index]
    with pytest.raises(TypeError, match="frozen"):
        low.scope.append("git")
    assert ranked_positions([low, high]) == [1, 0]
    raised = dataclasses.replace(low, metadata={"priority": 100})
    assert ranked_positions([raised, high]) == [0, 1]
    assert rule_cost_text(low) == "x py source:user_explicit"
    assert pickle.loads(pickle.dumps(low)) == low
    assert low.to_dict()["scope"] == ["py"] and type(low.to_dict()["scope"]) is list


def test_reset_session_keeps_warning_callbacks() -> None:
    manager = ClaudeBudgetManager(custom_budget_limit=100)
    seen: list[str] = []
    manager.warning_system.register_callback(lambda event: seen.append(event.level.value))
    manager.reset_session()
    manager.allocate_budget([], user_query_tokens=99)
    assert seen == ["info", "warning", "critical"]


@pytest.mark.parametrize(("ttl", "expires"), [(1e-10, True), (float("inf"), False), (0, False)])
def test_extreme_ttls(ttl: float, expires: bool) -> None:
    clock = [0.0]
    cache = TokenCountCache(ttl=ttl, timer=lambda: clock[0])
    cache.set("a", "t", 5)
    clock[0] = 100.0
    assert (cache.get("a", "t") is None) is expires


def test_nan_ttl_and_huge_counts_rejected_with_clear_messages() -> None:
    with pytest.raises(ValueError, match="ttl must be a number"):
        TokenCountCache(ttl=float("nan"))
    with pytest.raises(ValueError, match="exceeds the cache's limit"):
        TokenCountCache().set("a", "t", 1 << 63)


def test_broken_pipe_is_not_an_error(tmp_path: Path) -> None:
    for i in range(300):
        (tmp_path / f"f{i:03}.md").write_text("hello world " * 50, encoding="utf-8")
    exe = Path(sys.executable).parent / "ctxbudget"
    proc = subprocess.run(f"'{exe}' count -m codex '{tmp_path}' | head -1", shell=True, capture_output=True,
                          text=True, check=False)
    assert proc.stdout.startswith("file")
    assert proc.stderr == ""


def test_directory_without_text_files_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from ctxbudget.cli.main import main

    (tmp_path / "image.png").write_bytes(b"\x89PNG")
    assert main(["count", str(tmp_path)]) == 2
    assert "no text files" in capsys.readouterr().err


def test_vocab_cache_written_by_someone_else_is_not_loaded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CTXBUDGET_CACHE_DIR", str(tmp_path))
    TokenizerFactory.clear_cache()
    ranks = openai_mod.load_mergeable_ranks("cl100k_base")
    derived = next(tmp_path.glob("cl100k_base-*.marshal"))
    assert stat.S_IMODE(derived.stat().st_mode) == 0o600
    derived.chmod(0o666)  # writable by others: not trusted
    assert openai_mod._read_derived(derived) is None
    derived.chmod(0o600)
    assert openai_mod._read_derived(derived) == ranks


def test_metrics_of_finished_threads_are_kept() -> None:
    recorder = MetricsRecorder()

    def work() -> None:
        recorder.record(3, 1, 1, 0.5, 3)

    threads = [threading.Thread(target=work) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    del threads, thread
    import gc

    gc.collect()
    snapshot = recorder.snapshot(cache_enabled=False)
    assert (snapshot.total_counts, snapshot.cache_hits, snapshot.cache_misses) == (15, 5, 5)
    assert snapshot.total_time_ms == pytest.approx(2500.0)


def test_model_mappings_keys_are_case_insensitive() -> None:
    MODEL_MAPPINGS["MyTool"] = "cl100k_base"
    try:
        assert "mytool" in MODEL_MAPPINGS and "MYTOOL" in MODEL_MAPPINGS
        assert MODEL_MAPPINGS["MyTool"] == "cl100k_base"
        assert TokenCounter.count_tokens("Привет", "mytool") == TokenizerFactory.get_openai_backend(
            "cl100k_base").count("Привет")
    finally:
        del MODEL_MAPPINGS["MyTool"]
    assert "mytool" not in MODEL_MAPPINGS


def test_non_str_tool_name_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="tool_name must be str"):
        TokenCounter.count_tokens("x", None)  # type: ignore[arg-type]
