"""``ctxbudget fit``: which rules fit a tool's budget, and the rendered context (``--render``)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ..budget import AllocationStrategy, CompressionStrategy
from ..errors import UnknownModelError
from ..fit import fit
from ..models.registry import resolve_model
from ..rules.loaders import load_rules
from ..rules.model import MemoryRule
from .common import EXIT_OK, EXIT_OVER, UsageError, print_json, render_table
from .config_cmd import load_config


def add_parser(sub: Any) -> None:
    p = sub.add_parser("fit", help="fit rules into a budget and render them for an agent", description=__doc__)
    p.add_argument("rules", nargs="+", metavar="RULES", help="rules files: .yaml, .json, .toml or .md")
    target = p.add_mutually_exclusive_group()
    target.add_argument("--tool", default=None, help="claude, codex or gemini (default: claude)")
    target.add_argument("--model", "-m", default=None, help="a model id; picks the agent format")
    p.add_argument("--budget", type=int, metavar="N", help="token budget (default: from the config)")
    p.add_argument("--config", metavar="FILE", help="budget config file (default: discovered)")
    p.add_argument("--strategy", choices=[s.value for s in AllocationStrategy], default="priority")
    p.add_argument("--compression", choices=[c.value for c in CompressionStrategy], default="none")
    p.add_argument("--render", action="store_true", help="print the rendered context (summary on stderr)")
    p.add_argument("--json", action="store_true", help="machine-readable result, including the text")
    p.set_defaults(run=run)


def _load(paths: list[str]) -> list[MemoryRule]:
    rules: list[MemoryRule] = []
    seen: dict[str, str] = {}
    for path in paths:
        for rule in load_rules(path):
            if rule.id in seen:
                raise UsageError(f"{path}: rule id {rule.id!r} also defined in {seen[rule.id]}")
            seen[rule.id] = path
            rules.append(rule)
    return rules


def run(args: argparse.Namespace) -> int:
    if args.budget is not None and args.budget < 0:
        raise UsageError("--budget must be >= 0")
    rules = _load(args.rules)
    model = args.model or args.tool or "claude"
    config = None
    if args.budget is None or args.config:
        config, _source = load_config(args.config)
    try:
        spec = resolve_model(model)
    except UnknownModelError as exc:
        raise UsageError(str(exc)) from None
    if args.budget is not None and config is not None and not config.validate_budget(args.budget, spec.budget_key):
        raise UsageError(f"--budget {args.budget} is outside the configured limits for {model}")
    result = fit(rules, model, args.budget, strategy=args.strategy, compression=args.compression, config=config)
    status = EXIT_OVER if result.over_budget else EXIT_OK
    if args.json:
        print_json(result.to_dict())
        return status
    summary = (f"{result.tool}: {result.tokens:,} / {result.budget:,} tokens, {len(result.included)} rules included, "
               f"{len(result.skipped)} skipped ({result.provenance['kind']}: {result.provenance['tokenizer_id']})")
    if result.over_budget:
        summary += f" — OVER BUDGET by {result.tokens - result.budget:,}: absolute rules alone do not fit"
    if args.render:
        sys.stdout.write(result.text)
        print(summary, file=sys.stderr)
        return status
    included = {id(r) for r in result.included}
    rows = [[r.id, r.authority.value, f"{r.priority if r.priority is not None else ''}",
             "yes" if id(r) in included else "no", r.name[:48]] for r in result.included + result.skipped]
    print(render_table(["id", "authority", "priority", "included", "name"], rows, right=set()))
    print(summary)
    return status
