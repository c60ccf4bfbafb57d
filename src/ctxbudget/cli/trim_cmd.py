"""``ctxbudget trim``: choose which units of an instruction file (or rules) stay, against a live budget.

On a terminal: a screen with the units (tokens for the target model, priority, what the prioritizer
suggests), the budget bar and the text that would be written. space toggles a unit, a keeps all, x leaves out
all but the protected (absolute) ones, r goes back to the suggestion, s changes the sort, / filters, ctrl+s
saves the session, ctrl+l loads it, w writes -o and quits, q quits without writing.

Without a terminal (or with --no-tui): the suggestion, or the saved --session, is applied and the table and
the budget line are printed; -o is written. Exit 1 when the selection is over budget.

example: ctxbudget trim CLAUDE.md --tool codex --budget 8000 -o AGENTS.md
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..budget.prioritizer import PrioritizationStrategy
from ..files import atomic_write_text
from ..operations import OperationType
from ..rules.markdown import MarkdownDocument
from ..trimmer import SORT_ORDERS, InteractiveTrimmer
from ..trimmer.view import COLUMNS, NUMERIC, budget_line, row
from .cache_cmd import add_cache_options, use_persistent_cache
from .common import EXIT_OK, EXIT_OVER, UsageError, render_table
from .rules_input import (
    Target,
    add_rules_options,
    load_sources,
    new_file_mode,
    output_path,
    refuse_foreign_layout,
    resolve_target,
)

#: the strategies that rank from the rules alone (the others read a usage log the CLI does not keep)
STRATEGIES = (PrioritizationStrategy.IMPORTANCE.value, PrioritizationStrategy.COST_BENEFIT.value,
              PrioritizationStrategy.RECENCY.value)


def add_parser(sub: Any) -> None:
    p = sub.add_parser("trim", help="choose which rules stay, against a live budget", description=__doc__)
    add_rules_options(p, rules_help="instruction files (.md) or rules files (.yaml, .json, .toml); - for stdin "
                                    "(no screen)", output_help="write the kept text to FILE (atomically; - for stdout)")
    p.add_argument("--strategy", choices=STRATEGIES, default="importance", help="how the suggestion ranks units")
    p.add_argument("--session", metavar="FILE",
                   help="a saved selection: applied when it exists, and where the screen saves (default: "
                        "RULES.trim.json beside the first input)")
    p.add_argument("--sort", choices=SORT_ORDERS, default="priority", help="row order (default: priority)")
    p.add_argument("--no-tui", action="store_true", help="no screen: apply the suggestion or --session and print")
    add_cache_options(p)
    p.set_defaults(run=run, render=False)


def run(args: argparse.Namespace) -> int:
    use_persistent_cache(args)
    output = output_path(args)
    source = load_sources(args.rules, args.stdin_format)
    target = resolve_target(args)
    budget = _budget(args, target)
    markdown = bool(source) and isinstance(source[0], MarkdownDocument)
    if args.layout == "markdown" and not markdown:
        raise UsageError("--layout markdown needs Markdown instruction files as input")
    refuse_foreign_layout(output, args.rules, args.layout or ("markdown" if markdown else "generated"))
    session = Path(args.session) if args.session else None
    if not args.no_tui and sys.stdin.isatty() and sys.stdout.isatty():
        return _screen(args, source, target, budget, output, session)
    trimmer = InteractiveTrimmer.for_source(source, target.model, budget, strategy=args.strategy, layout=args.layout)
    assert trimmer.layout is not None
    notes = []
    if session is not None:
        if not session.is_file():
            raise UsageError(f"session file not found: {session}")
        notes = _session_notes(trimmer, session)
    text, viz = trimmer.measure_preview()
    out = sys.stderr if args.render else sys.stdout
    print(_table(trimmer, args.sort), file=out)
    for note in notes:
        print(f"ctxbudget: {note}", file=sys.stderr)
    line = budget_line(viz, target.model) + f" ({trimmer.layout.provenance()['tokenizer_id']})"
    if output is not None:
        atomic_write_text(output, text, mode=new_file_mode(output))
        line += f"; wrote {output}"
    print(line, file=out)
    if args.render:
        sys.stdout.write(text)
    return EXIT_OVER if viz.over_budget else EXIT_OK


def _budget(args: argparse.Namespace, target: Target) -> int:
    if args.budget is not None:
        return int(args.budget)
    return int(target.config.get_budget(target.spec.budget_key, OperationType.CONTEXT_INJECTION))


def _table(trimmer: InteractiveTrimmer, sort_by: str) -> str:
    return render_table(COLUMNS, [row(d) for d in trimmer.get_rule_displays(sort_by)], right=set(NUMERIC))


def _session_notes(trimmer: InteractiveTrimmer, session: Path) -> list[str]:
    try:
        report = trimmer.load_session(session)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    notes = []
    if report["ignored_unknown"]:
        notes.append(f"{session}: ignored decisions for unknown ids: {', '.join(report['ignored_unknown'])}")
    if report["ignored_protected"]:
        notes.append(f"{session}: kept protected units it leaves out: {', '.join(report['ignored_protected'])}")
    if report["budget_mismatch"]:
        notes.append(f"{session}: made for another budget; the budget is {trimmer.budget:,}")
    return notes


def _screen(args: argparse.Namespace, source: Any, target: Target, budget: int, output: Path | None,
            session: Path | None) -> int:
    try:
        from ..trimmer.tui import TrimApp
    except ImportError:
        raise UsageError("the interactive screen needs Textual: pip install 'ctxbudget[tui]' (or use --no-tui)") \
            from None
    first = next((p for p in args.rules if p != "-"), "trim")
    app = TrimApp(source, target.model, budget, strategy=args.strategy, layout=args.layout,
                  session=session or Path(f"{first}.trim.json"), output=output,
                  output_mode=new_file_mode(output) if output is not None else None, sort_by=args.sort)
    outcome = app.run()
    if outcome is None or outcome.text is None or outcome.trimmer is None:
        return EXIT_OK
    if args.render:
        sys.stdout.write(outcome.text)
    viz = outcome.trimmer.get_budget_visualization()
    where = f"; wrote {outcome.written}" if outcome.written is not None else ""
    print(budget_line(viz, target.model) + where, file=sys.stderr)
    return EXIT_OVER if viz.over_budget else EXIT_OK
