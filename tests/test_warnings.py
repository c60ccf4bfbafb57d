"""Budget warnings (docs/guarantees.md, items 33–38)."""

from __future__ import annotations

import functools
import io
import logging
import threading
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from ctxbudget.tracking.usage import OperationType, TokenUsageTracker
from ctxbudget.tracking.warnings import (
    BudgetThreshold,
    BudgetWarningSystem,
    ThrottleConfig,
    WarningEvent,
    WarningLevel,
    exit_code_for,
)
from fakeclock import START, FakeClock

INFO, WARNING, CRITICAL = WarningLevel.INFO, WarningLevel.WARNING, WarningLevel.CRITICAL
NO_THROTTLE = ThrottleConfig(enabled=False)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def make_system(clock: FakeClock, **kwargs: Any) -> BudgetWarningSystem:
    return BudgetWarningSystem(timer=clock.timer, now=clock.now, **kwargs)


def levels(events: list[WarningEvent]) -> list[WarningLevel]:
    return [e.level for e in events]


# -- data types ----------------------------------------------------------------------------------------


def test_level_values_and_default_thresholds() -> None:
    assert [(lv.value, lv.default_threshold) for lv in WarningLevel] == [
        ("info", 75.0), ("warning", 85.0), ("critical", 95.0)
    ]


@pytest.mark.parametrize("bad", [-0.5, 100.01, 150, float("nan")])
def test_threshold_percentage_range(bad: float) -> None:
    with pytest.raises(ValueError) as info:
        BudgetThreshold(WARNING, bad)
    assert str(info.value) == f"Threshold percentage must be 0-100, got {bad}"


def test_threshold_rejects_bool_and_accepts_bounds() -> None:
    with pytest.raises(ValueError, match="Threshold percentage must be 0-100, got True"):
        BudgetThreshold(INFO, True)  # type: ignore[arg-type]
    assert BudgetThreshold("critical", 100).percentage == 100.0  # type: ignore[arg-type]
    assert BudgetThreshold(INFO, 0).level is INFO


def test_throttle_config_defaults() -> None:
    cfg = ThrottleConfig()
    assert (cfg.enabled, cfg.min_interval_seconds, cfg.max_warnings_per_minute) == (True, 60.0, 5)


def test_event_to_dict() -> None:
    event = WarningEvent(datetime(2024, 1, 15, 12, 0), WARNING, None, 10, 20, 50.0, "m", {"k": 1})
    assert event.to_dict() == {
        "timestamp": "2024-01-15T12:00:00+00:00",
        "level": "warning",
        "tool_name": None,
        "current_usage": 10,
        "budget_limit": 20,
        "utilization_percentage": 50.0,
        "message": "m",
        "metadata": {"k": 1},
    }


def test_exit_code_for() -> None:
    system = BudgetWarningSystem(per_tool_limits={"claude": 100}, throttle_config=NO_THROTTLE)
    assert exit_code_for([]) == 0
    assert exit_code_for(system.check_usage("claude", 90)) == 0
    assert exit_code_for(system.check_usage("claude", 96)) == 1


@pytest.mark.parametrize("bad", [-1, 1.5, True])
def test_limits_must_be_non_negative_ints(bad: object) -> None:
    with pytest.raises(ValueError, match="global_budget_limit must be an int >= 0"):
        BudgetWarningSystem(global_budget_limit=bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"per_tool_limits\['claude'\] must be an int >= 0"):
        BudgetWarningSystem(per_tool_limits={"claude": bad})  # type: ignore[dict-item]


# -- firing, escalation, re-arming ---------------------------------------------------------------------


def test_86_percent_fires_exactly_info_and_warning_with_exact_messages(clock: FakeClock) -> None:
    system = make_system(clock, per_tool_limits={"claude": 100_000})
    events = system.check_usage("claude", 86_000)
    assert levels(events) == [INFO, WARNING]
    assert [e.message for e in events] == [
        "INFO - claude budget at 86.0% (86,000 / 100,000 tokens, 14,000 remaining)",
        "WARNING - claude budget at 86.0% (86,000 / 100,000 tokens, 14,000 remaining)",
    ]
    assert events[1].to_dict() == {
        "timestamp": "2024-01-15T12:00:00+00:00",
        "level": "warning",
        "tool_name": "claude",
        "current_usage": 86_000,
        "budget_limit": 100_000,
        "utilization_percentage": 86.0,
        "message": "WARNING - claude budget at 86.0% (86,000 / 100,000 tokens, 14,000 remaining)",
        "metadata": {"tokens_remaining": 14_000, "scope": "claude"},
    }


