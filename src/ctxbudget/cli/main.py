"""``ctxbudget`` CLI entry point: argument parsing, error handling and exit codes.

Exit codes: 0 ok, 1 over a limit, 2 usage or input error (one line on stderr, never a traceback).
Data goes to stdout, diagnostics to stderr. Only the module of the command being run is imported, so
``ctxbudget count`` does not pay for YAML, rules or formatters.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from importlib import import_module
from typing import Any

from ..errors import CtxBudgetError
from .common import EXIT_OK, EXIT_USAGE, UsageError

COMMANDS = ("count", "tree", "agents", "check", "fit", "trim", "truncate", "usage", "calibrate", "config", "cache",
            "completion")


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # descriptions keep their line breaks: each ends with an example command line
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(message)

    def format_help(self) -> str:
        # the help comes from docstrings, whose ``literals`` are reST: a terminal shows them as plain words
        return re.sub(r"``([^`]+)``", r"\1", super().format_help())


def build_parser(commands: Sequence[str] = COMMANDS) -> argparse.ArgumentParser:
    from .._version import __version__

    parser = _Parser(prog="ctxbudget", description="Token counts and budgets for LLM context.")
    parser.add_argument("--version", action="version", version=f"ctxbudget {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in commands:
        import_module(f".{name}_cmd", __package__).add_parser(sub)
    return parser


def _requested(argv: Sequence[str]) -> Sequence[str]:
    first = next((a for a in argv if not a.startswith("-")), None)
    return (first,) if first in COMMANDS else COMMANDS


def main(argv: Sequence[str] | None = None) -> int:
    args_in = list(sys.argv[1:] if argv is None else argv)
    try:
        parser = build_parser(_requested(args_in))
        args = parser.parse_args(args_in)
        if not getattr(args, "command", None):
            parser.print_help(sys.stderr)
            return EXIT_USAGE
        return int(args.run(args))
    except BrokenPipeError:  # `ctxbudget count big | head`: the reader left; not an error
        _silence_stdout()
        return EXIT_OK
    except UsageError as exc:
        print(f"ctxbudget: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (CtxBudgetError, OSError, UnicodeDecodeError, ValueError) as exc:
        print(f"ctxbudget: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except SystemExit as exc:  # --version and --help end the parse with it
        return exc.code if isinstance(exc.code, int) else EXIT_OK


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush does not fail on the closed pipe."""
    import os

    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def entry() -> None:
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    entry()
