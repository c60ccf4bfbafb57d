"""Pieces every CLI command shares: exit codes, the usage error, input reading, output helpers."""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
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
            yield "-", read_stdin(errors)
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


def read_stdin(errors: str = "fail") -> str:
    """Standard input as UTF-8 (bytes that are not: a usage error, or U+FFFD with ``errors="replace"``); on a
    terminal, first a hint on stderr (a bare command would otherwise just wait)."""
    if sys.stdin.isatty():
        print("ctxbudget: reading from the terminal; end with Ctrl-D, or give a PATH", file=sys.stderr)
    raw = getattr(sys.stdin, "buffer", None)
    if raw is None:  # a text stream without bytes beneath (an embedding program's): already decoded
        return sys.stdin.read()
    data: bytes = raw.read()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        if errors == "replace":
            return data.decode("utf-8", errors="replace")
        raise UsageError(f"stdin: not UTF-8 text ({exc.reason} at byte {exc.start})") from None


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
    """A progress bar on stderr for a long count: files and bytes counted, and each long file in flight as it
    is counted piece by piece (a ``counting.stream.Watcher``). Only when stderr is a terminal, and only once
    the run has lasted ``delay`` seconds; rich is imported then, so a short run never pays for it. The bar
    is cleared when it closes: what stays on the terminal is the command's output."""

    def __init__(self, label: str, *, delay: float = 0.5) -> None:
        self.label = label
        self.terminal = sys.stderr.isatty()
        self.delay = delay
        self.files = 0
        self.bytes = 0
        self._started = time.monotonic()
        self._lock = threading.Lock()
        self._bar: Any = None  # a rich.progress.Progress, once shown
        self._task: Any = None
        self._long: dict[str, Any] = {}  # label -> its bar's task, while a long file is counted
        self._closed = False

    def long_text(self, label: str, text: str, times: int) -> Callable[[int], None]:
        size = utf8_size(text)
        per_char = size / max(1, len(text)) / max(1, times)  # pieces come in characters, once per counter

        def piece(chars: int) -> None:
            if self._show():
                with self._lock:
                    task = self._long.get(label)
                    if task is None:
                        task = self._long[label] = self._bar.add_task(f"  {label}", total=size, files="")
                self._bar.advance(task, chars * per_char)

        return piece

    def counted(self, labels: Sequence[str], texts: Sequence[str]) -> None:
        if not self.terminal:
            return
        self.files += len(labels)
        self.bytes += sum(map(utf8_size, texts))
        if self._show():
            self._bar.update(self._task, completed=self.bytes, files=f"{self.files:,} files")
            with self._lock:
                done = [self._long.pop(label) for label in labels if label in self._long]
            for task in done:
                self._bar.remove_task(task)

    def _show(self) -> bool:
        """Whether the bar is up, putting it up once the run is long enough."""
        if self._bar is not None:
            return True
        if not self.terminal or self._closed or time.monotonic() - self._started < self.delay:
            return False
        with self._lock:
            if self._bar is None:
                self._bar, self._task = _rich_bar(self.label, self.files, self.bytes)
        return True

    def close(self) -> None:
        with self._lock:
            self._closed = True
            if self._bar is not None:
                self._bar.stop()
                self._bar = None


def utf8_size(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


def _rich_bar(label: str, files: int, done: int) -> tuple[Any, Any]:
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn, TransferSpeedColumn

    bar = Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[files]}"), DownloadColumn(),
                   TransferSpeedColumn(), TimeElapsedColumn(), console=Console(stderr=True), transient=True)
    bar.start()
    return bar, bar.add_task(label, total=None, completed=done, files=f"{files:,} files")
