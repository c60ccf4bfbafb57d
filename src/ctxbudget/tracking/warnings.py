"""Budget warnings: thresholds per scope, re-arming, throttling, callbacks, console output.

(The module is ``budget_warnings`` rather than ``warnings`` so that it never shadows the standard library's
``warnings`` module; its public names are re-exported from ``ctxbudget``.)

A *scope* is the global budget or one tool (``tool_name=None`` means global; a tool literally named
``"global"`` is a different scope). For each scope, thresholds are visited from lowest to highest: a
threshold above the current utilisation re-arms; an enabled, armed threshold at or below it fires, unless the
throttle suppresses it. A suppressed warning is counted, not emitted and not marked, so it fires at a later
check once the throttle allows. Logging, console output and callbacks run after the lock is released, so a
callback may call back into the system.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import Enum
from typing import Any, Protocol, TextIO

from .._clock import as_utc, utcnow
from .._util import require_str, utilization_pct
from .usage import TokenUsageTracker

logger = logging.getLogger(__name__)

WarningCallback = Callable[["WarningEvent"], object]


class WarningLevel(str, Enum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"

    @property
    def default_threshold(self) -> float:
        return _DEFAULT_THRESHOLDS[self]


_DEFAULT_THRESHOLDS = {WarningLevel.INFO: 75.0, WarningLevel.WARNING: 85.0, WarningLevel.CRITICAL: 95.0}
_SEVERITY = {WarningLevel.INFO: 0, WarningLevel.WARNING: 1, WarningLevel.CRITICAL: 2}
_LOG_LEVELS = {WarningLevel.INFO: logging.INFO, WarningLevel.WARNING: logging.WARNING,
               WarningLevel.CRITICAL: logging.ERROR}


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and type(value) is not bool


def _check_count(value: object, what: str, *, optional: bool = False) -> int | None:
    if value is None and optional:
        return None
    if type(value) is bool or not isinstance(value, int) or value < 0:
        raise ValueError(f"{what} must be an int >= 0, got {value!r}")
    return int(value)


@dataclass
class BudgetThreshold:
    level: WarningLevel
    percentage: float
    enabled: bool = True

    def __post_init__(self) -> None:
        self.level = WarningLevel(self.level)
        p = self.percentage
        if not _is_number(p) or not 0 <= p <= 100:
            raise ValueError(f"Threshold percentage must be 0-100, got {p}")
        self.percentage = float(p)


@dataclass
class WarningEvent:
    timestamp: datetime
    level: WarningLevel
    tool_name: str | None
    current_usage: int
    budget_limit: int
    utilization_percentage: float
    message: str
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.timestamp = as_utc(self.timestamp)
        self.level = WarningLevel(self.level)
        self.metadata = dict(self.metadata)

    def copy(self) -> WarningEvent:
        return replace(self)

    def to_dict(self) -> dict[str, Any]:
        return {
            "timestamp": self.timestamp.isoformat(),
            "level": self.level.value,
            "tool_name": self.tool_name,
            "current_usage": self.current_usage,
            "budget_limit": self.budget_limit,
            "utilization_percentage": self.utilization_percentage,
            "message": self.message,
            "metadata": dict(self.metadata),
        }


@dataclass
class ThrottleConfig:
    enabled: bool = True
    min_interval_seconds: float = 60.0
    max_warnings_per_minute: int = 5

    def __post_init__(self) -> None:
        if not _is_number(self.min_interval_seconds) or not self.min_interval_seconds >= 0:
            raise ValueError(f"min_interval_seconds must be >= 0, got {self.min_interval_seconds!r}")
        _check_count(self.max_warnings_per_minute, "max_warnings_per_minute")


class _ClaudeSessionStats(Protocol):
    total_tokens_used: int
    budget_limit: int


def exit_code_for(events: Iterable[WarningEvent]) -> int:
    """Exit status for a CLI gate: 1 if any event is CRITICAL, else 0."""
    return 1 if any(event.level is WarningLevel.CRITICAL for event in events) else 0


_Scope = str | None  # None = the global budget


class BudgetWarningSystem:
    """Threshold warnings for the global budget and per-tool budgets (thread-safe)."""

    def __init__(
        self,
        global_budget_limit: int | None = None,
        per_tool_limits: Mapping[str, int | None] | None = None,
        thresholds: Iterable[BudgetThreshold] | None = None,
        throttle_config: ThrottleConfig | None = None,
        enable_logging: bool = True,
        enable_cli_output: bool = False,
        *,
        max_history: int = 1000,
        stream: TextIO | None = None,
        timer: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = utcnow,
    ) -> None:
        self._global_limit = _check_count(global_budget_limit, "global_budget_limit", optional=True)
        self._tool_limits: dict[str, int] = {}
        for tool, limit in (per_tool_limits or {}).items():
            checked = _check_count(limit, f"per_tool_limits[{tool!r}]", optional=True)
            if checked is not None:
                self._tool_limits[require_str(tool, "tool name")] = checked
        if thresholds is None:
            chosen = [BudgetThreshold(level, level.default_threshold) for level in WarningLevel]
        else:
            chosen = []
            for threshold in thresholds:
                if not isinstance(threshold, BudgetThreshold):
                    raise TypeError(f"thresholds must be BudgetThreshold, not {type(threshold).__name__}")
                chosen.append(replace(threshold))
        self._thresholds = sorted(chosen, key=lambda t: (t.percentage, _SEVERITY[t.level]))
        self._throttle = replace(throttle_config) if throttle_config is not None else ThrottleConfig()
        _check_count(max_history, "max_history")
        self._history: deque[WarningEvent] = deque(maxlen=max_history)
        self.enable_logging = bool(enable_logging)
        self.enable_cli_output = bool(enable_cli_output)
        self._stream = stream
        self._timer = timer
        self._now = now
        self._lock = threading.Lock()
        self._callbacks: list[WarningCallback] = []
        self._triggered: set[tuple[_Scope, int]] = set()
        self._last_emitted: dict[tuple[_Scope, WarningLevel], float] = {}
        self._emissions: deque[float] = deque()
        self._suppressed = 0
        self._watches: list[tuple[TokenUsageTracker, Callable[[object], None]]] = []

    @classmethod
    def from_config(cls, config: Any, operation_type: Any = None, **kwargs: Any) -> BudgetWarningSystem:
        """Limits from a ``BudgetConfigManager``: each configured tool's budget (its ``operation_type`` budget
        when given), and the global default as the global limit; disabled levels give no limit."""
        from ..errors import BudgetNotConfiguredError

        budgets = config.get_all_budgets()
        per_tool: dict[str, int | None] = {}
        for name, tool in budgets["tools"].items():
            if not tool["enabled"]:
                continue
            try:
                per_tool[name] = config.get_budget(name, operation_type)
            except BudgetNotConfiguredError:
                continue
        overall = budgets["global"]["default"] if budgets["global"]["enabled"] else None
        return cls(global_budget_limit=overall, per_tool_limits=per_tool, **kwargs)

    # -- configuration -------------------------------------------------------------------------------

    @property
    def thresholds(self) -> list[BudgetThreshold]:
        return [replace(t) for t in self._thresholds]

    @property
    def throttle_config(self) -> ThrottleConfig:
        return replace(self._throttle)

    @property
    def global_budget_limit(self) -> int | None:
        return self._global_limit

    @property
    def per_tool_limits(self) -> dict[str, int]:
        with self._lock:
            return dict(self._tool_limits)

    @property
    def suppressed_warnings(self) -> int:
        with self._lock:
            return self._suppressed

    def register_callback(self, callback: WarningCallback) -> None:
        """Call ``callback(event)`` for every emitted warning (any callable; duplicates ignored)."""
        if not callable(callback):
            raise TypeError("callback must be callable")
        with self._lock:
            if callback not in self._callbacks:
                self._callbacks.append(callback)

    def unregister_callback(self, callback: WarningCallback) -> bool:
        with self._lock:
            try:
                self._callbacks.remove(callback)
            except ValueError:
                return False
            return True

    # -- evaluation (call with the lock held) --------------------------------------------------------

    def _throttled(self, scope: _Scope, level: WarningLevel, at: float) -> bool:
        if not self._throttle.enabled:
            return False
        while self._emissions and self._emissions[0] <= at - 60.0:
            self._emissions.popleft()
        if len(self._emissions) >= self._throttle.max_warnings_per_minute:
            return True
        last = self._last_emitted.get((scope, level))
        return last is not None and at - last < self._throttle.min_interval_seconds

    def _evaluate(self, scope: _Scope, used: int, limit: int) -> list[WarningEvent]:
        utilization = utilization_pct(used, limit)
        at = self._timer()
        events: list[WarningEvent] = []
        for index, threshold in enumerate(self._thresholds):
            key = (scope, index)
            if utilization < threshold.percentage:
                self._triggered.discard(key)
                continue
            if not threshold.enabled or key in self._triggered:
                continue
            if self._throttled(scope, threshold.level, at):
                self._suppressed += 1
                continue
            name = "global" if scope is None else scope
            remaining = limit - used
            event = WarningEvent(
                timestamp=self._now(),
                level=threshold.level,
                tool_name=scope,
                current_usage=used,
                budget_limit=limit,
                utilization_percentage=utilization,
                message=(
                    f"{threshold.level.value.upper()} - {name} budget at {utilization:.1f}% "
                    f"({used:,} / {limit:,} tokens, {remaining:,} remaining)"
                ),
                metadata={"tokens_remaining": remaining, "scope": name},
            )
            self._triggered.add(key)
            self._last_emitted[(scope, threshold.level)] = at
            if self._throttle.enabled:
                self._emissions.append(at)
            self._history.append(event)
            events.append(event)
        return events

    def _dispatch(
        self, events: list[WarningEvent], callbacks: tuple[WarningCallback, ...]
    ) -> list[WarningEvent]:
        """Log, print and call back for ``events`` (the lock is not held); return copies for the caller."""
        for event in events:
            if self.enable_logging:
                logger.log(_LOG_LEVELS[event.level], event.message)
            if self.enable_cli_output:
                stream = self._stream if self._stream is not None else sys.stderr
                print(f"[{event.level.value.upper()}] {event.message}", file=stream, flush=True)
            for callback in callbacks:
                try:
                    callback(event.copy())
                except Exception:
                    logger.exception("budget warning callback %r failed", callback)
        return [event.copy() for event in events]

    # -- checks --------------------------------------------------------------------------------------

    def check_usage(
        self, tool_name: str | None, current_usage: int, budget_limit: int | None = None
    ) -> list[WarningEvent]:
        """Check one scope's figures; ``budget_limit=None`` uses the configured limit (none → no check)."""
        if tool_name is not None:
            require_str(tool_name, "tool_name")
        used = _check_count(current_usage, "current_usage")
        given = _check_count(budget_limit, "budget_limit", optional=True)
        assert used is not None
        with self._lock:
            limit = given
            if limit is None:
                limit = self._global_limit if tool_name is None else self._tool_limits.get(tool_name)
            events = [] if limit is None else self._evaluate(tool_name, used, limit)
            callbacks = tuple(self._callbacks)
        return self._dispatch(events, callbacks)

    def check_usage_tracker(
        self, tracker: TokenUsageTracker, tool_name: str | None = None
    ) -> list[WarningEvent]:
        """Check ``tool_name`` (or every tracked tool that has a limit), plus the global budget if set."""
        totals = tracker.get_tool_totals()
        with self._lock:
            events: list[WarningEvent] = []
            names = [tool_name] if tool_name is not None else list(totals)
            for name in names:
                limit = self._tool_limits.get(name)
                if limit is not None:
                    events += self._evaluate(name, totals.get(name, 0), limit)
            if self._global_limit is not None:
                events += self._evaluate(None, sum(totals.values()), self._global_limit)
            callbacks = tuple(self._callbacks)
        return self._dispatch(events, callbacks)

    def check_claude_budget_manager(self, manager: Any) -> list[WarningEvent]:
        """Check a Claude session (scope ``claude_<model id>``) from ``manager.session_stats``.

        Duck-typed: ``manager.model.model_id``, ``manager.session_stats.total_tokens_used`` and
        ``.budget_limit`` are all that is read.
        """
        stats: _ClaudeSessionStats = manager.session_stats
        scope = f"claude_{manager.model.model_id}"
        used = _check_count(stats.total_tokens_used, "total_tokens_used")
        limit = _check_count(stats.budget_limit, "budget_limit")
        assert used is not None and limit is not None
        with self._lock:
            events = self._evaluate(scope, used, limit)
            callbacks = tuple(self._callbacks)
        return self._dispatch(events, callbacks)

    def watch(self, tracker: TokenUsageTracker) -> None:
        """Check ``tracker`` after every operation it records (idempotent)."""

        def on_operation(_operation: object) -> None:
            self.check_usage_tracker(tracker)

        with self._lock:
            if any(watched is tracker for watched, _ in self._watches):
                return
            self._watches.append((tracker, on_operation))
        tracker.add_listener(on_operation)

    def unwatch(self, tracker: TokenUsageTracker) -> bool:
        with self._lock:
            for index, (watched, _listener) in enumerate(self._watches):
                if watched is tracker:
                    listener = self._watches.pop(index)[1]
                    break
            else:
                return False
        tracker.remove_listener(listener)
        return True

    # -- history -------------------------------------------------------------------------------------

    def get_warning_history(
        self,
        tool_name: str | None = None,
        level: WarningLevel | str | None = None,
        since: datetime | None = None,
    ) -> list[WarningEvent]:
        """Emitted events, oldest first, filtered by tool (``None`` = all), level and ``since``.

        A naive ``since`` is read as UTC.
        """
        wanted = None if level is None else WarningLevel(level)
        after = None if since is None else as_utc(since)
        with self._lock:
            return [
                event.copy()
                for event in self._history
                if (tool_name is None or event.tool_name == tool_name)
                and (wanted is None or event.level is wanted)
                and (after is None or event.timestamp >= after)
            ]

    def get_warning_summary(self) -> dict[str, Any]:
        hour_ago = as_utc(self._now()) - timedelta(hours=1)
        with self._lock:
            by_level = {level.value: 0 for level in WarningLevel}
            by_tool: dict[str, int] = {}
            recent = 0
            for event in self._history:
                by_level[event.level.value] += 1
                name = "global" if event.tool_name is None else event.tool_name
                by_tool[name] = by_tool.get(name, 0) + 1
                recent += event.timestamp >= hour_ago
            return {
                "total_warnings": len(self._history),
                "warnings_by_level": by_level,
                "warnings_by_tool": by_tool,
                "recent_warnings_1h": recent,
                "thresholds_configured": [
                    {"level": t.level.value, "percentage": t.percentage, "enabled": t.enabled}
                    for t in self._thresholds
                ],
                "callbacks_registered": len(self._callbacks),
                "suppressed_warnings": self._suppressed,
            }

    def clear_history(self, tool_name: str | None = None) -> int:
        """Remove events (all, or one tool's) with their triggered and last-time state; return how many."""
        with self._lock:
            before = len(self._history)
            if tool_name is None:
                self._history.clear()
                self._triggered.clear()
                self._last_emitted.clear()
                return before
            kept = [event for event in self._history if event.tool_name != tool_name]
            self._history = deque(kept, maxlen=self._history.maxlen)
            self._triggered = {key for key in self._triggered if key[0] != tool_name}
            self._last_emitted = {key: t for key, t in self._last_emitted.items() if key[0] != tool_name}
            return before - len(kept)
