"""``ctxbudget usage``: what the usage log recorded, per tool, operation and session.

The log is the SQLite file that ``TokenUsageTracker(store=SQLiteUsageStore())`` writes to
(``$XDG_DATA_HOME/ctxbudget/usage.sqlite3`` unless ``--db`` names another). Each tool's bar compares its
tokens per session (the mean over the sessions reported) with the tool's configured budget.

example: ctxbudget usage --since 7d
"""

from __future__ import annotations

import argparse
import re
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from .._clock import parse_utc, utcnow
from .common import EXIT_OK, UsageError, print_json, render_table, use_color
from .config_cmd import load_config

_AGO = re.compile(r"(\d+)\s*([mhdw])")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
BAR_WIDTH = 20


def add_parser(sub: Any) -> None:
    p = sub.add_parser("usage", help="the usage log's report per tool, operation and session", description=__doc__)
    p.add_argument("--since", metavar="WHEN",
                   help="only operations since WHEN: an ISO date or time (UTC unless it has an offset), or an age "
                        "such as 30m, 12h, 7d, 2w")
    p.add_argument("--db", metavar="FILE", help="the usage log (default: $XDG_DATA_HOME/ctxbudget/usage.sqlite3)")
    p.add_argument("--config", metavar="FILE", help="budget config file for the bars (default: discovered)")
    p.add_argument("--json", action="store_true", help="machine-readable report")
    p.set_defaults(run=run)


def parse_since(text: str, now: datetime) -> datetime:
    """``--since``: an age (``7d``) back from ``now``, or an ISO date/time; a usage error otherwise."""
    age = _AGO.fullmatch(text.strip())
    if age:
        return now - timedelta(**{_UNITS[age.group(2)]: int(age.group(1))})
    try:
        return parse_utc(text.strip())
    except ValueError:
        raise UsageError(f"--since {text!r}: expected an ISO date/time (2026-11-30, 2026-11-30T09:00) "
                         "or an age (30m, 12h, 7d, 2w)") from None


def run(args: argparse.Namespace) -> int:
    from ..tracking.usage import SQLiteUsageStore, default_usage_db_path

    path = Path(args.db) if args.db else default_usage_db_path()
    since = parse_since(args.since, utcnow()) if args.since else None
    if args.db and not path.is_file():
        raise UsageError(f"no usage log at {path}")
    groups = []
    if path.is_file():  # the default log may not exist yet; opening it would create it
        with SQLiteUsageStore(path) as store:
            groups = store.summary(since)
    config, _source = load_config(args.config)
    report = _report(groups, config)
    if args.json:
        print_json({"db": str(path), "since": since.isoformat() if since else None, **report})
        return EXIT_OK
    window = f" since {since:%Y-%m-%d %H:%M} UTC" if since else ""
    if not groups:
        print(f"no usage recorded{window} in {path}")
        return EXIT_OK
    print(f"{report['operations']:,} operations in {len(report['sessions']):,} sessions{window} ({path})")
    print()
    print(render_table(["tool", "tokens", "operations", "per session", "budget", ""],
                       [[t["tool"], f"{t['tokens']:,}", f"{t['operations']:,}", f"{t['tokens_per_session']:,}",
                         f"{t['budget']:,}" if t["budget"] else "-", _bar(t)] for t in report["tools"]],
                       right={1, 2, 3, 4}))
    print()
    print(render_table(["operation", "tokens", "operations"],
                       [[o["operation"], f"{o['tokens']:,}", f"{o['operations']:,}"]
                        for o in report["operations_by_type"]],
                       right={1, 2}))
    print()
    print(render_table(["session", "first", "last", "tokens", "operations"],
                       [[s["session_id"], _short(s["first"]), _short(s["last"]), f"{s['tokens']:,}",
                         f"{s['operations']:,}"] for s in report["sessions"]], right={3, 4}))
    return EXIT_OK


def _report(groups: Iterable[Any], config: Any) -> dict[str, Any]:
    from ..errors import BudgetNotConfiguredError
    from ..models.registry import budget_key

    tools: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    ops: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    sessions: dict[str, dict[str, Any]] = {}
    tool_sessions: dict[str, set[str]] = defaultdict(set)
    total_ops = 0
    for g in groups:
        total_ops += g.operations
        for table, key in ((tools, g.tool_name), (ops, g.operation_type)):
            table[key][0] += g.tokens
            table[key][1] += g.operations
        tool_sessions[g.tool_name].add(g.session_id)
        s = sessions.setdefault(g.session_id, {"session_id": g.session_id, "first": g.first, "last": g.last,
                                               "tokens": 0, "operations": 0})
        s["first"], s["last"] = min(s["first"], g.first), max(s["last"], g.last)
        s["tokens"] += g.tokens
        s["operations"] += g.operations
    tool_rows = []
    for name, (tokens, count) in sorted(tools.items(), key=lambda kv: -kv[1][0]):
        try:
            budget: int | None = int(config.get_budget(budget_key(name)))
        except BudgetNotConfiguredError:
            budget = None  # its budget and the global one are disabled
        per_session = tokens // len(tool_sessions[name])
        tool_rows.append({"tool": name, "tokens": tokens, "operations": count, "sessions": len(tool_sessions[name]),
                          "tokens_per_session": per_session, "budget": budget,
                          "budget_used_pct": round(100 * per_session / budget, 1) if budget else None})
    return {
        "operations": total_ops,
        "tools": tool_rows,
        "operations_by_type": [{"operation": k, "tokens": v[0], "operations": v[1]}
                               for k, v in sorted(ops.items(), key=lambda kv: -kv[1][0])],
        "sessions": [{**s, "first": s["first"].isoformat(), "last": s["last"].isoformat()}
                     for s in sessions.values()],
    }


def _bar(tool: dict[str, Any]) -> str:
    pct = tool["budget_used_pct"]
    if pct is None:
        return ""
    filled = min(BAR_WIDTH, round(BAR_WIDTH * pct / 100))
    bar = "█" * filled + "░" * (BAR_WIDTH - filled)
    text = f"{bar} {pct:.1f}%"
    if pct > 100:
        text += f" (over by {tool['tokens_per_session'] - tool['budget']:,})"
        if use_color():
            text = f"\x1b[31m{text}\x1b[0m"
    return text


def _short(iso: str) -> str:
    return parse_utc(iso).strftime("%Y-%m-%d %H:%M")
