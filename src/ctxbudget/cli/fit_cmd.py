"""``ctxbudget fit``: which rules fit a model's budget, and the text an agent would get (``--render``, ``-o``).

Markdown instruction files come out as themselves, trimmed (``--layout markdown``, their default); rules files
in the agent's generated layout. ``-`` reads standard input (``--stdin-format``, Markdown by default).

example: ctxbudget fit CLAUDE.md --tool codex --budget 8000 -o AGENTS.md
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..budget import AllocationStrategy, CompressionStrategy
from ..files import atomic_write_text
from ..fitting import FitResult, fit
from ..rules.markdown import MarkdownDocument
from .cache_cmd import add_cache_options, use_persistent_cache
from .common import EXIT_OK, EXIT_OVER, UsageError, print_json, render_table
from .rules_input import (
    add_rules_options,
    load_sources,
    new_file_mode,
    output_path,
    refuse_foreign_layout,
    resolve_target,
)


def add_parser(sub: Any) -> None:
    p = sub.add_parser("fit", help="fit rules into a budget and write them for an agent", description=__doc__)
    add_rules_options(p, rules_help="instruction files (.md) or rules files (.yaml, .json, .toml); - for stdin",
                      output_help="write the text to FILE (atomically; - for stdout)")
    p.add_argument("--strategy", choices=[s.value for s in AllocationStrategy], default="priority")
    p.add_argument("--compression", choices=[c.value for c in CompressionStrategy], default="none")
    p.add_argument("--render", action="store_true", help="print the text (the summary goes to stderr)")
    p.add_argument("-q", "--quiet", action="store_true", help="with --render or -o: only the summary line")
    p.add_argument("--json", action="store_true", help="machine-readable result, including the text")
    add_cache_options(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    use_persistent_cache(args)
    output = output_path(args)
    source = load_sources(args.rules, args.stdin_format)
    target = resolve_target(args)
    if args.layout == "markdown" and (not source or not isinstance(source[0], MarkdownDocument)):
        raise UsageError("--layout markdown needs Markdown instruction files as input")
    result = fit(source, target.model, args.budget, strategy=args.strategy, compression=args.compression,
                 config=target.config, layout=args.layout)
    refuse_foreign_layout(output, args.rules, result.layout)
    status = EXIT_OVER if result.over_budget else EXIT_OK
    if output is not None:
        atomic_write_text(output, result.text, mode=new_file_mode(output))
    if args.json:
        print_json(result.to_dict())
        return status
    if args.render:
        sys.stdout.write(result.text)
    if args.render or output is not None:
        if not args.quiet:
            print(_unit_table(result), file=sys.stderr)
        print(_summary(result, output), file=sys.stderr)
        return status
    print(_unit_table(result))
    print(_summary(result, output))
    return status


def _unit_table(result: FitResult) -> str:
    rows = []
    for unit in result.units():
        where = f"{unit['line']}" if unit["line"] is not None else ""
        rows.append([unit["status"], f"{unit['tokens']:,}", unit["authority"],
                     "" if unit["priority"] is None else f"{unit['priority']:g}", where, unit["id"],
                     unit["name"][:56]])
    return render_table(["status", "tokens", "authority", "priority", "line", "id", "name"], rows, right={1, 3, 4})


def _summary(result: FitResult, output: Path | None) -> str:
    kept = len(result.included) - len(result.shortened)
    parts = [f"{result.tool}: {result.tokens:,} / {result.budget:,} tokens",
             f"{kept} kept", f"{len(result.shortened)} shortened", f"{len(result.skipped)} left out"]
    line = ", ".join(parts) + f" ({result.provenance['kind']}: {result.provenance['tokenizer_id']})"
    if result.over_budget:
        if any(r.is_absolute for r in result.included):
            why = "the absolute rules alone do not fit"
        elif result.layout == "markdown":
            why = "the file's front matter and link definitions alone do not fit"
        else:
            why = "the layout's header alone does not fit"
        line += f" — OVER BUDGET by {result.tokens - result.budget:,}: {why}"
    if output is not None:
        line += f"; wrote {output}"
    return line
