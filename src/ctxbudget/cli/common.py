"""Pieces every CLI command shares: exit codes, the usage error, input reading, output helpers."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from .walk import ERRORS, WalkError, WalkReport, walk

EXIT_OK, EXIT_OVER, EXIT_USAGE = 0, 1, 2
#: what ``count``, ``check`` and ``cache warm`` count for when no model is named
DEFAULT_MODELS = ("claude", "codex", "gemini")


class UsageError(Exception):
    """Bad arguments or input; reported as one line on stderr, exit 2."""


def add_walk_options(p: argparse.ArgumentParser) -> None:
    """The options of every command that walks directories (``walk`` has the rules)."""
    p.add_argument("--include", action="append", default=[], metavar="GLOB",
                   help="only files matching GLOB (gitignore syntax, relative to the PATH; repeatable)")
    p.add_argument("--exclude", action="append", default=[], metavar="GLOB", help="leave out files matching GLOB")
    p.add_argument("--no-ignore", action="store_true", help="do not honour .gitignore and .ctxbudgetignore files")
    p.add_argument("--errors", choices=ERRORS, default="skip",
                   help="a file that is not UTF-8: skip it (default, reported), replace bad bytes, or fail")


def iter_inputs(paths: Sequence[str], args: argparse.Namespace | None = None,
                report: WalkReport | None = None) -> Iterator[tuple[str, str]]:
    """``(label, text)`` for each path (``-`` or no path: stdin); directories give their text files (``walk``).
    What was skipped goes to ``report`` (``print_report`` writes it), else to stderr when the walk ends."""
    if not paths:
        paths = ["-"]
    own = report is None
    report = report if report is not None else WalkReport()
    include, exclude = getattr(args, "include", ()), getattr(args, "exclude", ())
    no_ignore, errors = bool(getattr(args, "no_ignore", False)), str(getattr(args, "errors", "skip"))
    count = 0
    for raw in paths:
        if raw == "-":
            count += 1
            yield "-", read_stdin()
            continue
        if not Path(raw).exists() and not Path(raw).is_symlink():
            raise UsageError(f"no such file: {raw}")
        try:
            for item in walk([raw], report, include=include, exclude=exclude, no_ignore=no_ignore, errors=errors):
                count += 1
                yield item
        except WalkError as exc:
            raise UsageError(str(exc)) from None
    if own:
        print_report(report)
    if not count:
        summary = report.summary()
        why = f" ({summary})" if summary else (f" ({report.ignored} ignored)" if report.ignored else "")
        raise UsageError(f"no text files in {', '.join(paths)}{why}")


def print_report(report: WalkReport) -> None:
    """What a walk skipped, on stderr: one line per unreadable entry, then one summary line."""
    for line in report.unreadable:
        print(f"ctxbudget: {line}", file=sys.stderr)
    summary = report.summary()
    if summary:
        print(f"ctxbudget: {summary}", file=sys.stderr)


def read_stdin() -> str:
    """Standard input; on a terminal, first a hint on stderr (a bare command would otherwise just wait)."""
    if sys.stdin.isatty():
        print("ctxbudget: reading from the terminal; end with Ctrl-D, or give a PATH", file=sys.stderr)
    return sys.stdin.read()


def print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")


def use_color() -> bool:
    return sys.stdout.isatty() and not os.environ.get("NO_COLOR")


def render_table(headers: Sequence[str], rows: Sequence[Sequence[str]], right: set[int]) -> str:
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]

    def line(cells: Sequence[str]) -> str:
        pairs = enumerate(zip(cells, widths, strict=True))
        out = [str(c).rjust(w) if i in right else str(c).ljust(w) for i, (c, w) in pairs]
        return "  ".join(out).rstrip()

    bold = ("\x1b[1m", "\x1b[0m") if use_color() else ("", "")
    sep = "  ".join("-" * w for w in widths)
    return "\n".join([bold[0] + line(headers) + bold[1], sep, *(line(r) for r in rows)])


class Progress:
    """A one-line count of the items done, on stderr, only when stderr is a terminal and the job is long."""

    def __init__(self, label: str, *, min_items: int = 20) -> None:
        self.label = label
        self.min_items = min_items
        self.terminal = sys.stderr.isatty()
        self.done = 0

    @property
    def active(self) -> bool:
        return self.terminal and self.done >= self.min_items

    def step(self) -> None:
        self.done += 1
        if self.active:
            sys.stderr.write(f"\r{self.label} {self.done} files")
            sys.stderr.flush()

    def close(self) -> None:
        if self.active:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()