def test_over_budget_message_has_negative_remaining(clock: FakeClock) -> None:
    system = make_system(clock, global_budget_limit=1000, thresholds=[BudgetThreshold(CRITICAL, 95)])
    [event] = system.check_usage(None, 1500)
    assert event.message == "CRITICAL - global budget at 150.0% (1,500 / 1,000 tokens, -500 remaining)"
    assert event.metadata == {"tokens_remaining": -500, "scope": "global"}


def test_escalation_info_then_warning_then_critical(clock: FakeClock) -> None:
    system = make_system(clock, per_tool_limits={"codex": 1000})
    assert levels(system.check_usage("codex", 760)) == [INFO]
    clock.advance(1)
    assert levels(system.check_usage("codex", 860)) == [WARNING]
    clock.advance(1)
    assert levels(system.check_usage("codex", 960)) == [CRITICAL]
    clock.advance(1)
    assert system.check_usage("codex", 990) == []
    assert levels(system.get_warning_history()) == [INFO, WARNING, CRITICAL]


@pytest.mark.guarantee(35)
def test_thresholds_rearm_below_and_fire_again(clock: FakeClock) -> None:
    system = make_system(clock, per_tool_limits={"claude": 100}, throttle_config=NO_THROTTLE)
    assert levels(system.check_usage("claude", 90)) == [INFO, WARNING]
    assert system.check_usage("claude", 90) == []
    assert system.check_usage("claude", 80) == []  # re-arms WARNING only
    assert levels(system.check_usage("claude", 86)) == [WARNING]
    assert system.check_usage("claude", 10) == []  # re-arms both
    assert levels(system.check_usage("claude", 99)) == [INFO, WARNING, CRITICAL]


@pytest.mark.guarantee(35)
def test_min_interval_limits_refiring_after_rearm(clock: FakeClock) -> None:
    throttle = ThrottleConfig(min_interval_seconds=60.0, max_warnings_per_minute=100)
    system = make_system(clock, per_tool_limits={"claude": 100}, throttle_config=throttle,
                         thresholds=[BudgetThreshold(WARNING, 50)])
    assert levels(system.check_usage("claude", 60)) == [WARNING]
    clock.advance(10)
    assert system.check_usage("claude", 40) == []  # re-armed
    clock.advance(10)
    assert system.check_usage("claude", 60) == []  # 20 s after the last one: suppressed
    assert system.suppressed_warnings == 1
    clock.advance(39.5)
    assert system.check_usage("claude", 60) == []  # 59.5 s
    clock.advance(0.5)
    assert levels(system.check_usage("claude", 60)) == [WARNING]  # 60 s: allowed
    assert system.suppressed_warnings == 2


@pytest.mark.guarantee(36)
def test_per_minute_throttle_three_over_five_tools(clock: FakeClock) -> None:
    limits = {f"tool{i}": 100 for i in range(5)}
    throttle = ThrottleConfig(min_interval_seconds=0.0, max_warnings_per_minute=3)
    system = make_system(clock, per_tool_limits=limits, throttle_config=throttle,
                         thresholds=[BudgetThreshold(WARNING, 80)])
    tracker = TokenUsageTracker(now=clock.now, timer=clock.timer)
    for i in range(5):
        tracker.track_operation(f"tool{i}", OperationType.OTHER, 90)

    emitted = system.check_usage_tracker(tracker)
    assert [e.tool_name for e in emitted] == ["tool0", "tool1", "tool2"]
    assert system.get_warning_summary()["suppressed_warnings"] == 2

    clock.advance(59.9)
    assert system.check_usage_tracker(tracker) == []  # still inside the minute: suppressed again
    assert system.suppressed_warnings == 4
    clock.advance(0.1)
    pending = system.check_usage_tracker(tracker)  # suppressed ones stayed pending
    assert [e.tool_name for e in pending] == ["tool3", "tool4"]
    assert system.check_usage_tracker(tracker) == []
    assert system.suppressed_warnings == 4


