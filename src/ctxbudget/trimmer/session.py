"""A trimming session as JSON: written atomically, read back with every field checked.

```json
{"format_version": 1, "tool_name": "codex", "budget": 8000, "strategy": "importance",
 "total_tokens_used": 7912, "rules_included": 60, "rules_excluded": 17, "created_at": "2025-…+00:00",
 "decisions": {"claude-1": {"rule_id": "claude-1", "decision": "include", "decision_type": "automatic",
                            "reason": "Auto-suggested by prioritizer", "timestamp": "2025-…+00:00"}},
 "metadata": {"over_budget": false, "utilization_pct": 98.9, "protected_count": 3}}
```

A file without ``format_version`` is version 1 (sessions written before the field existed).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, cast

from .._clock import parse_utc
from ..budget.prioritizer import PrioritizationStrategy
from ..files import atomic_write_text
from .model import DECISION_KINDS, DecisionKind, TrimDecision, TrimDecisionType, TrimSession

FORMAT_VERSION = 1
_DECISIONS = (TrimDecisionType.INCLUDE.value, TrimDecisionType.EXCLUDE.value)
_KIND_NAMES = {str: "a string", int: "an integer", dict: "an object"}


def session_to_dict(session: TrimSession) -> dict[str, Any]:
    return {
        "format_version": FORMAT_VERSION,
        "tool_name": session.tool_name,
        "budget": session.budget,
        "strategy": session.strategy.value,
        "total_tokens_used": session.total_tokens_used,
        "rules_included": session.rules_included,
        "rules_excluded": session.rules_excluded,
        "created_at": session.created_at.isoformat(),
        "decisions": {rule_id: {"rule_id": d.rule_id, "decision": d.decision.value, "decision_type": d.decision_type,
                                "reason": d.reason, "timestamp": d.timestamp.isoformat()}
                      for rule_id, d in session.decisions.items()},
        "metadata": dict(session.metadata),
    }


def write_session(path: str | os.PathLike[str], session: TrimSession) -> None:
    atomic_write_text(path, json.dumps(session_to_dict(session), indent=2, ensure_ascii=False) + "\n")


def read_session(path: str | os.PathLike[str]) -> TrimSession:
    """The session in ``path``: ``FileNotFoundError`` when there is none, ``ValueError`` naming the file and
    the field for anything that is not a session this version reads."""
    file = Path(path)
    text = file.read_text(encoding="utf-8")  # FileNotFoundError passes through
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{file}:{exc.lineno}: not a trim session: invalid JSON: {exc.msg}") from None
    return _session(data, str(file))


def _session(data: Any, file: str) -> TrimSession:
    if not isinstance(data, Mapping):
        raise ValueError(f"{file}: not a trim session: expected a JSON object")
    version = data.get("format_version", FORMAT_VERSION)
    if version != FORMAT_VERSION or isinstance(version, bool):
        raise ValueError(f"{file}: unsupported session format_version {version!r} (this version reads 1)")

    def field(key: str, kind: type, default: Any = None) -> Any:
        if key not in data:
            if default is None:
                raise ValueError(f"{file}: {key}: missing")
            return default
        value = data[key]
        if isinstance(value, bool) or not isinstance(value, kind):
            raise ValueError(f"{file}: {key}: expected {_KIND_NAMES[kind]}, got {type(value).__name__}")
        return value

    strategy_name = field("strategy", str)
    known = [s.value for s in PrioritizationStrategy]
    if strategy_name not in known:
        raise ValueError(f"{file}: strategy: must be one of {', '.join(known)}, got {strategy_name!r}")
    raw_decisions = field("decisions", dict)
    decisions = {str(rule_id): _decision(rule_id, entry, file) for rule_id, entry in raw_decisions.items()}
    return TrimSession(
        tool_name=field("tool_name", str), budget=field("budget", int),
        strategy=PrioritizationStrategy(strategy_name), decisions=decisions,
        total_tokens_used=field("total_tokens_used", int, 0), rules_included=field("rules_included", int, 0),
        rules_excluded=field("rules_excluded", int, 0),
        created_at=_time(field("created_at", str), f"{file}: created_at"), metadata=dict(field("metadata", dict, {})),
    )


def _decision(rule_id: str, entry: Any, file: str) -> TrimDecision:
    where = f"{file}: decisions.{rule_id}"
    if not isinstance(entry, Mapping):
        raise ValueError(f"{where}: expected an object, got {type(entry).__name__}")
    for key in ("rule_id", "decision", "decision_type", "reason", "timestamp"):
        if not isinstance(entry.get(key), str):
            raise ValueError(f"{where}.{key}: expected a string")
    if entry["rule_id"] != rule_id:
        raise ValueError(f"{where}.rule_id: {entry['rule_id']!r} is filed under {rule_id!r}")
    if entry["decision"] not in _DECISIONS:
        raise ValueError(f"{where}.decision: must be one of {', '.join(_DECISIONS)}, got {entry['decision']!r}")
    if entry["decision_type"] not in DECISION_KINDS:
        raise ValueError(f"{where}.decision_type: must be one of {', '.join(DECISION_KINDS)}, "
                         f"got {entry['decision_type']!r}")
    return TrimDecision(rule_id=rule_id, decision=TrimDecisionType(entry["decision"]),
                        decision_type=cast(DecisionKind, entry["decision_type"]), reason=entry["reason"],
                        timestamp=_time(entry["timestamp"], f"{where}.timestamp"))


def _time(text: str, where: str) -> datetime:
    try:
        return parse_utc(text)
    except ValueError:
        raise ValueError(f"{where}: not an ISO 8601 timestamp: {text!r}") from None
