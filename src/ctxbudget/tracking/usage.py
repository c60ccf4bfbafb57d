"""Token usage tracking per session, tool and operation, with export/import and optional SQLite persistence.

* ``TokenUsageTracker`` records operations under one lock; every getter returns copies. In detailed mode it
  keeps the newest ``max_operations_per_tool`` operations per tool (a ``deque(maxlen=...)``: O(1) per
  operation) and the newest ``RECENT_OPERATIONS_LIMIT`` operations overall; in minimal mode only totals,
  counts and first/last timestamps.
* ``export_snapshot()`` / ``TokenUsageTracker.from_snapshot()`` round-trip exactly; ``save``/``load``
  write and read that snapshot as JSON (atomic write).
* ``SQLiteUsageStore`` is an append-only operation log shared safely by threads and processes (WAL mode,
  ``BEGIN IMMEDIATE`` per operation, busy timeout). A tracker built with ``store=`` writes each operation
  to it before updating memory, so a failed write records nothing.
* ``GlobalUsageTracker`` is the process-wide registry of session trackers.

Time is injected: ``now`` (wall clock, aware UTC; naive results are read as UTC) stamps operations and
sessions; ``timer`` (monotonic seconds) measures the session duration.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

from .._clock import as_utc, iso_or_none, parse_utc, utcnow
from .._util import require_str
from ..counting.counter import TokenCounter
from ..files import atomic_write_text, private_dir, user_dir
from ..operations import OperationType, operation_type_of

logger = logging.getLogger(__name__)

RECENT_OPERATIONS_LIMIT = 100
"""Operations kept for ``recent_operations`` (snapshot export and ``get_session_snapshot``)."""

_session_ids = itertools.count(1)
_operation_ids = itertools.count(1)

OperationListener = Callable[["OperationUsage"], object]


def _check_tokens(tokens: object, what: str = "tokens_used") -> int:
    if type(tokens) is bool or not isinstance(tokens, int):
        raise ValueError(f"{what} must be an int >= 0, got {type(tokens).__name__} {tokens!r}")
    if tokens < 0:
        raise ValueError(f"{what} must be an int >= 0, got {tokens}")
    return int(tokens)


def _check_metadata(metadata: object) -> dict[str, Any]:
    if metadata is None:
        return {}
    if not isinstance(metadata, Mapping):
        raise TypeError(f"metadata must be a mapping, not {type(metadata).__name__}")
    return dict(metadata)


@dataclass
class OperationUsage:
    operation_type: OperationType
    operation_id: str
    tokens_used: int
    timestamp: datetime = field(default_factory=utcnow)
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.operation_type = operation_type_of(self.operation_type)
        require_str(self.operation_id, "operation_id")
        self.tokens_used = _check_tokens(self.tokens_used)
        self.timestamp = as_utc(self.timestamp)
        self.metadata = _check_metadata(self.metadata)

    def copy(self) -> OperationUsage:
        return replace(self)  # __post_init__ copies the metadata dict

    def to_dict(self) -> dict[str, Any]:
        return {
            "operation_type": self.operation_type.value,
            "operation_id": self.operation_id,
            "tokens_used": self.tokens_used,
            "timestamp": self.timestamp.isoformat(),
            "metadata": dict(self.metadata),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> OperationUsage:
        return cls(
            operation_type=data["operation_type"],
            operation_id=data["operation_id"],
            tokens_used=data["tokens_used"],
            timestamp=parse_utc(data["timestamp"]),
            metadata=data.get("metadata") or {},
        )


@dataclass
class ToolUsageStats:
    tool_name: str
    total_tokens: int = 0
    operation_counts: dict[str, int] = field(default_factory=dict)
    operation_tokens: dict[str, int] = field(default_factory=dict)
    first_operation_at: datetime | None = None
    last_operation_at: datetime | None = None
    operations: deque[OperationUsage] = field(default_factory=deque)

    def __post_init__(self) -> None:
        if not isinstance(self.operations, deque):
            self.operations = deque(self.operations)

    def add_operation(self, operation: OperationUsage, *, keep: bool = True) -> None:
        """Count ``operation``; ``keep=False`` (minimal mode) updates everything but the operation list."""
        self.total_tokens += operation.tokens_used
        key = operation.operation_type.value
        self.operation_counts[key] = self.operation_counts.get(key, 0) + 1
        self.operation_tokens[key] = self.operation_tokens.get(key, 0) + operation.tokens_used
        ts = operation.timestamp
        if self.first_operation_at is None or ts < self.first_operation_at:
            self.first_operation_at = ts
        if self.last_operation_at is None or ts > self.last_operation_at:
            self.last_operation_at = ts
        if keep:
            self.operations.append(operation)

    def get_average_tokens_per_operation(self) -> float:
        count = sum(self.operation_counts.values())
        return self.total_tokens / count if count else 0.0

    def get_operation_percentage(self, operation_type: OperationType | str) -> float:
        """Share of this tool's tokens spent on ``operation_type``, 0–100 (0.0 when nothing was used)."""
        if self.total_tokens == 0:
            return 0.0
        key = operation_type_of(operation_type).value
        return self.operation_tokens.get(key, 0) / self.total_tokens * 100.0

    def copy(self) -> ToolUsageStats:
        return ToolUsageStats(
            tool_name=self.tool_name,
            total_tokens=self.total_tokens,
            operation_counts=dict(self.operation_counts),
            operation_tokens=dict(self.operation_tokens),
            first_operation_at=self.first_operation_at,
            last_operation_at=self.last_operation_at,
            operations=deque((op.copy() for op in self.operations), maxlen=self.operations.maxlen),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "tool_name": self.tool_name,
            "total_tokens": self.total_tokens,
            "operation_counts": dict(self.operation_counts),
            "operation_tokens": dict(self.operation_tokens),
            "first_operation_at": iso_or_none(self.first_operation_at),
            "last_operation_at": iso_or_none(self.last_operation_at),
            "operations": [op.to_dict() for op in self.operations],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, max_operations: int | None = None) -> ToolUsageStats:
        def counts(key: str) -> dict[str, int]:
            raw = data.get(key) or {}
            if not isinstance(raw, Mapping):
                raise ValueError(f"{key} must be a mapping")
            return {operation_type_of(k).value: _check_tokens(v, f"{key}[{k}]") for k, v in raw.items()}

        first, last = data.get("first_operation_at"), data.get("last_operation_at")
        ops = data.get("operations") or []
        if not isinstance(ops, list):
            raise ValueError("operations must be a list")
        return cls(
            tool_name=require_str(data["tool_name"], "tool_name"),
            total_tokens=_check_tokens(data["total_tokens"], "total_tokens"),
            operation_counts=counts("operation_counts"),
            operation_tokens=counts("operation_tokens"),
            first_operation_at=None if first is None else parse_utc(first),
            last_operation_at=None if last is None else parse_utc(last),
            operations=deque((OperationUsage.from_dict(op) for op in ops), maxlen=max_operations),
        )