def test_check_usage_tracker_single_tool_and_global(clock: FakeClock) -> None:
    system = make_system(clock, global_budget_limit=1000, per_tool_limits={"claude": 500, "codex": 100},
                         throttle_config=NO_THROTTLE, thresholds=[BudgetThreshold(WARNING, 50)])
    tracker = TokenUsageTracker(now=clock.now)
    tracker.track_operation("claude", OperationType.OTHER, 400)
    tracker.track_operation("codex", OperationType.OTHER, 90)
    tracker.track_operation("gemini", OperationType.OTHER, 300)  # no limit: only counts towards global
    events = system.check_usage_tracker(tracker, "claude")
    assert [(e.tool_name, e.current_usage) for e in events] == [("claude", 400), (None, 790)]
    events = system.check_usage_tracker(tracker)
    assert [(e.tool_name, e.current_usage) for e in events] == [("codex", 90)]


# -- scopes, limits, history ---------------------------------------------------------------------------


@pytest.mark.guarantee(38)
def test_global_scope_is_not_the_tool_named_global(clock: FakeClock) -> None:
    system = make_system(clock, global_budget_limit=100, per_tool_limits={"global": 100},
                         throttle_config=NO_THROTTLE, thresholds=[BudgetThreshold(INFO, 50)])
    first = system.check_usage(None, 60)
    second = system.check_usage("global", 60)
    assert [(e.tool_name, e.message) for e in first + second] == [
        (None, "INFO - global budget at 60.0% (60 / 100 tokens, 40 remaining)"),
        ("global", "INFO - global budget at 60.0% (60 / 100 tokens, 40 remaining)"),
    ]
    assert system.check_usage(None, 70) == []
    assert [e.tool_name for e in system.get_warning_history(tool_name="global")] == ["global"]


@pytest.mark.guarantee(38)
def test_limit_zero_is_honoured(clock: FakeClock) -> None:
    system = make_system(clock, per_tool_limits={"claude": 0}, throttle_config=NO_THROTTLE)
    assert system.check_usage("claude", 0) == []
    events = system.check_usage("claude", 1)
    assert levels(events) == [INFO, WARNING, CRITICAL]
    assert events[0].message == "INFO - claude budget at 100.0% (1 / 0 tokens, -1 remaining)"


def test_no_limit_means_no_check(clock: FakeClock) -> None:
    system = make_system(clock, per_tool_limits={"claude": None})
    assert system.per_tool_limits == {}
    assert system.check_usage("claude", 10**9) == []
    assert system.check_usage(None, 10**9) == []
    assert levels(system.check_usage("claude", 90, budget_limit=100)) == [INFO, WARNING]


@pytest.mark.guarantee(38)
def test_history_is_bounded(clock: FakeClock) -> None:
    system = make_system(clock, per_tool_limits={"a": 100, "b": 100}, throttle_config=NO_THROTTLE,
                         max_history=2)
    system.check_usage("a", 100)
    system.check_usage("b", 80)
    assert [(e.tool_name, e.level) for e in system.get_warning_history()] == [("a", CRITICAL), ("b", INFO)]
    assert system.get_warning_summary()["total_warnings"] == 2


@pytest.mark.guarantee(38)
def test_callers_threshold_list_is_untouched(clock: FakeClock) -> None:
    mine = [BudgetThreshold(CRITICAL, 90), BudgetThreshold(INFO, 10), BudgetThreshold(WARNING, 50)]
    before = [(t.level, t.percentage, t.enabled) for t in mine]
    system = make_system(clock, thresholds=mine, per_tool_limits={"x": 100}, throttle_config=NO_THROTTLE)
    mine[0].percentage = 1.0
    mine.append(BudgetThreshold(INFO, 5))
    assert [(t.level, t.percentage) for t in system.thresholds] == [(INFO, 10.0), (WARNING, 50.0),
                                                                   (CRITICAL, 90.0)]
    assert before == [(CRITICAL, 90.0, True), (INFO, 10.0, True), (WARNING, 50.0, True)]
    assert levels(system.check_usage("x", 60)) == [INFO, WARNING]


