"""``ctxbudget cache stats|clear|warm``: the persistent count cache the commands share.

Commands that count (``count``, ``check``, ``fit``) keep their counts in a SQLite file under
``$XDG_CACHE_HOME/ctxbudget`` by default, so a second run over unchanged files is served from it. The cache is
chosen by ``--cache SPEC``, else ``CTXBUDGET_CACHE``, else a ``cache:`` key in the budget config file, else
``sqlite``: ``memory``, ``sqlite[:PATH]``, ``redis://HOST:PORT/DB`` or a comma list (tiers in that order).
``--no-cache`` counts without it (counts only: parsed tokenizer vocabularies are still kept, see
``CTXBUDGET_NO_VOCAB_CACHE``).

``--exact`` counts with the providers' count-tokens APIs for that run (count policy ``api``; a key such as
``ANTHROPIC_API_KEY`` is needed); without it ``CTXBUDGET_COUNT_POLICY`` or the config's ``count_policy:``
decide, else everything is counted offline. API counts are cached like the others (docs/remote.md).

example: ctxbudget cache warm docs/ --cache redis://cache.internal:6379/0
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
from pathlib import Path
from typing import Any

from ..cache.redis_tier import display_url
from ..cache.tiers import TieredCache, parse_cache_spec
from ..config_files import cache_spec, count_policy_spec, find_config_file
from ..counting import persistent
from ..counting.routes import POLICY_ENV
from ..errors import ConfigError
from .common import DEFAULT_MODELS, EXIT_OK, UsageError, add_walk_options, iter_inputs, print_json, render_table

DEFAULT_SPEC = "sqlite"


def add_cache_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--cache", metavar="SPEC", help="persistent count cache: memory, sqlite[:PATH], "
                   "redis://HOST:PORT/DB or a comma list (default: $CTXBUDGET_CACHE, the config's cache:, sqlite)")
    p.add_argument("--no-cache", action="store_true", help="count without the persistent cache")
    p.add_argument("--exact", action="store_true", help="count with the providers' count-tokens APIs for this run "
                   "(policy api; needs ANTHROPIC_API_KEY, GEMINI_API_KEY or OPENAI_API_KEY)")


def config_spec(path: str | None) -> str | None:
    """The ``cache:`` key of the budget config file (given, or discovered), if it has one."""
    try:
        return cache_spec(Path(path) if path else find_config_file())
    except ConfigError as exc:
        raise UsageError(str(exc)) from None


def use_persistent_cache(args: argparse.Namespace) -> None:
    """Configure the process-wide persistent cache and the count policy for a command (module docstring). A
    wrong ``--cache``, ``cache:`` or ``count_policy:`` is a usage error; a wrong ``CTXBUDGET_CACHE``, or a
    cache that cannot be opened, is one warning, and the command counts without it."""
    _use_cache(args)
    use_count_policy(args)


def use_count_policy(args: argparse.Namespace) -> None:
    """``--exact``: policy ``api`` for this run; else the config file's ``count_policy:`` when
    ``CTXBUDGET_COUNT_POLICY`` is unset (the library reads that variable itself). The remote package is
    imported only when one of them names a policy."""
    config = getattr(args, "config", None)
    if getattr(args, "exact", False):
        spec: str | dict[str, str] | None = "api"
        where = "--exact"
    elif os.environ.get(POLICY_ENV, "").strip():
        spec, where = None, POLICY_ENV
    else:
        try:
            path = Path(config) if config else find_config_file()
            spec = count_policy_spec(path)
        except ConfigError as exc:
            raise UsageError(str(exc)) from None
        where = f"{path}: count_policy"
    if spec is None and where != POLICY_ENV:
        if "ctxbudget.remote.policy" in sys.modules:  # an earlier run in this process configured one
            from ..remote.policy import configure

            configure(None)
        return
    from ..remote.policy import configure, parse_policy
    from ..remote.settings import load_settings

    try:  # with the variable set, its policy (None here) applies with --config's count_api: settings
        configure(None if spec is None else parse_policy(spec, where=where), settings=load_settings(config))
    except ConfigError as exc:
        raise UsageError(str(exc)) from None


def _use_cache(args: argparse.Namespace) -> None:
    if getattr(args, "no_cache", False):
        persistent.configure(None)
        return
    env = os.environ.get(persistent.ENV, "").strip()
    if args.cache:
        spec, where = args.cache, "--cache"
    elif env:
        spec, where = env, persistent.ENV
    else:
        file_spec = config_spec(getattr(args, "config", None))
        spec, where = (file_spec, "cache:") if file_spec else (DEFAULT_SPEC, "the default cache")
    try:
        persistent.configure(parse_cache_spec(spec, where=where))
    except ConfigError as exc:
        if where != persistent.ENV:
            raise UsageError(str(exc)) from None
        _warn(f"{exc}; counting without a persistent cache")
        persistent.configure(None)
    except (OSError, sqlite3.Error) as exc:
        _warn(f"the count cache ({display_url(spec)}) cannot be opened: {exc}; counting without it")
        persistent.configure(None)


def _warn(message: str) -> None:
    print(f"ctxbudget: warning: {message}", file=sys.stderr)


def add_parser(sub: Any) -> None:
    p = sub.add_parser("cache", help="the persistent count cache: stats, clear, warm", description=__doc__)
    p.add_argument("action", choices=["stats", "clear", "warm"])
    p.add_argument("paths", nargs="*", metavar="PATH", help="warm: files or directories to count in advance")
    p.add_argument("-m", "--model", action="append", dest="models", metavar="M",
                   help="warm: model id or tool name (repeatable; default: claude, codex, gemini)")
    p.add_argument("--config", metavar="FILE", help="budget config file (for its cache: key)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    add_walk_options(p)
    add_cache_options(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.no_cache:
        raise UsageError("cache: --no-cache leaves no cache to work on")
    use_persistent_cache(args)
    store = persistent.current()
    if store is None:
        raise UsageError("no persistent cache is configured (memory only)")
    tiers = store.tiers if isinstance(store, TieredCache) else [store]
    if args.action == "clear":
        try:
            store.clear()
        except Exception as exc:  # the server or file's own error, as one line
            raise UsageError(f"cache clear: {exc}") from None
        print("cleared: " + ", ".join(t.name for t in tiers), file=sys.stderr)
        return EXIT_OK
    if args.action == "warm":
        if not args.paths:
            raise UsageError("cache warm: give the files or directories to count")
        texts = [text for _label, text in iter_inputs(args.paths, args)]
        report = {m: persistent.warm(texts, m, store) for m in (args.models or DEFAULT_MODELS)}
        if args.json:
            print_json(report)
        else:
            for model, done in report.items():
                print(f"{model}: {done['counted']} counted, {done['already']} already cached "
                      f"({done['texts']} texts)")
        return EXIT_OK
    stats = [t.stats() for t in tiers]
    if args.json:
        print_json({"tiers": stats})
        return EXIT_OK
    rows = [[s["tier"], str(s.get("path") or s.get("url") or ""), _n(s.get("entries")), _n(s.get("bytes"))]
            for s in stats]
    print(render_table(["tier", "where", "entries", "bytes"], rows, right={2, 3}))
    return EXIT_OK


def _n(value: Any) -> str:
    return "-" if value is None else f"{value:,}"
