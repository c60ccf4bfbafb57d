"""``ctxbudget config show|validate``: the effective budget configuration and where it came from.

example: ctxbudget config validate --config .ctxbudget.yaml
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from .common import EXIT_OK, UsageError, print_json, render_table


def add_parser(sub: Any) -> None:
    p = sub.add_parser("config", help="show or validate the budget configuration", description=__doc__)
    p.add_argument("action", choices=["show", "validate"])
    p.add_argument("--config", metavar="FILE", help="config file (default: discovered, see docs)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(run=run)


def load_config(path: str | None) -> tuple[Any, str]:
    """The effective ``BudgetConfigManager`` and a description of its source."""
    from ..config import BudgetConfigManager

    if path is None:
        found = BudgetConfigManager.find_config_file()
        return BudgetConfigManager.discover(), str(found) if found else "built-in defaults"
    if not Path(path).is_file():
        raise UsageError(f"config file not found: {path}")
    manager = BudgetConfigManager()
    manager.load_from_file(path)
    manager.apply_env_overrides()
    return manager, path


def run(args: argparse.Namespace) -> int:
    manager, source = load_config(args.config)
    budgets = manager.get_all_budgets()
    if args.json:
        print_json({"source": source, "valid": True, "token_budgets": budgets})
        return EXIT_OK
    if args.action == "validate":
        unknown = _unknown_tools(budgets["tools"], source)
        if unknown:
            raise UsageError(unknown)
        print(f"{source}: valid")
        return EXIT_OK
    g = budgets["global"]
    rows = [["global", "", f"{g['default']:,}", _num(g["min"]), _num(g["max"]), _yes(g["enabled"])]]
    for name, tool in sorted(budgets["tools"].items()):
        rows.append([name, "", f"{tool['default']:,}", _num(tool["min"]), _num(tool["max"]), _yes(tool["enabled"])])
        for op, value in sorted(tool.get("operations", {}).items()):
            rows.append(["", op, f"{value:,}", "", "", ""])
    print(f"source: {source}")
    print(render_table(["scope", "operation", "default", "min", "max", "enabled"], rows, right={2, 3, 4}))
    return EXIT_OK


def _unknown_tools(tools: dict[str, Any], source: str) -> str:
    """The first configured tool no model uses (``codx``), as one line with file, line and key; "" if none."""
    from .._sourcemap import yaml_key_lines
    from ..models.registry import budget_key, tool_names

    known = sorted({budget_key(t) for t in tool_names()})
    for name in tools:
        if name not in known:
            path = Path(source)
            line = None
            if path.is_file() and path.suffix in (".yaml", ".yml"):
                line = yaml_key_lines(path.read_text(encoding="utf-8")).get(f"token_budgets.tools.{name}")
            where = f"{source}:{line}" if line else source
            return f"{where}: token_budgets.tools.{name}: unknown tool; known: {', '.join(known)}"
    return ""


def _num(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def _yes(value: bool) -> str:
    return "yes" if value else "no"
