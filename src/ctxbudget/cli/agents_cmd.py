"""``ctxbudget agents [PATH]``: what Claude Code, Codex and Gemini CLI load when started in PATH — their
instruction files in load order, what each contributes after imports and cuts, its token cost for the agent's
model, the whole injected text against the configured budget, and what the agent would warn about or skip.

The loaders are simulated as docs/agents.md describes (each agent at the version named in the output).
User-level files (``~/.claude``, the Codex home, ``~/.gemini``) are included unless ``--no-user``.

example: ctxbudget agents . --agent codex --text > what-codex-sees.txt
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._util import utilization_pct
from ..agents import AGENTS, AgentLoad, simulate
from ..counting.counter import Counter
from ..models.registry import resolve_model
from .cache_cmd import add_cache_options, use_persistent_cache
from .common import EXIT_OK, UsageError, print_json, render_table
from .config_cmd import load_config


def add_parser(sub: Any) -> None:
    p = sub.add_parser("agents", help="what each agent loads when started in PATH, and its token cost",
                       description=__doc__)
    p.add_argument("path", nargs="?", default=".", metavar="PATH", help="the directory the agents start in")
    p.add_argument("--agent", action="append", dest="agents", choices=AGENTS,
                   help="simulate only this agent (repeatable; default: all three)")
    p.add_argument("--no-user", action="store_true", help="leave out user-level files (home directory)")
    p.add_argument("--operation", default="context_injection", metavar="OP",
                   help="which configured budget the total is compared with (default: context_injection)")
    p.add_argument("--config", metavar="FILE", help="budget config file (default: discovered)")
    p.add_argument("--text", action="store_true", help="print the exact text one agent injects (needs one --agent)")
    p.add_argument("--json", action="store_true", help="machine-readable result, texts included")
    add_cache_options(p)
    p.set_defaults(run=run)


@dataclass(frozen=True)
class Charge:
    """One agent's simulated load and what it costs for the agent's model."""

    load: AgentLoad
    counter: Counter
    file_tokens: tuple[int, ...]
    tokens: int  # the injected text, wrapper and separators included

    @property
    def model(self) -> str:
        return resolve_model(self.load.agent).canonical_id


def charge(agent: str, directory: str, *, include_user: bool, counter: Counter | None = None) -> Charge:
    """Simulate ``agent`` started in ``directory`` and count its load with ``counter`` (the agent's model)."""
    try:
        load = simulate(agent, directory, include_user=include_user)
    except OSError as exc:
        raise UsageError(f"{directory}: {exc.strerror or exc}") from None
    counter = counter or Counter.for_model(agent)
    file_tokens = tuple(counter.count(f.text) for f in load.files)
    return Charge(load, counter, file_tokens, counter.count(load.text) if load.text else 0)


def run(args: argparse.Namespace) -> int:
    if not Path(args.path).is_dir():
        raise UsageError(f"{args.path}: not a directory (agents start in a directory)")
    agents = args.agents or list(AGENTS)
    if args.text and len(agents) != 1:
        raise UsageError("--text prints one agent's text: name it with --agent")
    use_persistent_cache(args)
    config, source = load_config(args.config)
    charges = [charge(a, args.path, include_user=not args.no_user) for a in agents]
    if args.text:
        sys.stdout.write(charges[0].load.text)
        return EXIT_OK
    budgets = {c.load.agent: int(config.get_budget(resolve_model(c.load.agent).budget_key, args.operation))
               for c in charges}
    if args.json:
        print_json({"path": str(Path(args.path).resolve()), "config": source, "operation": args.operation,
                    "agents": [_as_json(c, budgets[c.load.agent]) for c in charges]})
        return EXIT_OK
    for i, c in enumerate(charges):
        if i:
            print()
        _print_agent(c, budgets[c.load.agent], args.operation)
    return EXIT_OK


def _as_json(c: Charge, budget: int) -> dict[str, Any]:
    data = c.load.to_dict()
    for entry, tokens in zip(data["files"], c.file_tokens, strict=True):  # type: ignore[call-overload]
        entry["tokens"] = tokens
    return {**data, "model": c.model, "provenance": c.counter.provenance(), "tokens": c.tokens, "budget": budget,
            "utilization": round(utilization_pct(c.tokens, budget), 1)}


def _print_agent(c: Charge, budget: int, operation: str) -> None:
    load = c.load
    kind = c.counter.provenance()
    print(f"{load.agent}: {load.simulated_version}")
    print(f"  counted for {c.model}: {kind['kind']} ({kind['tokenizer_id']})")
    if load.files:
        rows = [[str(i), _shown(f.path, load.cwd), f.scope + (" (cut)" if f.truncated else ""), f"{f.raw_bytes:,}",
                 f"{n:,}"] for i, (f, n) in enumerate(zip(load.files, c.file_tokens, strict=True), 1)]
        table = render_table(["#", "file", "scope", "bytes", "tokens"], rows, right={0, 3, 4})
        print("\n".join("  " + line for line in table.splitlines()))
    else:
        print("  no instruction files")
    left = budget - c.tokens
    rest = f"over by {-left:,}" if left < 0 else f"{left:,} left"
    print(f"  injected: {c.tokens:,} tokens of the {budget:,}-token {operation} budget "
          f"({utilization_pct(c.tokens, budget):.1f}%, {rest})")
    for skipped in load.not_loaded:
        print(f"  not loaded: {_shown(skipped.path, load.cwd)} ({skipped.scope}): {skipped.reason}")
    for warning in load.warnings:
        print(f"  warning: {warning}")


def _shown(path: Path, cwd: Path) -> str:
    """A path relative to where the agent started when it lies below it, else with ~ for the home directory."""
    try:
        return str(path.relative_to(cwd))
    except ValueError:
        home = Path(os.path.expanduser("~"))
        return "~/" + str(path.relative_to(home)) if path.is_relative_to(home) else str(path)