def test_disabled_threshold_never_fires(clock: FakeClock) -> None:
    thresholds = [BudgetThreshold(INFO, 50, enabled=False), BudgetThreshold(WARNING, 60)]
    system = make_system(clock, thresholds=thresholds, per_tool_limits={"x": 100},
                         throttle_config=NO_THROTTLE)
    assert levels(system.check_usage("x", 70)) == [WARNING]


@pytest.mark.guarantee(38)
def test_history_filters_and_naive_since(clock: FakeClock) -> None:
    system = make_system(clock, per_tool_limits={"a": 100, "b": 100}, throttle_config=NO_THROTTLE)
    system.check_usage("a", 80)
    clock.advance(3600)
    system.check_usage("b", 90)
    naive_since = (START + timedelta(minutes=30)).replace(tzinfo=None)
    assert [(e.tool_name, e.level) for e in system.get_warning_history(since=naive_since)] == [
        ("b", INFO), ("b", WARNING)
    ]
    assert [e.tool_name for e in system.get_warning_history(level="info")] == ["a", "b"]
    assert [e.level for e in system.get_warning_history(tool_name="b", level=WARNING)] == [WARNING]
    assert system.get_warning_history(tool_name="c") == []


def test_warning_summary_exact(clock: FakeClock) -> None:
    system = make_system(clock, global_budget_limit=100, per_tool_limits={"a": 100},
                         throttle_config=NO_THROTTLE)
    system.register_callback(lambda e: None)
    system.check_usage("a", 80)
    clock.advance(7200)
    system.check_usage(None, 96)
    assert system.get_warning_summary() == {
        "total_warnings": 4,
        "warnings_by_level": {"info": 2, "warning": 1, "critical": 1},
        "warnings_by_tool": {"a": 1, "global": 3},
        "recent_warnings_1h": 3,
        "thresholds_configured": [
            {"level": "info", "percentage": 75.0, "enabled": True},
            {"level": "warning", "percentage": 85.0, "enabled": True},
            {"level": "critical", "percentage": 95.0, "enabled": True},
        ],
        "callbacks_registered": 1,
        "suppressed_warnings": 0,
    }


def test_clear_history_per_tool_and_all(clock: FakeClock) -> None:
    throttle = ThrottleConfig(min_interval_seconds=60.0, max_warnings_per_minute=100)
    system = make_system(clock, per_tool_limits={"a": 100, "b": 100}, throttle_config=throttle)
    system.check_usage("a", 90)
    system.check_usage("b", 80)
    assert system.clear_history("a") == 2
    assert [e.tool_name for e in system.get_warning_history()] == ["b"]
    # a's triggered and last-time state is gone: it fires again at once, b does not
    assert levels(system.check_usage("a", 90)) == [INFO, WARNING]
    assert system.check_usage("b", 80) == []
    assert system.clear_history() == 3
    assert system.get_warning_history() == []
    assert levels(system.check_usage("b", 80)) == [INFO]


# -- output: logging, stream ---------------------------------------------------------------------------


@pytest.mark.guarantee(37)
def test_console_output_goes_to_stderr_not_stdout(
    clock: FakeClock, capsys: pytest.CaptureFixture[str]
) -> None:
    system = make_system(clock, per_tool_limits={"claude": 100_000}, enable_cli_output=True,
                         enable_logging=False)
    system.check_usage("claude", 86_000)
    out, err = capsys.readouterr()
    assert out == ""
    assert err == (
        "[INFO] INFO - claude budget at 86.0% (86,000 / 100,000 tokens, 14,000 remaining)\n"
        "[WARNING] WARNING - claude budget at 86.0% (86,000 / 100,000 tokens, 14,000 remaining)\n"
    )


