"""``ctxbudget completion SHELL``: a tab-completion script for SHELL, made from the parser itself (shtab), so
it knows every command and option of this version.

example: ctxbudget completion bash > ~/.local/share/bash-completion/completions/ctxbudget
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from .common import EXIT_OK

SHELLS = ("bash", "zsh", "tcsh")
#: arguments shown with these metavars take file or directory names, and complete as such
PATH_METAVARS = ("PATH", "FILE", "RULES")


def add_parser(sub: Any) -> None:
    p = sub.add_parser("completion", help="print a shell completion script", description=__doc__)
    p.add_argument("shell", choices=SHELLS)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import shtab

    from .main import build_parser  # every command, not just this one: the script completes them all

    parser = build_parser()
    _complete_paths(parser, shtab.FILE)
    sys.stdout.write(shtab.complete(parser, shell=args.shell))
    return EXIT_OK


def _complete_paths(parser: argparse.ArgumentParser, completer: Any) -> None:
    for action in parser._actions:  # argparse has no public walk over a parser's arguments
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                _complete_paths(sub, completer)
        elif action.metavar in PATH_METAVARS:
            action.complete = completer  # type: ignore[attr-defined]
