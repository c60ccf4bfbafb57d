"""``ctxbudget check``: a CI gate. Charges each agent what it loads against its configured context-injection
budget, warns at the configured thresholds (75/85/95 %), exits 1 on CRITICAL.

A directory is where the agents start: each is charged the text its loader injects there (``ctxbudget agents``
shows it; user-level files in the home directory are not charged), so AGENTS.md costs Codex, not Claude Code.
A file or stdin is charged, as it is, to every tool named.

example: ctxbudget check . --tool claude --tool codex
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from .._util import utilization_pct
from ..counting.counter import Counter
from ..errors import UnknownModelError
from ..models.registry import resolve_model
from ..tracking.warnings import BudgetWarningSystem, WarningEvent, exit_code_for
from .agents_cmd import charge
from .cache_cmd import add_cache_options, use_persistent_cache
from .common import DEFAULT_MODELS, EXIT_OK, UsageError, iter_inputs, print_json, render_table
from .config_cmd import load_config


def add_parser(sub: Any) -> None:
    p = sub.add_parser("check", help="CI gate: instruction files against each agent's budget", description=__doc__)
    p.add_argument("paths", nargs="*", metavar="PATH",
                   help="directories the agents start in, or files; '-' or none reads stdin")
    p.add_argument("--tool", "-m", "--model", action="append", dest="tools", metavar="T",
                   help="agent or model (repeatable; default: claude, codex, gemini)")
    p.add_argument("--operation", default="context_injection", metavar="OP",
                   help="which configured operation budget applies (default: context_injection)")
    p.add_argument("--config", metavar="FILE", help="budget config file (default: discovered)")
    p.add_argument("--json", action="store_true", help="machine-readable result")
    add_cache_options(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    use_persistent_cache(args)
    config, source = load_config(args.config)
    directories = [p for p in args.paths if p != "-" and Path(p).is_dir()]
    others = [p for p in args.paths if p not in directories]
    texts = [text for _label, text in iter_inputs(others, args)] if others or not args.paths else []
    rows: list[dict[str, Any]] = []
    events: list[WarningEvent] = []
    warnings = BudgetWarningSystem(enable_logging=False, enable_cli_output=False)
    for name in args.tools or DEFAULT_MODELS:
        try:
            spec = resolve_model(name)
        except UnknownModelError as exc:
            raise UsageError(str(exc)) from None
        counter = Counter.for_model(name)  # the registry's tokenizer for this very model, as `count` uses
        used = sum(counter.count_batch(texts)) if texts else 0
        loaded: list[str] = [*others] if texts else []
        for directory in directories:
            load = charge(spec.agent, directory, include_user=False, counter=counter)
            used += load.tokens
            loaded += [str(f.path) for f in load.load.files]
            for line in load.load.warnings:
                print(f"ctxbudget: {name}: {line}", file=sys.stderr)
        budget = config.get_budget(spec.budget_key, args.operation)
        found = warnings.check_usage(name, used, budget)
        events += found
        level = max((e.level for e in found), key=["info", "warning", "critical"].index, default=None)
        rows.append({"tool": name, "model": spec.canonical_id, "budget_key": spec.budget_key, "tokens": used,
                     "budget": budget, "utilization": round(utilization_pct(used, budget), 1),
                     "level": level.value if level else None, "files": loaded, "provenance": counter.provenance()})
    code = exit_code_for(events)
    if args.json:
        print_json({"source": source, "operation": args.operation, "tools": rows,
                    "warnings": [e.to_dict() for e in events], "exit_code": code})
        return code
    for r in rows:  # one line per agent, at the highest level it reached
        if r["level"]:
            left = r["budget"] - r["tokens"]
            rest = f"over by {-left:,}" if left < 0 else f"{left:,} left"
            print(f"{r['level'].upper()}: {r['tool']} at {r['utilization']:.1f}% of its {args.operation} budget "
                  f"({r['tokens']:,} / {r['budget']:,} tokens, {rest})", file=sys.stderr)
    table = [[r["tool"], f"{len(r['files']):,}", f"{r['tokens']:,}", f"{r['budget']:,}", f"{r['utilization']:.1f}%",
              r["level"] or "ok"] for r in rows]
    print(render_table(["tool", "files", "tokens", "budget", "used", "status"], table, right={1, 2, 3, 4}))
    return code if code else EXIT_OK
