"""``ctxbudget`` CLI entry point: argument parsing, error handling and exit codes.

Exit codes: 0 ok, 1 over a limit, 2 usage or input error (one line on stderr, never a traceback).
Data goes to stdout, diagnostics to stderr.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ..errors import CtxBudgetError
from . import config_cmd, count_cmd, fit_cmd
from .common import EXIT_OK, EXIT_USAGE, UsageError


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="ctxbudget", description="Token counts and budgets for LLM context.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    count_cmd.add_parser(sub)
    fit_cmd.add_parser(sub)
    config_cmd.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if not getattr(args, "command", None):
            parser.print_help(sys.stderr)
            return EXIT_USAGE
        return int(args.run(args))
    except UsageError as exc:
        print(f"ctxbudget: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (CtxBudgetError, OSError, UnicodeDecodeError, ValueError) as exc:
        print(f"ctxbudget: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # pragma: no cover - e.g. `ctxbudget count big | head`
        return EXIT_OK


def entry() -> None:
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    entry()
