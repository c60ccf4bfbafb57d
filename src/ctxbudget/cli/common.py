"""Pieces every CLI command shares: exit codes, the usage error, input reading, output helpers."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

EXIT_OK, EXIT_OVER, EXIT_USAGE = 0, 1, 2
TEXT_SUFFIXES = {".md", ".markdown", ".txt", ".yaml", ".yml", ".json", ".toml", ".rst"}


class UsageError(Exception):
    """Bad arguments or input; reported as one line on stderr, exit 2."""


def iter_inputs(paths: Sequence[str]) -> Iterator[tuple[str, str]]:
    """``(label, text)`` for each path (``-`` or no path: stdin); directories give their text files."""
    if not paths:
        paths = ["-"]
    for raw in paths:
        if raw == "-":
            yield "-", read_stdin()
            continue
        path = Path(raw)
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in TEXT_SUFFIXES)
            if not files:
                raise UsageError(f"no text files ({', '.join(sorted(TEXT_SUFFIXES))}) in {raw}")
            for file in files:
                yield str(file), read_text(file)
        elif path.exists():
            yield raw, read_text(path)
        else:
            raise UsageError(f"no such file: {raw}")


def read_stdin() -> str:
    """Standard input; on a terminal, first a hint on stderr (a bare command would otherwise just wait)."""
    if sys.stdin.isatty():
        print("ctxbudget: reading from the terminal; end with Ctrl-D, or give a PATH", file=sys.stderr)
    return sys.stdin.read()


def read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None


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
    """A one-line progress counter on stderr, only when stderr is a terminal and the job is long."""

    def __init__(self, total: int, label: str, *, min_items: int = 20) -> None:
        self.total = total
        self.label = label
        self.active = total >= min_items and sys.stderr.isatty()
        self.done = 0

    def step(self) -> None:
        self.done += 1
        if self.active:
            sys.stderr.write(f"\r{self.label} {self.done}/{self.total}")
            sys.stderr.flush()

    def close(self) -> None:
        if self.active:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()
