"""``ctxbudget count``: per-file and total token counts for one or more models, with provenance.

example: ctxbudget count . -m claude -m gpt-4o --sort tokens --top 20
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from typing import Any

from ..counting.counter import Counter
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
from .model_arg import known_model
from .walk import WalkReport

SORTS = ("tokens", "path")
Row = tuple[str, list[int]]


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
    p.add_argument("--sort", choices=SORTS, help="order of the files: by the first model's count, largest first, "
                   "or by path (default: the order they were read in; with --top: tokens)")
    p.add_argument("--top", type=int, metavar="N",
                   help="show only the N largest files (by the first model's count); the total is still of all")
    add_walk_options(p)
    add_cache_options(p)
    p.set_defaults(run=run)


@dataclass
class _Column:
    name: str
    counter: Counter

    def provenance(self) -> dict[str, Any]:
        return {"model": self.name, **self.counter.provenance()}


def column(model: str, estimate: bool = False) -> _Column:
    """The registry's counter for ``model``; ``--estimate`` takes the reference heuristic of the same route
    (and lets names the registry does not know through, at ``len // 4``)."""
    name = model.strip() if estimate else known_model(model, hint=" (use --estimate to count it with len/4)")
    # no memory cache: a count reads each file once, and keying 200 MB for it cost ~0.3 s (bench/README.md);
    # the persistent tiers still serve and keep whole-file counts
    return _Column(name, Counter.for_model(name, None, use_tokenizer=not estimate))


def run(args: argparse.Namespace) -> int:
    use_persistent_cache(args)
    if args.max_tokens is not None and args.max_tokens < 0:
        raise UsageError("--max-tokens must be >= 0")
    if args.top is not None and args.top < 0:
        raise UsageError("--top must be >= 0")
    columns = [column(m, args.estimate) for m in (args.models or DEFAULT_MODELS)]
    rows, report = count_inputs(args, [c.counter for c in columns])
    print_report(report)  # (a walk that found nothing raised instead, naming what it skipped)
    totals = [sum(r[1][i] for r in rows) for i in range(len(columns))]
    over = _over_limit(args.max_tokens, columns, rows, totals)
    shown = _shown(rows, args.sort, args.top)
    hidden = [sum(r[1][i] for r in rows) - sum(r[1][i] for r in shown) for i in range(len(columns))]
    names = [c.name for c in columns]
    if args.json:
        data: dict[str, Any] = {
            "models": [c.provenance() for c in columns],
            "files": [{"path": label, "counts": dict(zip(names, counts, strict=True))} for label, counts in shown],
            "total": dict(zip(names, totals, strict=True)),
            "max_tokens": args.max_tokens,
            "over_limit": bool(over),
        }
        if args.top is not None:
            data.update(top=args.top, files_counted=len(rows), omitted=len(rows) - len(shown),
                        omitted_total=dict(zip(names, hidden, strict=True)))
        print_json(data)
    elif len(rows) == 1 and len(columns) == 1:
        print(rows[0][1][0])
    else:
        headers = ["file", *(_header(c) for c in columns)]
        body = [[label, *(f"{n:,}" for n in counts)] for label, counts in shown]
        if len(shown) < len(rows):
            more = len(rows) - len(shown)
            body.append([f"… and {more:,} more file{'s' if more > 1 else ''}", *(f"{n:,}" for n in hidden)])
        if len(rows) > 1:
            body.append(["total", *(f"{n:,}" for n in totals)])
        print(render_table(headers, body, right=set(range(1, len(headers)))))
        print("  ".join(f"{c.name}: {c.provenance()['kind']} ({c.provenance()['tokenizer_id']})" for c in columns))
    if over:
        print(f"ctxbudget: over --max-tokens {args.max_tokens:,}: {over}", file=sys.stderr)
    return EXIT_OVER if over else EXIT_OK


def count_inputs(args: argparse.Namespace, counters: list[Counter]) -> tuple[list[Row], WalkReport]:
    """Every input's counts, in the order the walk gives them (counted on every core, ``count_stream``), with a
    progress bar on a terminal."""
    from ..counting.stream import count_stream

    report = WalkReport()
    progress = Progress("counting")
    try:
        items = iter_inputs(args.paths, args, report)
        rows = list(count_stream(counters, items, progress if progress.terminal else None))
    finally:
        progress.close()
    return rows, report


def _shown(rows: list[Row], sort: str | None, top: int | None) -> list[Row]:
    """The rows the output lists: ``top`` largest by the first model's count (ties in read order), in
    ``sort`` order."""
    if top is not None:
        largest = sorted(range(len(rows)), key=lambda i: -rows[i][1][0])[:top]
        rows = [rows[i] for i in sorted(largest)]
        sort = sort or "tokens"
    if sort == "tokens":
        return sorted(rows, key=lambda r: -r[1][0])  # stable: equal counts stay in read order
    if sort == "path":
        return sorted(rows, key=lambda r: r[0])
    return rows


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