@pytest.mark.guarantee(37)
def test_console_output_to_a_given_stream(clock: FakeClock, capsys: pytest.CaptureFixture[str]) -> None:
    stream = io.StringIO()
    system = make_system(clock, per_tool_limits={"claude": 100}, enable_cli_output=True, stream=stream,
                         thresholds=[BudgetThreshold(CRITICAL, 95)])
    system.check_usage("claude", 95)
    assert stream.getvalue() == (
        "[CRITICAL] CRITICAL - claude budget at 95.0% (95 / 100 tokens, 5 remaining)\n"
    )
    assert capsys.readouterr() == ("", "")


@pytest.mark.guarantee(37)
def test_no_console_output_by_default(clock: FakeClock, capsys: pytest.CaptureFixture[str]) -> None:
    make_system(clock, per_tool_limits={"claude": 100}).check_usage("claude", 99)
    assert capsys.readouterr() == ("", "")


def test_log_levels(clock: FakeClock, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="ctxbudget.tracking.warnings")
    make_system(clock, per_tool_limits={"claude": 100}).check_usage("claude", 99)
    assert [(r.name, r.levelno, r.getMessage().split(" - ")[0]) for r in caplog.records] == [
        ("ctxbudget.tracking.warnings", logging.INFO, "INFO"),
        ("ctxbudget.tracking.warnings", logging.WARNING, "WARNING"),
        ("ctxbudget.tracking.warnings", logging.ERROR, "CRITICAL"),
    ]
    caplog.clear()
    make_system(clock, per_tool_limits={"claude": 100}, enable_logging=False).check_usage("claude", 99)
    assert caplog.records == []


# -- callbacks -----------------------------------------------------------------------------------------


@pytest.mark.guarantee(33)
def test_callback_calling_back_into_the_system_completes(clock: FakeClock) -> None:
    system = make_system(clock, per_tool_limits={"claude": 100})
    summaries: list[int] = []

    def callback(event: WarningEvent) -> None:
        summaries.append(system.get_warning_summary()["total_warnings"])
        system.get_warning_history()
        system.register_callback(print)
        system.unregister_callback(print)

    system.register_callback(callback)
    worker = threading.Thread(target=system.check_usage, args=("claude", 86), daemon=True)
    worker.start()
    worker.join(timeout=10)
    assert not worker.is_alive(), "callback calling get_warning_summary() deadlocked"
    assert summaries == [2, 2]


@pytest.mark.guarantee(34)
def test_any_callable_can_be_registered_and_duplicates_are_ignored(clock: FakeClock) -> None:
    calls: list[str] = []

    class Sink:
        def __call__(self, event: WarningEvent) -> None:
            calls.append(f"object:{event.level.value}")

        def method(self, event: WarningEvent) -> None:
            calls.append(f"method:{event.level.value}")

    def tagged(tag: str, event: WarningEvent) -> None:
        calls.append(f"{tag}:{event.level.value}")

    sink = Sink()
    system = make_system(clock, per_tool_limits={"x": 100}, thresholds=[BudgetThreshold(WARNING, 50)])
    for cb in (sink, sink.method, functools.partial(tagged, "partial"), lambda e: calls.append("lambda")):
        system.register_callback(cb)
    system.register_callback(sink)
    system.register_callback(sink.method)  # equal bound method: still a duplicate
    assert system.get_warning_summary()["callbacks_registered"] == 4
    system.check_usage("x", 60)
    assert calls == ["object:warning", "method:warning", "partial:warning", "lambda"]
    assert system.unregister_callback(sink) is True
    assert system.unregister_callback(sink) is False
    with pytest.raises(TypeError, match="callback must be callable"):
        system.register_callback("not callable")  # type: ignore[arg-type]


