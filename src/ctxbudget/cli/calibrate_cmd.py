"""``ctxbudget calibrate``: how far the offline count is from the provider's count-tokens API, file by file.

Opt-in and online: every file is sent to the model's count-tokens API, so its key must be set
(``ANTHROPIC_API_KEY``; ``GEMINI_API_KEY`` or ``GOOGLE_API_KEY``; ``OPENAI_API_KEY``). For each file: the
offline count (ctok's reconstruction for Claude, the estimate for Gemini, tiktoken for OpenAI), the API's
content count (the message frame taken off, docs/remote.md), their difference (offline - API) and that as a
percentage of the API's count; then the total. API counts are kept in the persistent cache like every
count, so a second run over the same files sends nothing.

example: ctxbudget calibrate --model claude-sonnet-4-5 CLAUDE.md
"""

from __future__ import annotations

import argparse
from typing import Any

from ..counting import persistent
from ..errors import ConfigError, UnknownModelError
from ..models.registry import resolve_model
from ..tokenizers import factory
from ..tokenizers.base import TokenizerBackend, backend_kind
from .cache_cmd import add_cache_options, use_persistent_cache
from .common import EXIT_OK, UsageError, add_walk_options, iter_inputs, print_json, render_table


def add_parser(sub: Any) -> None:
    p = sub.add_parser("calibrate", help="offline counts against the provider's count-tokens API (online)",
                       description=__doc__)
    p.add_argument("paths", nargs="+", metavar="FILE", help="files or directories to compare")
    p.add_argument("-m", "--model", required=True, metavar="M", help="model id or tool name")
    p.add_argument("--config", metavar="FILE", help="config file (its count_api: and cache: keys)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    add_walk_options(p)
    add_cache_options(p)
    p.set_defaults(run=run)


def _provenance(backend: TokenizerBackend) -> dict[str, Any]:
    return {"tokenizer_id": backend.tokenizer_id, "kind": backend_kind(backend)}


def _percent(offline: int, api: int) -> float:
    return round(100 * (offline - api) / api, 2)


def run(args: argparse.Namespace) -> int:
    from ..remote.policy import api_backend
    from ..remote.settings import load_settings

    use_persistent_cache(args)
    try:
        spec = resolve_model(args.model)
        remote = api_backend(spec, load_settings(args.config), store=persistent.current())
    except (UnknownModelError, ConfigError) as exc:
        raise UsageError(f"calibrate: {exc}") from None
    if not remote.has_key:
        raise UsageError(f"calibrate: {remote.provider}: {remote.missing_key_message()}")
    offline = persistent.wrap(factory.resolve(args.model).backend, True)
    api = persistent.wrap(remote, True)
    items = list(iter_inputs(args.paths, args))
    texts = [text for _label, text in items]
    offline_counts, api_counts = offline.count_batch(texts), api.count_batch(texts)
    rows = [(label, n_off, n_api) for (label, _), n_off, n_api in zip(items, offline_counts, api_counts, strict=True)]
    total_off, total_api = sum(offline_counts), sum(api_counts)
    if args.json:
        print_json({
            "model": args.model, "offline": _provenance(offline), "api": _provenance(remote),
            "frame_tokens": remote.frame(),
            "files": [{"path": label, "offline": n_off, "api": n_api, "difference": n_off - n_api,
                       "percent": _percent(n_off, n_api)} for label, n_off, n_api in rows],
            "total": {"offline": total_off, "api": total_api, "difference": total_off - total_api,
                      "percent": _percent(total_off, total_api)},
        })
        return EXIT_OK
    body = [[label, f"{n_off:,}", f"{n_api:,}", f"{n_off - n_api:+,}", f"{_percent(n_off, n_api):+.2f}%"]
            for label, n_off, n_api in rows]
    body.append(["total", f"{total_off:,}", f"{total_api:,}", f"{total_off - total_api:+,}",
                 f"{_percent(total_off, total_api):+.2f}%"])
    print(render_table(["file", "offline", "api", "difference", "%"], body, right={1, 2, 3, 4}))
    print(f"offline: {backend_kind(offline)} ({offline.tokenizer_id}); api: {remote.tokenizer_id}, content "
          f"tokens (a frame of {remote.frame()} tokens taken off)")
    return EXIT_OK
