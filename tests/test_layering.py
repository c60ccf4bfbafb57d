"""Imports flow one way: models -> tokenizers -> cache -> counting -> rules -> budget/config -> formatters -> fitting
-> tracking -> cli. A module never imports from a layer above its own (review finding: the tokenizer factory
built cache namespaces, the accelerator imported the cache's C module, the config imported usage tracking)."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src" / "ctxbudget"
#: top-level module or package -> layer; the cache's hot path (_speedups, _core, _pycore) is the cache layer
LAYERS = {
    "errors": 0, "_version": 0, "_util": 0, "_clock": 0, "_sourcemap": 0, "files": 0, "config_files": 0,
    "operations": 0, "agents": 1, "models": 1, "remote": 4,
    "tokenizers": 2, "_speedups": 3, "_pycore": 3, "_core": 3, "cache": 3, "counting": 4, "rules": 5, "budget": 6,
    "config": 6, "formatters": 7, "fitting": 8, "tracking": 9, "trimmer": 9, "cli": 10, "__init__": 11, "__main__": 11,
}


def _imports(path: Path) -> list[str]:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    package = parts[:-1]  # a module's package; for an __init__ that is the package itself
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package[: len(package) - (node.level - 1)]
            if node.module:
                found.append(".".join([*base, node.module]))
            else:
                found += [".".join([*base, alias.name]) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("ctxbudget"):
            found.append(node.module or "")
    return found


def _layer(module: str) -> tuple[str, int]:
    parts = module.split(".")
    top = parts[1] if len(parts) > 1 else "__init__"
    return top, LAYERS[top]


def test_every_top_level_module_has_a_layer() -> None:
    names = {p.stem if p.is_file() else p.name for p in SRC.iterdir()
             if (p.suffix in (".py", ".c") or (p.is_dir() and (p / "__init__.py").exists()))}
    assert names <= set(LAYERS), names - set(LAYERS)


def test_no_module_imports_from_a_layer_above_its_own() -> None:
    upward = []
    for path in sorted(SRC.rglob("*.py")):
        own = ".".join(path.relative_to(SRC.parent).with_suffix("").parts)
        here, level = _layer(own)
        for target in _imports(path):
            there, target_level = _layer(target)
            if there != here and target_level > level:
                upward.append(f"{own} imports {target}")
    assert upward == []
