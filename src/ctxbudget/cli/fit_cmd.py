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
from ..errors import UnknownModelError
from ..files import atomic_write_text, plain_file_mode
from ..fit import LAYOUTS, FitResult, fit
from ..models.registry import resolve_model
from ..rules.loaders import KINDS, RulesFileError, load_document
from ..rules.markdown import MarkdownDocument
from ..rules.model import MemoryRule
from .cache_cmd import add_cache_options, use_persistent_cache
from .common import EXIT_OK, EXIT_OVER, UsageError, print_json, read_stdin, render_table
from .config_cmd import load_config


def add_parser(sub: Any) -> None:
    p = sub.add_parser("fit", help="fit rules into a budget and write them for an agent", description=__doc__)
    p.add_argument("rules", nargs="+", metavar="RULES",
                   help="instruction files (.md) or rules files (.yaml, .json, .toml); - for stdin")
    target = p.add_mutually_exclusive_group()
    target.add_argument("--tool", default=None, help="claude, codex or gemini (default: claude)")
    target.add_argument("--model", "-m", default=None, help="a model id; picks the agent and its tokenizer")
    p.add_argument("--budget", type=int, metavar="N", help="token budget (default: from the config)")
    p.add_argument("--config", metavar="FILE", help="budget config file (default: discovered)")
    p.add_argument("--strategy", choices=[s.value for s in AllocationStrategy], default="priority")
    p.add_argument("--compression", choices=[c.value for c in CompressionStrategy], default="none")
    p.add_argument("--layout", choices=LAYOUTS, default=None,
                   help="markdown: the instruction file trimmed (default for .md input); generated: the agent's "
                        "generated layout (the only one for rules files)")
    p.add_argument("--stdin-format", choices=sorted(KINDS), default="md", help="what - is (default: md)")
    p.add_argument("--render", action="store_true", help="print the text (the summary goes to stderr)")
    p.add_argument("-o", "--output", metavar="FILE", help="write the text to FILE (atomically; - for stdout)")
    p.add_argument("--in-place", action="store_true",
                   help="allow writing over an input file (without -o: the one input file)")
    p.add_argument("-q", "--quiet", action="store_true", help="with --render or -o: only the summary line")
    p.add_argument("--json", action="store_true", help="machine-readable result, including the text")
    add_cache_options(p)
    p.set_defaults(run=run)


def _names(paths: list[str]) -> list[str]:
    """The rule-id stem of each input: its file stem, or its path when two inputs share a stem (the nested
    CLAUDE.md files of a monorepo)."""
    stems = [("stdin" if p == "-" else Path(p).stem) for p in paths]
    return [stem if stems.count(stem) == 1 else _path_name(p) for stem, p in zip(stems, paths, strict=True)]


def _path_name(path: str) -> str:
    """``api-CLAUDE`` for ``…/api/CLAUDE.md``: the folder the file is in, then its stem."""
    resolved = Path(path).resolve()
    return f"{resolved.parent.name}-{resolved.stem}" if resolved.parent.name else resolved.stem


def _load(paths: list[str], stdin_format: str) -> list[MarkdownDocument] | list[MemoryRule]:
    """Every input: all Markdown → their documents; otherwise their rules (Markdown units included)."""
    if paths.count("-") > 1:
        raise UsageError("- (stdin) can be given only once")
    loaded: list[MarkdownDocument | list[MemoryRule]] = []
    for path, name in zip(paths, _names(paths), strict=True):
        try:
            if path == "-":
                loaded.append(load_document("<stdin>", text=read_stdin(), kind=stdin_format, name=name))
            elif not Path(path).is_file():
                raise UsageError(f"no such file: {path}" if not Path(path).exists() else f"{path}: not a file")
            else:
                loaded.append(load_document(path, name=name))
        except RulesFileError as exc:
            raise UsageError(str(exc)) from None
    seen: dict[str, str] = {}
    for path, item in zip(paths, loaded, strict=True):
        for rule in item.rules if isinstance(item, MarkdownDocument) else item:
            if rule.id in seen:
                raise UsageError(f"{path}: rule id {rule.id!r} also defined in {seen[rule.id]}")
            seen[rule.id] = path
    if all(isinstance(item, MarkdownDocument) for item in loaded):
        return [item for item in loaded if isinstance(item, MarkdownDocument)]
    return [r for item in loaded for r in (item.rules if isinstance(item, MarkdownDocument) else item)]


def _output_path(args: argparse.Namespace) -> Path | None:
    """Where the text goes (None: nowhere, or stdout for ``-o -``); a symlink is written through."""
    inputs = [Path(p).resolve() for p in args.rules if p != "-"]
    if args.output is None:
        if not args.in_place:
            return None
        if len(inputs) != 1 or "-" in args.rules:
            raise UsageError("--in-place without -o needs exactly one input file")
        return inputs[0]
    if args.output == "-":
        args.render = True
        return None
    out = Path(args.output)
    if out.is_symlink():
        out = out.resolve()
    if out.resolve() in inputs and not args.in_place:
        raise UsageError(f"-o {args.output} is an input file; add --in-place to overwrite it")
    if out.is_dir():
        raise UsageError(f"-o {args.output} is a directory")
    if not out.parent.is_dir():
        raise UsageError(f"-o {args.output}: directory {out.parent} does not exist")
    return out


def run(args: argparse.Namespace) -> int:
    use_persistent_cache(args)
    if args.budget is not None and args.budget < 0:
        raise UsageError("--budget must be >= 0")
    output = _output_path(args)
    source = _load(args.rules, args.stdin_format)
    model = args.model or args.tool or "claude"
    try:
        spec = resolve_model(model)
    except UnknownModelError as exc:
        raise UsageError(str(exc)) from None
    if args.layout == "markdown" and (not source or not isinstance(source[0], MarkdownDocument)):
        raise UsageError("--layout markdown needs Markdown instruction files as input")
    config = None
    if args.budget is None or args.config:
        config, _source = load_config(args.config)
    if args.budget is not None and config is not None and not config.validate_budget(args.budget, spec.budget_key):
        raise UsageError(f"--budget {args.budget} is outside the configured limits for {model}")
    result = fit(source, model, args.budget, strategy=args.strategy, compression=args.compression, config=config,
                 layout=args.layout)
    inputs = {Path(p).resolve() for p in args.rules if p != "-"}
    if output is not None and output.resolve() in inputs and result.layout != "markdown":
        raise UsageError(f"{output}: --in-place rewrites an instruction file as itself, trimmed; the "
                         f"{result.layout} layout would replace it with other text")
    status = EXIT_OVER if result.over_budget else EXIT_OK
    if output is not None:
        atomic_write_text(output, result.text, mode=_mode_of(output))
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


def _mode_of(path: Path) -> int | None:
    """An existing file keeps its permissions; a new one is an ordinary file of the user's (umask)."""
    return None if path.exists() else plain_file_mode()


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
