"""What the commands that write an agent file share (``fit``, ``trim``): reading RULES, resolving the target
model and its budget config, and where the text may be written."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import UnknownModelError
from ..files import plain_file_mode
from ..fitting import LAYOUTS
from ..models.registry import ModelSpec, resolve_model
from ..rules.loaders import KINDS, RulesFileError, load_document
from ..rules.markdown import MarkdownDocument
from ..rules.model import MemoryRule
from .common import UsageError, read_stdin
from .config_cmd import load_config


def add_rules_options(p: argparse.ArgumentParser, *, rules_help: str, output_help: str) -> None:
    """RULES, the target (--tool | --model, --budget, --config), the layout and where the text goes."""
    p.add_argument("rules", nargs="+", metavar="RULES", help=rules_help)
    target = p.add_mutually_exclusive_group()
    target.add_argument("--tool", default=None, help="claude, codex or gemini (default: claude)")
    target.add_argument("--model", "-m", default=None, help="a model id; picks the agent and its tokenizer")
    p.add_argument("--budget", type=int, metavar="N", help="token budget (default: from the config)")
    p.add_argument("--config", metavar="FILE", help="budget config file (default: discovered)")
    p.add_argument("--layout", choices=LAYOUTS, default=None,
                   help="markdown: the instruction file trimmed (default for .md input); generated: the agent's "
                        "generated layout (the only one for rules files)")
    p.add_argument("--stdin-format", choices=sorted(KINDS), default="md", help="what - is (default: md)")
    p.add_argument("-o", "--output", metavar="FILE", help=output_help)
    p.add_argument("--in-place", action="store_true",
                   help="allow writing over an input file (without -o: the one input file)")


def _names(paths: list[str]) -> list[str]:
    """The rule-id stem of each input: its file stem, or its path when two inputs share a stem (the nested
    CLAUDE.md files of a monorepo)."""
    stems = [("stdin" if p == "-" else Path(p).stem) for p in paths]
    return [stem if stems.count(stem) == 1 else _path_name(p) for stem, p in zip(stems, paths, strict=True)]


def _path_name(path: str) -> str:
    """``api-CLAUDE`` for ``…/api/CLAUDE.md``: the folder the file is in, then its stem."""
    resolved = Path(path).resolve()
    return f"{resolved.parent.name}-{resolved.stem}" if resolved.parent.name else resolved.stem


def load_sources(paths: list[str], stdin_format: str) -> list[MarkdownDocument] | list[MemoryRule]:
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


def output_path(args: argparse.Namespace) -> Path | None:
    """Where the text goes (None: nowhere, or stdout for ``-o -``, which sets ``args.render``); a symlink is
    written through."""
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


def refuse_foreign_layout(output: Path | None, paths: list[str], layout: str) -> None:
    """``--in-place`` may rewrite an instruction file only as itself, trimmed."""
    inputs = {Path(p).resolve() for p in paths if p != "-"}
    if output is not None and output.resolve() in inputs and layout != "markdown":
        raise UsageError(f"{output}: --in-place rewrites an instruction file as itself, trimmed; the "
                         f"{layout} layout would replace it with other text")


def new_file_mode(path: Path) -> int | None:
    """An existing file keeps its permissions; a new one is an ordinary file of the user's (umask)."""
    return None if path.exists() else plain_file_mode()


@dataclass(frozen=True)
class Target:
    """The model named by ``--model``/``--tool`` (default claude), its registry spec, and the budget config
    (None when ``--budget`` is given and no ``--config``)."""

    model: str
    spec: ModelSpec
    config: Any


def resolve_target(args: argparse.Namespace) -> Target:
    if args.budget is not None and args.budget < 0:
        raise UsageError("--budget must be >= 0")
    model = args.model or args.tool or "claude"
    try:
        spec = resolve_model(model)
    except UnknownModelError as exc:
        raise UsageError(str(exc)) from None
    config = None
    if args.budget is None or args.config:
        config, _source = load_config(args.config)
    if args.budget is not None and config is not None and not config.validate_budget(args.budget, spec.budget_key):
        raise UsageError(f"--budget {args.budget} is outside the configured limits for {model}")
    return Target(model, spec, config)
