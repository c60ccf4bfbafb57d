"""``ctxbudget truncate -t N``: the longest start (or, with ``--tail``, end) of a text that fits in N tokens for
the model, written to stdout. A character is never split. When the text had to be cut, a note on stderr says
from how many tokens; the exit status is 0 either way (as ttok's ``-t``).

example: git diff | ctxbudget truncate -t 4000 -m gpt-4o > diff-for-review.txt
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..counting.counter import Counter
from ..counting.truncate import truncate
from .common import EXIT_OK, UsageError, iter_inputs
from .model_arg import known_model


def add_parser(sub: Any) -> None:
    p = sub.add_parser("truncate", help="cut a text to N tokens", description=__doc__)
    p.add_argument("path", nargs="?", default="-", metavar="PATH", help="a text file; '-' or none reads stdin")
    p.add_argument("-t", "--max-tokens", type=int, required=True, metavar="N", help="keep at most N tokens")
    p.add_argument("-m", "--model", default="claude", metavar="M",
                   help="model id or tool name whose tokenizer counts (default: claude)")
    p.add_argument("--tail", action="store_true", help="keep the end of the text instead of the start")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.max_tokens < 1:
        raise UsageError("-t/--max-tokens must be >= 1")
    if args.path != "-" and Path(args.path).is_dir():
        raise UsageError(f"{args.path}: is a directory; truncate takes one file or stdin")
    model = known_model(args.model)
    args.errors = "fail"  # a cut copy of a file with bad bytes would not be the file's text
    ((_label, text),) = iter_inputs([args.path], args)
    result = truncate(text, args.max_tokens, model, keep="tail" if args.tail else "head")
    sys.stdout.buffer.write(result.text.encode("utf-8", "surrogatepass"))
    sys.stdout.flush()
    if result.truncated:
        kind = Counter.for_model(model).route.kind
        print(f"ctxbudget: cut to {result.tokens:,} of {result.original_tokens:,} tokens for {model} ({kind}); "
              f"kept the {'end' if args.tail else 'start'}", file=sys.stderr)
    return EXIT_OK
