"""``ctxbudget count``: per-file and total token counts for one or more models, with provenance.

example: ctxbudget count . -m claude -m gpt-4o --sort tokens --top 20
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from typing import Any

from ..counting.counter import Counter
from ..errors import UnknownModelError
from ..models.registry import resolve_model
from ..tokenizers.factory import registered_backend
from .cache_cmd import add_cache_options, use_persistent_cache
from .common import (
    DEFAULT_MODELS,
    EXIT_OK,
    EXIT_OVER,
    Progress,
    UsageError,
    add_walk_options,
    iter_inputs,
    print_json,
    print_report,
    render_table,
)
from .walk import WalkReport


def add_parser(sub: Any) -> None:
    p = sub.add_parser("count", help="count tokens of files or stdin", description=__doc__)
    p.add_argument("paths", nargs="*", metavar="PATH", help="files or directories; '-' or none reads stdin")
    p.add_argument("-m", "--model", action="append", dest="models", metavar="M",
                   help="model id or tool name (repeatable; default: claude, codex, gemini)")
    p.add_argument("--tool", action="append", dest="models", metavar="T", help="same as --model")
    p.add_argument("--estimate", action="store_true",
                   help="use the reference heuristics instead of tokenizers (also lets unknown models through)")
    p.add_argument("--max-tokens", type=int, metavar="N",
                   help="exit 1 if any input or the total exceeds N tokens for any model (CI gate)")
    p.add_argument("--json", action="store_true", help="machine-readable output with provenance")
    add_walk_options(p)
    add_cache_options(p)
    p.set_defaults(run=run)


@dataclass
class _Column:
    name: str
    counter: Counter

    def provenance(self) -> dict[str, Any]:
        return {"model": self.name, **self.counter.provenance()}


def _column(model: str, estimate: bool) -> _Column:
    """The registry's counter for ``model``; ``--estimate`` takes the reference heuristic of the same route
    (and lets names the registry does not know through, at ``len // 4``)."""
    name = model.strip()
    if not estimate:
        try:
            resolve_model(name)
        except UnknownModelError as exc:
            if registered_backend(name) is None:
                raise UsageError(f"{exc} (use --estimate to count it with len/4)") from None
    return _Column(name, Counter.for_model(name, use_tokenizer=not estimate))


def run(args: argparse.Namespace) -> int:
    use_persistent_cache(args)
    if args.max_tokens is not None and args.max_tokens < 0:
        raise UsageError("--max-tokens must be >= 0")
    columns = [_column(m, args.estimate) for m in (args.models or DEFAULT_MODELS)]
    progress = Progress("counting")
    rows: list[tuple[str, list[int]]] = []
    report = WalkReport()
    try:
        for label, text in iter_inputs(args.paths, args, report):  # one file in memory at a time
            rows.append((label, [c.counter.count(text) for c in columns]))
            progress.step()
    finally:
        progress.close()
    print_report(report)  # (a walk that found nothing raised instead, naming what it skipped)
    totals = [sum(r[1][i] for r in rows) for i in range(len(columns))]
    over = _over_limit(args.max_tokens, columns, rows, totals)
    if args.json:
        print_json({
            "models": [c.provenance() for c in columns],
            "files": [{"path": label, "counts": dict(zip((c.name for c in columns), counts, strict=True))}
                      for label, counts in rows],
            "total": dict(zip((c.name for c in columns), totals, strict=True)),
            "max_tokens": args.max_tokens,
            "over_limit": bool(over),
        })
    elif len(rows) == 1 and len(columns) == 1:
        print(rows[0][1][0])
    else:
        headers = ["file", *(_header(c) for c in columns)]
        body = [[label, *(f"{n:,}" for n in counts)] for label, counts in rows]
        if len(rows) > 1:
            body.append(["total", *(f"{n:,}" for n in totals)])
        print(render_table(headers, body, right=set(range(1, len(headers)))))
        print("  ".join(f"{c.name}: {c.provenance()['kind']} ({c.provenance()['tokenizer_id']})" for c in columns))
    if over:
        print(f"ctxbudget: over --max-tokens {args.max_tokens:,}: {over}", file=sys.stderr)
    return EXIT_OVER if over else EXIT_OK


def _over_limit(limit: int | None, columns: list[_Column], rows: list[tuple[str, list[int]]],
                totals: list[int]) -> str:
    """Why ``--max-tokens`` is exceeded (the largest offender, and how many more), or "" when it is not."""
    if limit is None:
        return ""
    offenders = [(n, label, c.name) for label, counts in rows for n, c in zip(counts, columns, strict=True)
                 if n > limit]
    if not offenders:
        over_total = [(n, c.name) for n, c in zip(totals, columns, strict=True) if n > limit]
        if not over_total:
            return ""
        n, model = max(over_total)
        return f"the total is {n:,} tokens for {model}"
    n, label, model = max(offenders)
    more = f" (and {len(offenders) - 1} more)" if len(offenders) > 1 else ""
    return f"{label} is {n:,} tokens for {model}{more}"


def _header(column: _Column) -> str:
    kind = column.counter.route.kind
    return column.name if kind == "exact" else f"{column.name} ({kind[:5]}.)"