def test_failing_callback_is_logged_and_later_callbacks_run(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    got: list[WarningLevel] = []

    def broken(event: WarningEvent) -> None:
        raise RuntimeError("callback exploded")

    system = make_system(clock, per_tool_limits={"x": 100}, thresholds=[BudgetThreshold(WARNING, 50)])
    system.register_callback(broken)
    system.register_callback(lambda e: got.append(e.level))
    assert levels(system.check_usage("x", 60)) == [WARNING]
    assert got == [WARNING]
    failures = [r for r in caplog.records if r.levelno == logging.ERROR and r.exc_info]
    assert len(failures) == 1
    assert "callback exploded" in caplog.text


def test_callback_events_are_copies(clock: FakeClock) -> None:
    system = make_system(clock, per_tool_limits={"x": 100}, thresholds=[BudgetThreshold(WARNING, 50)])

    def vandal(event: WarningEvent) -> None:
        event.message = "changed"
        event.metadata["scope"] = "changed"

    system.register_callback(vandal)
    [returned] = system.check_usage("x", 60)
    returned.current_usage = -1
    [stored] = system.get_warning_history()
    assert (stored.message, stored.metadata["scope"], stored.current_usage) == (
        "WARNING - x budget at 60.0% (60 / 100 tokens, 40 remaining)", "x", 60
    )


# -- Claude manager, watching a tracker ----------------------------------------------------------------


def test_check_claude_budget_manager_duck_typed(clock: FakeClock) -> None:
    manager = SimpleNamespace(
        model=SimpleNamespace(model_id="claude-opus-4-7"),
        session_stats=SimpleNamespace(total_tokens_used=172_000, budget_limit=200_000),
    )
    system = make_system(clock, throttle_config=NO_THROTTLE)
    events = system.check_claude_budget_manager(manager)
    assert [(e.tool_name, e.level) for e in events] == [("claude_claude-opus-4-7", INFO),
                                                       ("claude_claude-opus-4-7", WARNING)]
    assert events[1].message == (
        "WARNING - claude_claude-opus-4-7 budget at 86.0% (172,000 / 200,000 tokens, 28,000 remaining)"
    )
    manager.session_stats.total_tokens_used = 192_000
    assert levels(system.check_claude_budget_manager(manager)) == [CRITICAL]


def test_watch_checks_after_every_operation(clock: FakeClock) -> None:
    system = make_system(clock, per_tool_limits={"claude": 1000}, global_budget_limit=5000,
                         throttle_config=NO_THROTTLE)
    seen: list[tuple[str | None, WarningLevel]] = []
    system.register_callback(lambda e: seen.append((e.tool_name, e.level)))
    tracker = TokenUsageTracker(now=clock.now, timer=clock.timer)
    system.watch(tracker)
    system.watch(tracker)  # idempotent
    tracker.track_operation("claude", OperationType.OTHER, 700)
    assert seen == []
    tracker.track_operation("claude", OperationType.OTHER, 100)
    assert seen == [("claude", INFO)]
    tracker.track_operation("codex", OperationType.OTHER, 3000)
    assert seen == [("claude", INFO), (None, INFO)]
    assert system.unwatch(tracker) is True
    assert system.unwatch(tracker) is False
    tracker.track_operation("claude", OperationType.OTHER, 200)
    assert seen == [("claude", INFO), (None, INFO)]


def test_concurrent_checks_fire_each_threshold_once(clock: FakeClock) -> None:
    system = make_system(clock, per_tool_limits={"claude": 100}, throttle_config=NO_THROTTLE)
    fired: list[WarningLevel] = []
    lock = threading.Lock()

    def record(event: WarningEvent) -> None:
        with lock:
            fired.append(event.level)

    system.register_callback(record)
    barrier = threading.Barrier(8)

    def work() -> None:
        barrier.wait()
        for _ in range(200):
            system.check_usage("claude", 99)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(fired, key=lambda lv: lv.default_threshold) == [INFO, WARNING, CRITICAL]


@pytest.mark.guarantee(47)
def test_limits_come_from_the_budget_config() -> None:
    from ctxbudget import BudgetConfigManager

    config = BudgetConfigManager()
    config.set_budget("codex", "context_injection", 3000)
    system = BudgetWarningSystem.from_config(config, "context_injection", enable_logging=False)
    assert system.per_tool_limits == {"claude": 50000, "codex": 3000, "gemini": 16000}
    assert system.global_budget_limit == 50000
    events = system.check_usage("codex", 2900)
    assert [e.level.value for e in events] == ["info", "warning", "critical"]
    assert events[-1].budget_limit == 3000
