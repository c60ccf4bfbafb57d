"""``ctxbudget tree PATH``: token counts per directory and file, drawn as a tree. A directory's count is the sum
of the files below it, so the top line equals ``ctxbudget count``'s total over the same files. ``--depth`` and
``--min-tokens`` only hide lines: the totals above them still include everything.

example: ctxbudget tree . -m claude -m gpt-4o --depth 2 --min-tokens 1000
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .cache_cmd import add_cache_options, use_persistent_cache
from .common import DEFAULT_MODELS, EXIT_OK, UsageError, add_walk_options, print_json, print_report, render_table
from .count_cmd import column, count_inputs


def add_parser(sub: Any) -> None:
    p = sub.add_parser("tree", help="token counts per directory and file, as a tree", description=__doc__)
    p.add_argument("paths", nargs="*", default=["."], metavar="PATH", help="directories or files (default: .)")
    p.add_argument("-m", "--model", action="append", dest="models", metavar="M",
                   help="model id or tool name (repeatable; default: claude, codex, gemini)")
    p.add_argument("--min-tokens", type=int, default=0, metavar="N",
                   help="hide entries below N tokens for every model (they still count in the totals)")
    p.add_argument("--depth", type=int, metavar="N", help="show N levels below each PATH (deeper ones are summed)")
    p.add_argument("--sort", choices=("path", "tokens"), default="path",
                   help="order of the entries in a directory: by name (default) or most tokens first")
    p.add_argument("--json", action="store_true", help="the tree as JSON, with provenance")
    add_walk_options(p)
    add_cache_options(p)
    p.set_defaults(run=run)


@dataclass
class Node:
    name: str
    path: str
    is_dir: bool
    tokens: list[int]
    files: int = 0
    children: dict[str, Node] = field(default_factory=dict)

    def add(self, parts: tuple[str, ...], path: str, counts: list[int]) -> None:
        """Account one file ``parts`` below this node (its ``path`` as the walk gave it)."""
        self.files += 1
        self.tokens = [a + b for a, b in zip(self.tokens, counts, strict=True)]
        if not parts:
            return
        head, rest = parts[0], parts[1:]
        child = self.children.get(head)
        if child is None:
            child_path = path if not rest else str(Path(self.path) / head)
            child = Node(head, child_path, bool(rest), [0] * len(counts))
            self.children[head] = child
        child.add(rest, path, counts)


def run(args: argparse.Namespace) -> int:
    if args.min_tokens < 0 or (args.depth is not None and args.depth < 0):
        raise UsageError("--min-tokens and --depth must be >= 0")
    if "-" in args.paths:
        raise UsageError("tree takes files and directories, not stdin ('-'); use count for stdin")
    use_persistent_cache(args)
    columns = [column(m) for m in (args.models or DEFAULT_MODELS)]  # as `count` counts, so the totals agree
    names, counters = [c.name for c in columns], [c.counter for c in columns]
    roots = [Node(_root_name(raw), raw, Path(raw).is_dir(), [0] * len(names)) for raw in args.paths]
    counted, report = count_inputs(args, counters)
    for label, counts in counted:
        root_index, parts = _place(args.paths, label)
        roots[root_index].add(parts, label, counts)
    print_report(report)
    total = [sum(r.tokens[i] for r in roots) for i in range(len(names))]
    if args.json:
        print_json({
            "models": [{"model": n, **c.provenance()} for n, c in zip(names, counters, strict=True)],
            "tree": [_as_json(r, names, args, 0) for r in roots],
            "total": dict(zip(names, total, strict=True)),
            "files": sum(r.files for r in roots),
        })
        return EXIT_OK
    rows: list[list[str]] = []
    for root in roots:
        _draw(root, args, rows, prefix="", depth=0, last=True, top=True)
    print(render_table(["path", *names], rows, right=set(range(1, len(names) + 1))))
    kinds = "  ".join(f"{n}: {c.provenance()['kind']} ({c.provenance()['tokenizer_id']})"
                      for n, c in zip(names, counters, strict=True))
    print(f"{sum(r.files for r in roots):,} files  {kinds}")
    return EXIT_OK


def _root_name(raw: str) -> str:
    return raw.rstrip("/") + "/" if Path(raw).is_dir() else raw


def _place(paths: list[str], label: str) -> tuple[int, tuple[str, ...]]:
    """Which PATH a walked file came from, and its parts below it (a PATH that is a file has none)."""
    found = Path(label)
    for i, raw in enumerate(paths):
        if label == raw:
            return i, ()
        try:
            return i, found.relative_to(Path(raw)).parts
        except ValueError:
            continue
    raise AssertionError(f"{label} is under none of {paths}")  # the walk yields only paths below its inputs


def _visible(node: Node, args: argparse.Namespace) -> bool:
    return max(node.tokens, default=0) >= int(args.min_tokens)


def _ordered(node: Node, args: argparse.Namespace) -> list[Node]:
    children = sorted(node.children.values(), key=lambda c: c.name)
    if args.sort == "tokens":
        children.sort(key=lambda c: c.tokens[0], reverse=True)
    return [c for c in children if _visible(c, args)]


def _draw(node: Node, args: argparse.Namespace, rows: list[list[str]], prefix: str, depth: int, last: bool,
          top: bool) -> None:
    name = node.name + ("/" if node.is_dir and not top else "")
    branch = "" if top else prefix + ("└── " if last else "├── ")
    rows.append([branch + name, *(f"{n:,}" for n in node.tokens)])
    if args.depth is not None and depth >= args.depth:
        return
    children = _ordered(node, args)
    inner = "" if top else prefix + ("    " if last else "│   ")
    for i, child in enumerate(children):
        _draw(child, args, rows, inner, depth + 1, i == len(children) - 1, top=False)


def _as_json(node: Node, names: list[str], args: argparse.Namespace, depth: int) -> dict[str, Any]:
    out: dict[str, Any] = {"name": node.name, "path": node.path, "type": "directory" if node.is_dir else "file",
                           "tokens": dict(zip(names, node.tokens, strict=True))}
    if node.is_dir:
        out["files"] = node.files
        shown = [] if args.depth is not None and depth >= args.depth else _ordered(node, args)
        out["children"] = [_as_json(c, names, args, depth + 1) for c in shown]
    return out