@dataclass
class SessionUsageSnapshot:
    session_id: str
    timestamp: datetime
    total_tokens: int
    tool_stats: dict[str, ToolUsageStats]
    recent_operations: list[OperationUsage] = field(default_factory=list)


class TokenUsageTracker:
    """Per-session token usage by tool and operation type (thread-safe; getters return copies)."""

    def __init__(
        self,
        session_id: str | None = None,
        track_detailed_operations: bool = True,
        max_operations_per_tool: int = 1000,
        *,
        now: Callable[[], datetime] = utcnow,
        timer: Callable[[], float] = time.monotonic,
        store: SQLiteUsageStore | None = None,
    ) -> None:
        if type(max_operations_per_tool) is bool or not isinstance(max_operations_per_tool, int) or (
            max_operations_per_tool < 1
        ):
            raise ValueError(f"max_operations_per_tool must be an int >= 1, got {max_operations_per_tool!r}")
        self._now = now
        self._timer = timer
        self._lock = threading.Lock()
        self._listeners: list[OperationListener] = []
        self.track_detailed_operations = bool(track_detailed_operations)
        self.max_operations_per_tool = max_operations_per_tool
        self._tool_stats: dict[str, ToolUsageStats] = {}
        self._total_tokens = 0
        self._recent: deque[OperationUsage] = deque(maxlen=RECENT_OPERATIONS_LIMIT)
        self._session_id = self._new_session_id(session_id)
        self._session_start = self._stamp()
        self._clock_origin = timer()
        self._elapsed_before = 0.0
        self._store = store
        if store is not None:
            store.attach_session(self)

    # -- identity and time ---------------------------------------------------------------------------

    @property
    def session_id(self) -> str:
        return self._session_id

    @property
    def session_start(self) -> datetime:
        return self._session_start

    @property
    def store(self) -> SQLiteUsageStore | None:
        return self._store

    def _stamp(self) -> datetime:
        return as_utc(self._now())

    def _new_session_id(self, session_id: str | None) -> str:
        if session_id is not None:
            if not require_str(session_id, "session_id"):
                raise ValueError("session_id must not be empty")
            return session_id
        return f"usage_session_{self._stamp():%Y%m%d_%H%M%S_%f}_{next(_session_ids)}"

    def _duration_seconds(self) -> float:
        return self._elapsed_before + max(0.0, self._timer() - self._clock_origin)

    # -- recording -----------------------------------------------------------------------------------

    def _apply(self, tool_name: str, operation: OperationUsage) -> None:
        """Count ``operation`` for ``tool_name``; the caller holds the lock (or owns the tracker)."""
        stats = self._tool_stats.get(tool_name)
        if stats is None:
            stats = ToolUsageStats(tool_name, operations=deque(maxlen=self.max_operations_per_tool))
            self._tool_stats[tool_name] = stats
        stats.add_operation(operation, keep=self.track_detailed_operations)
        self._total_tokens += operation.tokens_used
        if self.track_detailed_operations:
            self._recent.append(operation)

    def track_operation(
        self,
        tool_name: str,
        operation_type: OperationType | str,
        tokens_used: int,
        operation_id: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> OperationUsage:
        """Record one operation and return (a copy of) its record; ``tokens_used`` is an int >= 0."""
        require_str(tool_name, "tool_name")
        op_type = operation_type_of(operation_type)
        tokens = _check_tokens(tokens_used)
        details = _check_metadata(metadata)
        stamp = self._stamp()
        if operation_id is None:
            operation_id = f"{tool_name}_{op_type.value}_{stamp:%Y%m%d_%H%M%S_%f}_{next(_operation_ids)}"
        operation = OperationUsage(op_type, operation_id, tokens, stamp, details)
        with self._lock:
            if self._store is not None:
                self._store.record(self._session_id, tool_name, operation)
            self._apply(tool_name, operation)
            listeners = tuple(self._listeners)
        result = operation.copy()
        for listener in listeners:
            try:
                listener(result.copy())
            except Exception:
                logger.exception("usage listener %r failed", listener)
        return result

    def track_text(
        self,
        text: str,
        tool_name: str,
        operation_type: OperationType | str,
        operation_id: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        use_tokenizer: bool = True,
    ) -> OperationUsage:
        """Count ``text`` with ``TokenCounter.count_tokens`` for ``tool_name``, then record it."""
        tokens = TokenCounter.count_tokens(text, tool_name, use_tokenizer=use_tokenizer)
        return self.track_operation(tool_name, operation_type, tokens, operation_id, metadata)

    @contextmanager
    def track_context(
        self,
        tool_name: str,
        operation_type: OperationType | str,
        operation_id: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> Iterator[Callable[[int], None]]:
        """Yield ``add_tokens(count)``; on exit record one operation with the sum (if > 0).

        If the block raises, the partial sum is recorded with metadata ``partial=True`` and
        ``error=<exception class name>``, and the exception propagates.
        """
        require_str(tool_name, "tool_name")
        op_type = operation_type_of(operation_type)
        details = _check_metadata(metadata)
        total = 0
        total_lock = threading.Lock()

        def add_tokens(count: int) -> None:
            nonlocal total
            checked = _check_tokens(count, "count")
            with total_lock:
                total += checked

        try:
            yield add_tokens
        except BaseException as exc:
            if total > 0:
                partial = {**details, "partial": True, "error": type(exc).__name__}
                self.track_operation(tool_name, op_type, total, operation_id, partial)
            raise
        if total > 0:
            self.track_operation(tool_name, op_type, total, operation_id, details)

    # -- listeners -----------------------------------------------------------------------------------

    def add_listener(self, listener: OperationListener) -> None:
        """Call ``listener(operation)`` after each recorded operation, outside the tracker lock.

        Exceptions raised by a listener are logged and swallowed; registering twice is a no-op.
        """
        if not callable(listener):
            raise TypeError("listener must be callable")
        with self._lock:
            if listener not in self._listeners:
                self._listeners.append(listener)

    def remove_listener(self, listener: OperationListener) -> bool:
        with self._lock:
            try:
                self._listeners.remove(listener)
            except ValueError:
                return False
            return True

    # -- readers -------------------------------------------------------------------------------------

    def get_tool_stats(self, tool_name: str) -> ToolUsageStats | None:
        with self._lock:
            stats = self._tool_stats.get(tool_name)
            return None if stats is None else stats.copy()

    def get_all_tool_stats(self) -> dict[str, ToolUsageStats]:
        with self._lock:
            return {name: stats.copy() for name, stats in self._tool_stats.items()}

    def get_tool_totals(self) -> dict[str, int]:
        """``{tool: total_tokens}`` without copying operation histories."""
        with self._lock:
            return {name: stats.total_tokens for name, stats in self._tool_stats.items()}

    def get_total_tokens(self) -> int:
        with self._lock:
            return self._total_tokens

    def get_session_snapshot(self, include_recent: int = 10) -> SessionUsageSnapshot:
        """Copies of the current figures; ``recent_operations`` newest first, at most
        ``min(include_recent, RECENT_OPERATIONS_LIMIT)`` (none in minimal mode)."""
        if type(include_recent) is bool or not isinstance(include_recent, int) or include_recent < 0:
            raise ValueError(f"include_recent must be an int >= 0, got {include_recent!r}")
        with self._lock:
            recent = [op.copy() for op in itertools.islice(reversed(self._recent), include_recent)]
            return SessionUsageSnapshot(
                session_id=self._session_id,
                timestamp=self._stamp(),
                total_tokens=self._total_tokens,
                tool_stats={name: stats.copy() for name, stats in self._tool_stats.items()},
                recent_operations=recent,
            )

    def count_rule_uses(self, tool_name: str) -> dict[str, tuple[int, datetime]]:
        """``{rule_id: (uses, last_used)}`` over this tool's kept operations with ``metadata["rule_id"]``
        (one pass under the lock)."""
        uses: dict[str, tuple[int, datetime]] = {}
        with self._lock:
            stats = self._tool_stats.get(tool_name)
            if stats is None:
                return uses
            for op in stats.operations:
                rule_id = op.metadata.get("rule_id")
                if not isinstance(rule_id, str):
                    continue
                seen = uses.get(rule_id)
                if seen is None:
                    uses[rule_id] = (1, op.timestamp)
                else:
                    uses[rule_id] = (seen[0] + 1, max(seen[1], op.timestamp))
        return uses

    def get_usage_report(self) -> dict[str, Any]:
        with self._lock:
            duration = self._duration_seconds()
            tools = {
                name: {
                    "total_tokens": stats.total_tokens,
                    "operation_counts": dict(stats.operation_counts),
                    "operation_tokens": dict(stats.operation_tokens),
                    "average_tokens_per_operation": stats.get_average_tokens_per_operation(),
                    "first_operation_at": iso_or_none(stats.first_operation_at),
                    "last_operation_at": iso_or_none(stats.last_operation_at),
                    "operation_count": sum(stats.operation_counts.values()),
                }
                for name, stats in self._tool_stats.items()
            }
            return {
                "session_id": self._session_id,
                "session_start": self._session_start.isoformat(),
                "session_duration_seconds": duration,
                "total_tokens": self._total_tokens,
                "tokens_per_second": self._total_tokens / duration if duration > 0 else 0.0,
                "tool_count": len(self._tool_stats),
                "detailed_tracking_enabled": self.track_detailed_operations,
                "tools": tools,
            }

    # -- session lifecycle ---------------------------------------------------------------------------

    def reset_session(self, new_session_id: str | None = None) -> None:
        """Clear all figures and start a new session (a new id unless given); re-keys the global registry."""
        with self._lock:
            old_id = self._session_id
            self._session_id = self._new_session_id(new_session_id)
            self._tool_stats.clear()
            self._recent.clear()
            self._total_tokens = 0
            self._session_start = self._stamp()
            self._clock_origin = self._timer()
            self._elapsed_before = 0.0
            if self._store is not None:
                self._store.attach_session(self)
            new_id = self._session_id
        GlobalUsageTracker._rekey(self, old_id, new_id)
        logger.info("usage session reset: %s -> %s", old_id, new_id)

    # -- export / import -----------------------------------------------------------------------------

    def export_snapshot(self) -> dict[str, Any]:
        """A JSON-serialisable copy of the whole state, built under the lock."""
        with self._lock:
            return {
                "session_id": self._session_id,
                "timestamp": self._stamp().isoformat(),
                "total_tokens": self._total_tokens,
                "recent_operations": [op.to_dict() for op in reversed(self._recent)],
                "session_start": self._session_start.isoformat(),
                "tool_stats": {name: stats.to_dict() for name, stats in self._tool_stats.items()},
                "track_detailed_operations": self.track_detailed_operations,
                "max_operations_per_tool": self.max_operations_per_tool,
            }

    @classmethod
    def from_snapshot(
        cls,
        data: Mapping[str, Any],
        *,
        track_detailed_operations: bool | None = None,
        max_operations_per_tool: int | None = None,
        now: Callable[[], datetime] = utcnow,
        timer: Callable[[], float] = time.monotonic,
    ) -> TokenUsageTracker:
        """Rebuild a tracker from ``export_snapshot()`` output (``ValueError``/``KeyError`` if malformed).

        The mode and the history cap are the snapshot's unless given; a snapshot without them (an older
        export) gets detailed mode and a cap that keeps every exported operation (at least 1000 per tool).
        """
        if not isinstance(data, Mapping):
            raise ValueError("a usage snapshot must be a mapping")
        raw_stats = data.get("tool_stats") or {}
        raw_recent = data.get("recent_operations") or []
        if not isinstance(raw_stats, Mapping) or not isinstance(raw_recent, list):
            raise ValueError("tool_stats must be a mapping and recent_operations a list")
        if track_detailed_operations is None:
            track_detailed_operations = data.get("track_detailed_operations", True)
            if type(track_detailed_operations) is not bool:
                raise ValueError(f"track_detailed_operations must be true or false, got {track_detailed_operations!r}")
        if max_operations_per_tool is None:
            max_operations_per_tool = data.get("max_operations_per_tool")
        if max_operations_per_tool is None:
            longest = max((len(s.get("operations") or []) for s in raw_stats.values()), default=0)
            max_operations_per_tool = max(1000, longest)
        tracker = cls(
            require_str(data["session_id"], "session_id"),
            track_detailed_operations,
            max_operations_per_tool,
            now=now,
            timer=timer,
        )
        max_ops = max_operations_per_tool
        tool_stats = {
            require_str(name, "tool name"): ToolUsageStats.from_dict(stats, max_operations=max_ops)
            for name, stats in raw_stats.items()
        }
        total = _check_tokens(data["total_tokens"], "total_tokens")
        if total != sum(s.total_tokens for s in tool_stats.values()):
            raise ValueError(f"total_tokens {total} does not match the sum of the tool totals")
        start = parse_utc(data["session_start"])
        with tracker._lock:
            tracker._tool_stats = tool_stats
            tracker._total_tokens = total
            tracker._recent.extend(OperationUsage.from_dict(op) for op in reversed(raw_recent))
            tracker._session_start = start
            tracker._elapsed_before = max(0.0, (tracker._stamp() - start).total_seconds())
        return tracker

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write ``export_snapshot()`` as JSON, atomically."""
        atomic_write_text(path, json.dumps(self.export_snapshot(), indent=2, ensure_ascii=False) + "\n")

    @classmethod
    def load(
        cls,
        path: str | os.PathLike[str],
        *,
        now: Callable[[], datetime] = utcnow,
        timer: Callable[[], float] = time.monotonic,
    ) -> TokenUsageTracker:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        return cls.from_snapshot(data, now=now, timer=timer)


class GlobalUsageTracker:
    """Process-wide registry of session trackers (``GlobalUsageTracker()`` is always the same object)."""

    _instance: ClassVar[GlobalUsageTracker | None] = None
    _instance_lock: ClassVar[threading.Lock] = threading.Lock()

    _lock: threading.Lock
    _sessions: dict[str, TokenUsageTracker]
    _creation_time: datetime
    _timer: Callable[[], float]
    _started: float

    def __new__(
        cls,
        *,
        now: Callable[[], datetime] | None = None,
        timer: Callable[[], float] | None = None,
    ) -> GlobalUsageTracker:
        """The singleton; ``now``/``timer`` only apply when this call creates it."""
        with cls._instance_lock:
            instance = cls._instance
            if instance is None:
                instance = super().__new__(cls)
                instance._lock = threading.Lock()
                instance._sessions = {}
                instance._creation_time = as_utc((now or utcnow)())
                instance._timer = timer or time.monotonic
                instance._started = instance._timer()
                cls._instance = instance
            return instance

    @classmethod
    def get_instance(
        cls,
        *,
        now: Callable[[], datetime] | None = None,
        timer: Callable[[], float] | None = None,
    ) -> GlobalUsageTracker:
        return cls(now=now, timer=timer)

    @classmethod
    def reset_instance(cls) -> None:
        """Forget the singleton (tests); the next call creates a fresh, empty registry."""
        with cls._instance_lock:
            cls._instance = None

    @classmethod
    def _rekey(cls, tracker: TokenUsageTracker, old_id: str, new_id: str) -> None:
        instance = cls._instance
        if instance is None:
            return
        with instance._lock:
            if instance._sessions.get(old_id) is tracker:
                del instance._sessions[old_id]
                instance._sessions[new_id] = tracker

    def register_session(self, tracker: TokenUsageTracker) -> None:
        if not isinstance(tracker, TokenUsageTracker):
            raise TypeError(f"expected a TokenUsageTracker, not {type(tracker).__name__}")
        with self._lock:
            self._sessions[tracker.session_id] = tracker

    def unregister_session(self, session_id: str) -> bool:
        with self._lock:
            return self._sessions.pop(session_id, None) is not None

    def get_session(self, session_id: str) -> TokenUsageTracker | None:
        with self._lock:
            return self._sessions.get(session_id)

    def get_all_sessions(self) -> dict[str, TokenUsageTracker]:
        with self._lock:
            return dict(self._sessions)

    def get_global_report(self) -> dict[str, Any]:
        with self._lock:
            sessions = dict(self._sessions)
            uptime = max(0.0, self._timer() - self._started)
        per_session = {sid: tracker.get_total_tokens() for sid, tracker in sessions.items()}
        total = sum(per_session.values())
        return {
            "total_sessions": len(sessions),
            "total_tokens": total,
            "creation_time": self._creation_time.isoformat(),
            "uptime_seconds": uptime,
            "tokens_per_second": total / uptime if uptime > 0 else 0.0,
            "average_tokens_per_session": total / len(sessions) if sessions else 0.0,
            "sessions": per_session,
        }


# -- SQLite persistence ------------------------------------------------------------------------------

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    session_id TEXT PRIMARY KEY,
    session_start TEXT NOT NULL,
    track_detailed INTEGER NOT NULL,
    max_operations_per_tool INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS operations (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id TEXT NOT NULL,
    tool_name TEXT NOT NULL,
    operation_type TEXT NOT NULL,
    operation_id TEXT NOT NULL,
    tokens_used INTEGER NOT NULL,
    timestamp TEXT NOT NULL,
    metadata TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS operations_by_session ON operations (session_id, seq);
"""


@dataclass(frozen=True)
class UsageGroup:
    """One line of ``SQLiteUsageStore.summary``: a session's operations of one type for one tool."""

    session_id: str
    tool_name: str
    operation_type: str
    operations: int
    tokens: int
    first: datetime
    last: datetime


def default_usage_db_path() -> Path:
    """``$XDG_DATA_HOME/ctxbudget/usage.sqlite3`` (``~/.local/share`` when unset or relative)."""
    return user_dir("data") / "usage.sqlite3"


class SQLiteUsageStore:
    """An append-only log of operations in SQLite, safe for many threads and processes.

    The file is created with mode 0600 (its directory 0700); the database runs in WAL mode with a busy
    timeout, and every operation is written in its own ``BEGIN IMMEDIATE`` transaction, so concurrent
    writers queue instead of failing and nothing is lost.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None, *, timeout: float = 30.0) -> None:
        self._path = Path(path) if path is not None else default_usage_db_path()
        private_dir(self._path.parent)
        try:
            fd = os.open(self._path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            os.close(fd)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(
            self._path, timeout=timeout, isolation_level=None, check_same_thread=False
        )
        try:
            self._conn.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
            self._conn.execute("PRAGMA journal_mode = WAL")
            self._conn.execute("PRAGMA synchronous = NORMAL")
            with self._transaction():
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        self._conn.execute(statement)
        except BaseException:
            self._conn.close()
            raise

    @property
    def path(self) -> Path:
        return self._path

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction under the store lock (the caller must not hold it)."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def attach_session(self, tracker: TokenUsageTracker) -> None:
        """Remember ``tracker``'s session (start time and mode) unless it is already known."""
        with self._transaction() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO sessions VALUES (?, ?, ?, ?)",
                (
                    tracker.session_id,
                    tracker.session_start.isoformat(),
                    int(tracker.track_detailed_operations),
                    tracker.max_operations_per_tool,
                ),
            )

    def record(self, session_id: str, tool_name: str, operation: OperationUsage) -> None:
        """Append one operation in its own transaction."""
        metadata = json.dumps(operation.metadata, sort_keys=True, ensure_ascii=False)
        with self._transaction() as conn:
            conn.execute(
                "INSERT INTO operations (session_id, tool_name, operation_type, operation_id, tokens_used,"
                " timestamp, metadata) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    session_id,
                    tool_name,
                    operation.operation_type.value,
                    operation.operation_id,
                    operation.tokens_used,
                    operation.timestamp.isoformat(),
                    metadata,
                ),
            )

    def totals(self, session_id: str | None = None) -> dict[str, int]:
        """``{tool: tokens}`` over all sessions, or over one."""
        query = "SELECT tool_name, SUM(tokens_used) FROM operations"
        params: tuple[str, ...] = ()
        if session_id is not None:
            query += " WHERE session_id = ?"
            params = (session_id,)
        with self._lock:
            rows = self._conn.execute(query + " GROUP BY tool_name ORDER BY tool_name", params).fetchall()
        return {str(tool): int(tokens) for tool, tokens in rows}

    def summary(self, since: datetime | None = None) -> list[UsageGroup]:
        """Operations and tokens per (session, tool, operation type), oldest session first; with ``since``, only
        operations at or after it (compared as instants, whatever offset a timestamp was written with)."""
        query = ("SELECT session_id, tool_name, operation_type, COUNT(*), SUM(tokens_used), MIN(timestamp),"
                 " MAX(timestamp) FROM operations")
        params: tuple[str, ...] = ()
        if since is not None:
            query += " WHERE julianday(timestamp) >= julianday(?)"
            params = (as_utc(since).isoformat(),)
        query += " GROUP BY session_id, tool_name, operation_type ORDER BY MIN(seq)"
        with self._lock:
            rows = self._conn.execute(query, params).fetchall()
        return [UsageGroup(str(sid), str(tool), str(op), int(n), int(tokens), parse_utc(first), parse_utc(last))
                for sid, tool, op, n, tokens, first, last in rows]

    def session_ids(self) -> list[str]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT session_id FROM sessions UNION SELECT session_id FROM operations ORDER BY 1"
            ).fetchall()
        return [str(row[0]) for row in rows]

    def load_tracker(
        self,
        session_id: str,
        *,
        now: Callable[[], datetime] = utcnow,
        timer: Callable[[], float] = time.monotonic,
    ) -> TokenUsageTracker:
        """Rebuild a session's tracker from the log (``KeyError`` if unknown); it keeps recording here."""
        with self._lock:
            session = self._conn.execute(
                "SELECT session_start, track_detailed, max_operations_per_tool FROM sessions"
                " WHERE session_id = ?",
                (session_id,),
            ).fetchone()
            rows = self._conn.execute(
                "SELECT tool_name, operation_type, operation_id, tokens_used, timestamp, metadata"
                " FROM operations WHERE session_id = ? ORDER BY seq",
                (session_id,),
            ).fetchall()
        if session is None and not rows:
            raise KeyError(f"unknown usage session: {session_id!r}")
        detailed, max_ops = (bool(session[1]), int(session[2])) if session else (True, 1000)
        tracker = TokenUsageTracker(session_id, detailed, max_ops, now=now, timer=timer)
        start = parse_utc(session[0]) if session else parse_utc(rows[0][4])
        with tracker._lock:
            for tool, op_type, op_id, tokens, stamp, metadata in rows:
                operation = OperationUsage(op_type, op_id, tokens, parse_utc(stamp), json.loads(metadata))
                tracker._apply(tool, operation)
            tracker._session_start = start
            tracker._elapsed_before = max(0.0, (tracker._stamp() - start).total_seconds())
            tracker._store = self
        return tracker

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> SQLiteUsageStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
