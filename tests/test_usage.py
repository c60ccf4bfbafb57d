"""Usage tracking: TokenUsageTracker, GlobalUsageTracker, SQLiteUsageStore (docs/guarantees.md, items 26–32)."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import stat
import subprocess
import sys
import textwrap
import threading
from collections import deque
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ctxbudget.tracking.usage import (
    RECENT_OPERATIONS_LIMIT,
    GlobalUsageTracker,
    OperationType,
    OperationUsage,
    SQLiteUsageStore,
    TokenUsageTracker,
    ToolUsageStats,
    default_usage_db_path,
)
from fakeclock import START, FakeClock

OT = OperationType


def make_tracker(clock: FakeClock, **kwargs: object) -> TokenUsageTracker:
    return TokenUsageTracker(now=clock.now, timer=clock.timer, **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


# -- basic recording -----------------------------------------------------------------------------------


def test_operation_type_values() -> None:
    assert [op.value for op in OperationType] == [
        "context_injection", "user_query", "rule_retrieval", "formatting", "compression", "search",
        "batch_processing", "other",
    ]


def test_track_operation_updates_totals_and_returns_record(clock: FakeClock) -> None:
    tracker = make_tracker(clock, session_id="s1")
    op = tracker.track_operation("claude", OT.CONTEXT_INJECTION, 120, metadata={"rule_id": "r1"})
    clock.advance(5)
    tracker.track_operation("claude", "user_query", 30)
    tracker.track_operation("codex", OT.SEARCH, 7)

    assert op.operation_type is OT.CONTEXT_INJECTION
    assert op.tokens_used == 120
    assert op.timestamp == START
    assert op.metadata == {"rule_id": "r1"}
    assert tracker.get_total_tokens() == 157
    stats = tracker.get_tool_stats("claude")
    assert stats is not None
    assert stats.total_tokens == 150
    assert stats.operation_counts == {"context_injection": 1, "user_query": 1}
    assert stats.operation_tokens == {"context_injection": 120, "user_query": 30}
    assert stats.first_operation_at == START
    assert stats.last_operation_at == START + timedelta(seconds=5)
    assert [o.tokens_used for o in stats.operations] == [120, 30]
    assert stats.get_average_tokens_per_operation() == 75.0
    assert stats.get_operation_percentage(OT.CONTEXT_INJECTION) == 80.0
    assert stats.get_operation_percentage("search") == 0.0
    assert tracker.get_tool_stats("gemini") is None
    assert tracker.get_tool_totals() == {"claude": 150, "codex": 7}


def test_empty_tool_stats_figures() -> None:
    stats = ToolUsageStats("claude")
    assert stats.get_average_tokens_per_operation() == 0.0
    assert stats.get_operation_percentage(OT.OTHER) == 0.0


def test_naive_now_is_read_as_utc() -> None:
    naive = datetime(2024, 3, 1, 8, 30)
    tracker = TokenUsageTracker(now=lambda: naive)
    op = tracker.track_operation("claude", OT.OTHER, 1)
    assert op.timestamp == datetime(2024, 3, 1, 8, 30, tzinfo=UTC)
    assert op.timestamp.tzinfo is UTC
    assert tracker.session_start == datetime(2024, 3, 1, 8, 30, tzinfo=UTC)


def test_unknown_operation_type_raises(clock: FakeClock) -> None:
    tracker = make_tracker(clock)
    with pytest.raises(ValueError, match="unknown operation type: 'typing'"):
        tracker.track_operation("claude", "typing", 1)
    assert tracker.get_total_tokens() == 0


@pytest.mark.guarantee(32)
@pytest.mark.parametrize("bad", [-1, 1.5, True, False, "3", None])
def test_negative_or_non_int_tokens_raise(clock: FakeClock, bad: object) -> None:
    tracker = make_tracker(clock)
    with pytest.raises(ValueError, match="tokens_used must be an int >= 0"):
        tracker.track_operation("claude", OT.OTHER, bad)  # type: ignore[arg-type]
    assert tracker.get_total_tokens() == 0
    assert tracker.get_tool_stats("claude") is None


@pytest.mark.guarantee(32)
def test_zero_tokens_is_recorded(clock: FakeClock) -> None:
    tracker = make_tracker(clock)
    tracker.track_operation("claude", OT.OTHER, 0)
    stats = tracker.get_tool_stats("claude")
    assert stats is not None
    assert stats.operation_counts == {"other": 1}


def test_track_text_counts_with_token_counter(clock: FakeClock) -> None:
    tracker = make_tracker(clock)
    op = tracker.track_text("abcdefghijkl", "claude", OT.USER_QUERY, use_tokenizer=False)
    assert op.tokens_used == 3  # len // 4
    op = tracker.track_text("one two three four five six seven eight nine ten", "codex", OT.USER_QUERY,
                            use_tokenizer=False)
    assert op.tokens_used == 13  # int(10 words * 1.3)
    assert tracker.get_tool_totals() == {"claude": 3, "codex": 13}


# -- track_context -------------------------------------------------------------------------------------


def test_track_context_records_the_sum(clock: FakeClock) -> None:
    tracker = make_tracker(clock)
    with tracker.track_context("claude", OT.FORMATTING, operation_id="fmt-1", metadata={"k": "v"}) as add:
        add(100)
        add(50)
    stats = tracker.get_tool_stats("claude")
    assert stats is not None
    assert [(o.operation_id, o.tokens_used, o.metadata) for o in stats.operations] == [
        ("fmt-1", 150, {"k": "v"})
    ]


def test_track_context_with_no_tokens_records_nothing(clock: FakeClock) -> None:
    tracker = make_tracker(clock)
    with tracker.track_context("claude", OT.FORMATTING):
        pass
    assert tracker.get_tool_stats("claude") is None
    with pytest.raises(KeyError), tracker.track_context("claude", OT.FORMATTING):
        raise KeyError("x")
    assert tracker.get_tool_stats("claude") is None


@pytest.mark.guarantee(32)
def test_failing_track_context_records_partial_total_and_reraises(clock: FakeClock) -> None:
    tracker = make_tracker(clock)
    with pytest.raises(RuntimeError, match="boom"), tracker.track_context(
        "claude", OT.COMPRESSION, metadata={"rule_id": "r9"}
    ) as add:
        add(30)
        add(12)
        raise RuntimeError("boom")
    stats = tracker.get_tool_stats("claude")
    assert stats is not None
    assert stats.total_tokens == 42
    assert [o.metadata for o in stats.operations] == [
        {"rule_id": "r9", "partial": True, "error": "RuntimeError"}
    ]


@pytest.mark.guarantee(32)
@pytest.mark.parametrize("bad", [-5, 2.0, True])
def test_track_context_rejects_bad_counts(clock: FakeClock, bad: object) -> None:
    tracker = make_tracker(clock)
    with pytest.raises(ValueError, match="count must be an int >= 0"), tracker.track_context(
        "claude", OT.OTHER
    ) as add:
        add(10)
        add(bad)  # type: ignore[arg-type]
    stats = tracker.get_tool_stats("claude")
    assert stats is not None
    assert stats.total_tokens == 10
    assert stats.operations[0].metadata == {"partial": True, "error": "ValueError"}


# -- copies, minimal mode, history cap, ids ------------------------------------------------------------


@pytest.mark.guarantee(27)
def test_readers_return_copies(clock: FakeClock) -> None:
    tracker = make_tracker(clock)
    returned = tracker.track_operation("claude", OT.OTHER, 10, metadata={"a": 1})
    returned.metadata["a"] = 999
    stats = tracker.get_tool_stats("claude")
    assert stats is not None
    stats.total_tokens = 10**6
    stats.operation_counts["other"] = 50
    stats.operations[0].metadata["a"] = 2
    stats.operations.clear()
    tracker.get_all_tool_stats()["claude"].operation_tokens["other"] = 77
    snapshot = tracker.get_session_snapshot()
    snapshot.tool_stats["claude"].total_tokens = 5
    snapshot.recent_operations[0].tokens_used = 1234

    fresh = tracker.get_tool_stats("claude")
    assert fresh is not None
    assert fresh.total_tokens == 10
    assert fresh.operation_counts == {"other": 1}
    assert fresh.operation_tokens == {"other": 10}
    assert [(o.tokens_used, o.metadata) for o in fresh.operations] == [(10, {"a": 1})]
    assert tracker.get_session_snapshot().recent_operations[0].tokens_used == 10


@pytest.mark.guarantee(27)
def test_export_snapshot_is_a_copy(clock: FakeClock) -> None:
    tracker = make_tracker(clock)
    tracker.track_operation("claude", OT.OTHER, 10, metadata={"a": [1]})
    exported = tracker.export_snapshot()
    exported["tool_stats"]["claude"]["operations"][0]["metadata"]["a"] = "changed"
    exported["tool_stats"]["claude"]["operation_counts"]["other"] = 9
    again = tracker.export_snapshot()
    assert again["tool_stats"]["claude"]["operations"][0]["metadata"] == {"a": [1]}
    assert again["tool_stats"]["claude"]["operation_counts"] == {"other": 1}


@pytest.mark.guarantee(28)
def test_minimal_mode_keeps_totals_and_first_last_timestamps(clock: FakeClock) -> None:
    tracker = make_tracker(clock, track_detailed_operations=False)
    tracker.track_operation("claude", OT.OTHER, 5)
    clock.advance(60)
    tracker.track_operation("claude", OT.SEARCH, 7)
    stats = tracker.get_tool_stats("claude")
    assert stats is not None
    assert stats.total_tokens == 12
    assert stats.operation_counts == {"other": 1, "search": 1}
    assert stats.first_operation_at == START
    assert stats.last_operation_at == START + timedelta(seconds=60)
    assert list(stats.operations) == []
    assert tracker.get_session_snapshot().recent_operations == []
    report = tracker.get_usage_report()
    assert report["detailed_tracking_enabled"] is False
    assert report["tools"]["claude"]["first_operation_at"] == "2024-01-15T12:00:00+00:00"
    assert report["tools"]["claude"]["last_operation_at"] == "2024-01-15T12:01:00+00:00"


@pytest.mark.guarantee(29)
def test_history_cap_keeps_newest_operations_in_a_bounded_deque(clock: FakeClock) -> None:
    tracker = make_tracker(clock, max_operations_per_tool=3)
    for tokens in range(1, 8):
        tracker.track_operation("claude", OT.OTHER, tokens)
    stats = tracker.get_tool_stats("claude")
    assert stats is not None
    assert [o.tokens_used for o in stats.operations] == [5, 6, 7]
    assert stats.total_tokens == 28
    assert stats.operation_counts == {"other": 7}
    internal = tracker._tool_stats["claude"].operations
    assert isinstance(internal, deque)
    assert internal.maxlen == 3


@pytest.mark.guarantee(29)
def test_max_operations_per_tool_must_be_positive() -> None:
    for bad in (0, -1, True, 2.5):
        with pytest.raises(ValueError, match="max_operations_per_tool must be an int >= 1"):
            TokenUsageTracker(max_operations_per_tool=bad)  # type: ignore[arg-type]


@pytest.mark.guarantee(30)
def test_generated_ids_are_unique_under_a_frozen_clock(clock: FakeClock) -> None:
    trackers = [make_tracker(clock) for _ in range(3)]
    assert len({t.session_id for t in trackers}) == 3
    assert re.fullmatch(r"usage_session_20240115_120000_000000_\d+", trackers[0].session_id)
    ids = [t.track_operation("claude", OT.SEARCH, 1).operation_id for t in trackers for _ in range(500)]
    assert len(set(ids)) == 1500
    assert re.fullmatch(r"claude_search_20240115_120000_000000_\d+", ids[0])


@pytest.mark.guarantee(30)
def test_generated_ids_are_unique_across_threads(clock: FakeClock) -> None:
    tracker = make_tracker(clock)
    ids: list[str] = []
    lock = threading.Lock()

    def work() -> None:
        mine = [tracker.track_operation("codex", OT.OTHER, 1).operation_id for _ in range(500)]
        with lock:
            ids.extend(mine)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(ids) == 2000
    assert len(set(ids)) == 2000


def test_recent_operations_are_newest_first_and_capped(clock: FakeClock) -> None:
    tracker = make_tracker(clock)
    for i in range(RECENT_OPERATIONS_LIMIT + 20):
        tracker.track_operation("claude" if i % 2 else "codex", OT.OTHER, i, operation_id=f"op{i}")
    snap = tracker.get_session_snapshot(include_recent=3)
    assert [o.operation_id for o in snap.recent_operations] == ["op119", "op118", "op117"]
    assert len(tracker.get_session_snapshot(include_recent=500).recent_operations) == 100
    exported = tracker.export_snapshot()["recent_operations"]
    assert len(exported) == 100
    assert (exported[0]["operation_id"], exported[-1]["operation_id"]) == ("op119", "op20")


@pytest.mark.guarantee(26)
def test_count_rule_uses(clock: FakeClock) -> None:
    tracker = make_tracker(clock)
    tracker.track_operation("claude", OT.CONTEXT_INJECTION, 5, metadata={"rule_id": "a"})
    clock.advance(10)
    tracker.track_operation("claude", OT.CONTEXT_INJECTION, 5, metadata={"rule_id": "b"})
    clock.advance(10)
    tracker.track_operation("claude", OT.CONTEXT_INJECTION, 5, metadata={"rule_id": "a"})
    tracker.track_operation("claude", OT.OTHER, 5)
    tracker.track_operation("codex", OT.CONTEXT_INJECTION, 5, metadata={"rule_id": "a"})
    assert tracker.count_rule_uses("claude") == {
        "a": (2, START + timedelta(seconds=20)),
        "b": (1, START + timedelta(seconds=10)),
    }
    assert tracker.count_rule_uses("gemini") == {}


# -- report, reset, registry ---------------------------------------------------------------------------


def test_usage_report_exact(clock: FakeClock) -> None:
    tracker = make_tracker(clock, session_id="rep")
    tracker.track_operation("claude", OT.CONTEXT_INJECTION, 300)
    clock.advance(10)
    tracker.track_operation("claude", OT.USER_QUERY, 100)
    tracker.track_operation("codex", OT.SEARCH, 100)
    assert tracker.get_usage_report() == {
        "session_id": "rep",
        "session_start": "2024-01-15T12:00:00+00:00",
        "session_duration_seconds": 10.0,
        "total_tokens": 500,
        "tokens_per_second": 50.0,
        "tool_count": 2,
        "detailed_tracking_enabled": True,
        "tools": {
            "claude": {
                "total_tokens": 400,
                "operation_counts": {"context_injection": 1, "user_query": 1},
                "operation_tokens": {"context_injection": 300, "user_query": 100},
                "average_tokens_per_operation": 200.0,
                "first_operation_at": "2024-01-15T12:00:00+00:00",
                "last_operation_at": "2024-01-15T12:00:10+00:00",
                "operation_count": 2,
            },
            "codex": {
                "total_tokens": 100,
                "operation_counts": {"search": 1},
                "operation_tokens": {"search": 100},
                "average_tokens_per_operation": 100.0,
                "first_operation_at": "2024-01-15T12:00:10+00:00",
                "last_operation_at": "2024-01-15T12:00:10+00:00",
                "operation_count": 1,
            },
        },
    }


def test_usage_report_with_zero_duration(clock: FakeClock) -> None:
    tracker = make_tracker(clock)
    tracker.track_operation("claude", OT.OTHER, 9)
    report = tracker.get_usage_report()
    assert (report["session_duration_seconds"], report["tokens_per_second"]) == (0.0, 0.0)


@pytest.mark.guarantee(31)
def test_global_registry_register_unregister_and_report(clock: FakeClock) -> None:
    registry = GlobalUsageTracker.get_instance(now=clock.now, timer=clock.timer)
    assert GlobalUsageTracker() is registry
    a = make_tracker(clock, session_id="a")
    b = make_tracker(clock, session_id="b")
    registry.register_session(a)
    registry.register_session(b)
    a.track_operation("claude", OT.OTHER, 300)
    b.track_operation("codex", OT.OTHER, 100)
    clock.advance(4)
    assert registry.get_global_report() == {
        "total_sessions": 2,
        "total_tokens": 400,
        "creation_time": "2024-01-15T12:00:00+00:00",
        "uptime_seconds": 4.0,
        "tokens_per_second": 100.0,
        "average_tokens_per_session": 200.0,
        "sessions": {"a": 300, "b": 100},
    }
    assert registry.get_session("a") is a
    assert registry.get_all_sessions() == {"a": a, "b": b}
    assert registry.unregister_session("a") is True
    assert registry.unregister_session("a") is False
    assert registry.get_session("a") is None
    report = registry.get_global_report()
    assert (report["total_sessions"], report["total_tokens"], report["sessions"]) == (1, 100, {"b": 100})


@pytest.mark.guarantee(31)
def test_reset_session_rekeys_the_registry(clock: FakeClock) -> None:
    registry = GlobalUsageTracker()
    tracker = make_tracker(clock, session_id="old")
    registry.register_session(tracker)
    tracker.track_operation("claude", OT.OTHER, 50)
    clock.advance(30)
    tracker.reset_session("new")
    assert tracker.session_id == "new"
    assert tracker.get_total_tokens() == 0
    assert tracker.get_all_tool_stats() == {}
    assert tracker.session_start == START + timedelta(seconds=30)
    assert registry.get_session("old") is None
    assert registry.get_session("new") is tracker
    tracker.reset_session()
    assert tracker.session_id.startswith("usage_session_20240115_120030_000000_")
    assert registry.get_all_sessions() == {tracker.session_id: tracker}


@pytest.mark.guarantee(31)
def test_reset_instance_gives_an_empty_registry(clock: FakeClock) -> None:
    first = GlobalUsageTracker()
    first.register_session(make_tracker(clock, session_id="x"))
    GlobalUsageTracker.reset_instance()
    second = GlobalUsageTracker()
    assert second is not first
    assert second.get_all_sessions() == {}


def test_registry_on_empty_report(clock: FakeClock) -> None:
    registry = GlobalUsageTracker(now=clock.now, timer=clock.timer)
    report = registry.get_global_report()
    assert report == {
        "total_sessions": 0, "total_tokens": 0, "creation_time": "2024-01-15T12:00:00+00:00",
        "uptime_seconds": 0.0, "tokens_per_second": 0.0, "average_tokens_per_session": 0.0, "sessions": {},
    }


# -- export / import -----------------------------------------------------------------------------------


def _populated(clock: FakeClock, **kwargs: object) -> TokenUsageTracker:
    tracker = make_tracker(clock, session_id="snap", **kwargs)
    tracker.track_operation("claude", OT.CONTEXT_INJECTION, 120, metadata={"rule_id": "r1", "n": [1, 2]})
    clock.advance(1.5)
    tracker.track_operation("codex", OT.USER_QUERY, 33)
    clock.advance(0.000001)
    tracker.track_operation("claude", OT.SEARCH, 0, operation_id="custom")
    return tracker


@pytest.mark.guarantee(31)
def test_export_snapshot_keys_and_values(clock: FakeClock) -> None:
    data = _populated(clock).export_snapshot()
    assert set(data) == {"session_id", "timestamp", "total_tokens", "recent_operations", "session_start",
                         "tool_stats", "track_detailed_operations", "max_operations_per_tool"}
    assert (data["track_detailed_operations"], data["max_operations_per_tool"]) == (True, 1000)
    assert (data["session_id"], data["total_tokens"]) == ("snap", 153)
    assert data["timestamp"] == "2024-01-15T12:00:01.500001+00:00"
    assert data["session_start"] == "2024-01-15T12:00:00+00:00"
    claude = data["tool_stats"]["claude"]
    assert set(claude) == {"tool_name", "total_tokens", "operation_counts", "operation_tokens",
                           "first_operation_at", "last_operation_at", "operations"}
    assert claude["operations"][1] == {
        "operation_type": "search", "operation_id": "custom", "tokens_used": 0,
        "timestamp": "2024-01-15T12:00:01.500001+00:00", "metadata": {},
    }
    recent_ids = [op["operation_id"] for op in data["recent_operations"]]
    assert len(recent_ids) == 3
    assert recent_ids[0] == "custom"
    assert re.fullmatch(r"codex_user_query_20240115_120001_500000_\d+", recent_ids[1])
    assert re.fullmatch(r"claude_context_injection_20240115_120000_000000_\d+", recent_ids[2])
    assert json.loads(json.dumps(data)) == data


@pytest.mark.guarantee(31)
def test_from_snapshot_export_snapshot_round_trip_is_exact(clock: FakeClock) -> None:
    tracker = _populated(clock)
    exported = tracker.export_snapshot()
    restored = TokenUsageTracker.from_snapshot(exported, now=clock.now, timer=clock.timer)
    assert restored.export_snapshot() == exported
    assert restored.get_all_tool_stats() == tracker.get_all_tool_stats()
    assert restored.get_session_snapshot(5) == tracker.get_session_snapshot(5)
    assert restored.session_id == "snap"
    assert restored.session_start == START
    assert restored.get_total_tokens() == 153
    assert restored.count_rule_uses("claude") == {"r1": (1, START)}
    # the restored session keeps its age: 1.500001 s had passed at export time
    assert restored.get_usage_report()["session_duration_seconds"] == pytest.approx(1.500001, abs=1e-9)


@pytest.mark.guarantee(31)
def test_minimal_mode_round_trip(clock: FakeClock) -> None:
    tracker = _populated(clock, track_detailed_operations=False)
    exported = tracker.export_snapshot()
    restored = TokenUsageTracker.from_snapshot(exported, track_detailed_operations=False, now=clock.now)
    assert restored.export_snapshot() == exported
    assert restored.get_tool_stats("claude") == tracker.get_tool_stats("claude")


def test_save_and_load_keep_the_mode_and_the_history_cap(tmp_path: Path, clock: FakeClock) -> None:
    """Review finding: a saved minimal-mode tracker with a cap of 2 came back detailed with a cap of 1000."""
    tracker = TokenUsageTracker("capped", track_detailed_operations=False, max_operations_per_tool=2,
                                now=clock.now, timer=clock.timer)
    tracker.track_operation("codex", OperationType.SEARCH, 5)
    tracker.save(tmp_path / "usage.json")
    loaded = TokenUsageTracker.load(tmp_path / "usage.json", now=clock.now, timer=clock.timer)
    assert (loaded.track_detailed_operations, loaded.max_operations_per_tool) == (False, 2)
    assert loaded.export_snapshot() == tracker.export_snapshot()
    detailed = TokenUsageTracker("d", max_operations_per_tool=2, now=clock.now, timer=clock.timer)
    for tokens in (1, 2, 3):
        detailed.track_operation("codex", OperationType.SEARCH, tokens)
    again = TokenUsageTracker.from_snapshot(detailed.export_snapshot(), now=clock.now, timer=clock.timer)
    again.track_operation("codex", OperationType.SEARCH, 4)
    kept = again.get_tool_stats("codex")
    assert kept is not None and [op.tokens_used for op in kept.operations] == [3, 4]  # still capped at 2


@pytest.mark.guarantee(31)
def test_save_and_load_json(tmp_path: Path, clock: FakeClock) -> None:
    tracker = _populated(clock)
    target = tmp_path / "nested" / "usage.json"
    tracker.save(str(target))
    assert json.loads(target.read_text(encoding="utf-8")) == tracker.export_snapshot()
    loaded = TokenUsageTracker.load(target, now=clock.now, timer=clock.timer)
    assert loaded.export_snapshot() == tracker.export_snapshot()
    assert [p.name for p in target.parent.iterdir()] == ["usage.json"]


def test_from_snapshot_rejects_inconsistent_totals(clock: FakeClock) -> None:
    exported = _populated(clock).export_snapshot()
    exported["total_tokens"] = 999
    with pytest.raises(ValueError, match="total_tokens 999 does not match the sum of the tool totals"):
        TokenUsageTracker.from_snapshot(exported)
    exported = _populated(clock).export_snapshot()
    exported["tool_stats"]["codex"]["operations"][0]["tokens_used"] = -3
    with pytest.raises(ValueError, match="tokens_used must be an int >= 0"):
        TokenUsageTracker.from_snapshot(exported)


# -- listeners -----------------------------------------------------------------------------------------


def test_listeners_run_outside_the_lock_and_failures_are_swallowed(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    tracker = make_tracker(clock)
    seen: list[tuple[str, int, int]] = []

    def reentrant(op: OperationUsage) -> None:
        seen.append((op.operation_type.value, op.tokens_used, tracker.get_total_tokens()))

    def broken(op: OperationUsage) -> None:
        raise RuntimeError("listener failed")

    tracker.add_listener(broken)
    tracker.add_listener(reentrant)
    tracker.add_listener(reentrant)  # duplicate ignored

    worker = threading.Thread(target=lambda: tracker.track_operation("claude", OT.SEARCH, 7), daemon=True)
    worker.start()
    worker.join(timeout=10)
    assert not worker.is_alive(), "a listener calling back into the tracker deadlocked"
    assert seen == [("search", 7, 7)]
    assert "listener failed" in caplog.text
    assert tracker.remove_listener(reentrant) is True
    assert tracker.remove_listener(reentrant) is False
    tracker.track_operation("claude", OT.SEARCH, 1)
    assert seen == [("search", 7, 7)]


# -- concurrency ---------------------------------------------------------------------------------------


def _hammer(tracker: TokenUsageTracker, threads: int, ops: int, tokens: int, tools: list[str]) -> None:
    barrier = threading.Barrier(threads)

    def work(index: int) -> None:
        barrier.wait()
        tool = tools[index % len(tools)]
        for _ in range(ops):
            tracker.track_operation(tool, OT.OTHER, tokens)

    workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()


def test_five_threads_ten_ops_ten_tokens_is_500(clock: FakeClock) -> None:
    tracker = make_tracker(clock)
    _hammer(tracker, threads=5, ops=10, tokens=10, tools=["claude"])
    assert tracker.get_total_tokens() == 500
    stats = tracker.get_tool_stats("claude")
    assert stats is not None
    assert (stats.total_tokens, stats.operation_counts, len(stats.operations)) == (500, {"other": 50}, 50)


def test_eight_threads_into_one_tracker_lose_nothing(clock: FakeClock) -> None:
    tracker = make_tracker(clock, max_operations_per_tool=100)
    _hammer(tracker, threads=8, ops=2000, tokens=3, tools=["claude", "codex"])
    assert tracker.get_total_tokens() == 48000
    assert tracker.get_tool_totals() == {"claude": 24000, "codex": 24000}
    stats = tracker.get_tool_stats("codex")
    assert stats is not None
    assert (stats.operation_counts, len(stats.operations)) == ({"other": 8000}, 100)


# -- SQLite store --------------------------------------------------------------------------------------


def test_store_file_is_private_and_in_wal_mode(tmp_path: Path, clock: FakeClock) -> None:
    path = tmp_path / "data" / "usage.sqlite3"
    with SQLiteUsageStore(path) as store:
        make_tracker(clock, store=store).track_operation("claude", OT.OTHER, 1)
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        mode = sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0]
        assert mode == "wal"
        assert store._conn.execute("PRAGMA busy_timeout").fetchone()[0] == 30000


def test_default_store_path_uses_xdg_data_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert default_usage_db_path() == tmp_path / "xdg" / "ctxbudget" / "usage.sqlite3"
    with SQLiteUsageStore() as store:
        assert store.path == tmp_path / "xdg" / "ctxbudget" / "usage.sqlite3"
        assert store.path.is_file()
    monkeypatch.setenv("XDG_DATA_HOME", "relative/dir")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_usage_db_path() == tmp_path / "home" / ".local" / "share" / "ctxbudget" / "usage.sqlite3"


def test_store_totals_and_load_tracker(tmp_path: Path, clock: FakeClock) -> None:
    path = tmp_path / "usage.sqlite3"
    with SQLiteUsageStore(path) as store:
        tracker = make_tracker(clock, session_id="s1", store=store, max_operations_per_tool=50)
        ops = [
            ("claude", OT.CONTEXT_INJECTION, 120, {"rule_id": "r1"}),
            ("codex", OT.SEARCH, 30, {}),
            ("claude", OT.USER_QUERY, 5, {}),
        ]
        for tool, op, tokens, md in ops:
            tracker.track_operation(tool, op, tokens, metadata=md)
            clock.advance(2)
        other = make_tracker(clock, session_id="s2", store=store)
        other.track_operation("claude", OT.OTHER, 1000)
        assert store.totals() == {"claude": 1125, "codex": 30}
        assert store.totals("s1") == {"claude": 125, "codex": 30}
        assert store.totals("nope") == {}
        assert store.session_ids() == ["s1", "s2"]

    with SQLiteUsageStore(path) as store:
        restored = store.load_tracker("s1", now=clock.now, timer=clock.timer)
        assert restored.get_all_tool_stats() == tracker.get_all_tool_stats()
        assert restored.session_start == START
        assert restored.max_operations_per_tool == 50
        assert restored.count_rule_uses("claude") == {"r1": (1, START)}
        restored.track_operation("gemini", OT.OTHER, 4)  # keeps recording into the store
        assert store.totals("s1") == {"claude": 125, "codex": 30, "gemini": 4}
        with pytest.raises(KeyError, match="unknown usage session: 'missing'"):
            store.load_tracker("missing")


def test_failed_store_write_records_nothing(tmp_path: Path, clock: FakeClock) -> None:
    store = SQLiteUsageStore(tmp_path / "u.sqlite3")
    tracker = make_tracker(clock, store=store)
    tracker.track_operation("claude", OT.OTHER, 5)
    with pytest.raises(TypeError):
        tracker.track_operation("claude", OT.OTHER, 5, metadata={"bad": object()})
    store.close()
    with pytest.raises(sqlite3.ProgrammingError):
        tracker.track_operation("claude", OT.OTHER, 7)
    assert tracker.get_total_tokens() == 5


def test_reset_session_registers_the_new_session_in_the_store(tmp_path: Path, clock: FakeClock) -> None:
    with SQLiteUsageStore(tmp_path / "u.sqlite3") as store:
        tracker = make_tracker(clock, session_id="one", store=store)
        tracker.track_operation("claude", OT.OTHER, 5)
        tracker.reset_session("two")
        tracker.track_operation("claude", OT.OTHER, 6)
        assert store.session_ids() == ["one", "two"]
        assert (store.totals("one"), store.totals("two"), store.totals()) == (
            {"claude": 5}, {"claude": 6}, {"claude": 11}
        )


_WORKER = textwrap.dedent(
    """
    import sys
    from ctxbudget.tracking.usage import SQLiteUsageStore, TokenUsageTracker
    path, session, tool, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    with SQLiteUsageStore(path) as store:
        tracker = TokenUsageTracker(session, store=store)
        for i in range(count):
            tracker.track_operation(tool, "other", 1 + i % 3)
    """
)


def test_four_processes_into_one_store_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite3"
    per_process = 5000
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, str(path), f"p{i}", ("claude", "codex")[i % 2], str(per_process)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for i in range(4)
    ]
    for proc in procs:
        _out, err = proc.communicate(timeout=120)
        assert (proc.returncode, err) == (0, b"")
    per_tracker = sum(1 + i % 3 for i in range(per_process))  # 9999
    with SQLiteUsageStore(path) as store:
        assert store.totals() == {"claude": 2 * per_tracker, "codex": 2 * per_tracker}
        assert store.totals("p3") == {"codex": per_tracker}
        count = store._conn.execute("SELECT COUNT(*) FROM operations").fetchone()[0]
        assert count == 4 * per_process
        restored = store.load_tracker("p0")
        assert restored.get_total_tokens() == per_tracker
        stats = restored.get_tool_stats("claude")
        assert stats is not None
        assert (stats.operation_counts, len(stats.operations)) == ({"other": per_process}, 1000)
