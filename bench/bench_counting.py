"""Counting and cache benchmarks: the ratios of bench/README.md, measured in one run against raw tiktoken.

Run:  .venv/bin/python bench/bench_counting.py [--repeats 7] [--json] [--impl both|current]

Every figure is a median over ``--repeats`` runs, on two corpora: a word list and real text (this
repository's prose and code, ``corpora.py``). Hits are timed with fresh-but-equal str objects, as a real caller
passes a new string each time, cycling over 100 distinct texts. ``--impl both`` (the default) runs the
measurements once with the compiled hot path and once with the pure-Python one (``CTXBUDGET_PURE=1``), each
in its own process, and prints them side by side.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from corpora import real_pieces, word_pieces
from ctxbudget import TokenCountCache, TokenCounter, TokenizerFactory
from ctxbudget._speedups import COMPILED
from ctxbudget.tokenizers import accelerator

CORPORA: dict[str, Callable[[int, int, int], list[str]]] = {"words": word_pieces, "real": real_pieces}


def fresh(text: str) -> str:
    return (text + "\x00")[:-1]


def per_call_ns(fn: Callable[..., object], texts: list[str], repeats: int, *args: str) -> float:
    """Median ns of ``fn(text, *args)`` over fresh-but-equal texts; the same loop for every callable."""
    runs = []
    for _ in range(repeats):
        batch = [fresh(t) for t in texts]
        start = time.perf_counter_ns()
        if not args:
            for t in batch:
                fn(t)
        else:
            a = args[0]
            for t in batch:
                fn(t, a)
        runs.append((time.perf_counter_ns() - start) / len(batch))
    return statistics.median(runs)


def loop_over(fn: Callable[[str], object], texts: list[str]) -> None:
    """Call ``fn`` on each text, discarding results (as the miss loop does: no garbage left to collect)."""
    for t in texts:
        fn(t)


def seconds(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def hits_and_misses(corpus: str, repeats: int, results: dict[str, float]) -> None:
    enc = TokenizerFactory.get_tiktoken_encoding("o200k_base")
    pieces = CORPORA[corpus]
    for chars in (200, 20):
        distinct = pieces(chars, 100, 1)
        texts = distinct * 200
        encode_ns = per_call_ns(enc.encode, texts, repeats)
        TokenCounter.initialize_cache(maxsize=1000, ttl=300.0)
        for t in distinct:
            TokenCounter.count_tokens(t, "codex")
        hit_ns = per_call_ns(TokenCounter.count_tokens, texts, repeats, "codex")
        unique = pieces(chars, 20_000, 2)

        def misses(batch: list[str]) -> None:
            TokenCounter.initialize_cache(maxsize=100_000, ttl=300.0)
            count = TokenCounter.count_tokens
            for t in batch:
                count(t, "codex")

        miss_runs, base_runs = [], []
        for _ in range(repeats):
            batch = [fresh(t) for t in unique]
            base_runs.append(seconds(lambda b=batch: loop_over(enc.encode_ordinary, b)))  # type: ignore[misc]
            batch = [fresh(t) for t in unique]
            miss_runs.append(seconds(lambda b=batch: misses(b)))  # type: ignore[misc]
        results[f"{corpus}: hit {chars} chars, encode ÷ hit"] = encode_ns / hit_ns
        results[f"{corpus}: hit {chars} chars, ns"] = hit_ns
        results[f"{corpus}: encode {chars} chars, ns"] = encode_ns
        results[f"{corpus}: miss {chars} chars ÷ encode_ordinary"] = (statistics.median(miss_runs)
                                                                     / statistics.median(base_runs))


def batches(corpus: str, repeats: int, results: dict[str, float]) -> None:
    """10k unique 200-char texts, cold cache: a 1-thread tiktoken loop ÷ batch_count_tokens, and async."""
    TokenizerFactory.clear_cache()  # a backend without the accelerator (an earlier corpus loaded it)
    enc = TokenizerFactory.get_tiktoken_encoding("o200k_base")
    batch_texts = CORPORA[corpus](200, 10_000, 3)
    pool = ThreadPoolExecutor(2)

    def loop(texts: list[str]) -> None:
        loop_over(enc.encode_ordinary, texts)

    def batch(texts: list[str]) -> None:
        TokenCounter.initialize_cache(maxsize=1000, ttl=300.0)
        TokenCounter.batch_count_tokens(texts, "codex")

    def abatch(texts: list[str]) -> None:
        TokenCounter.initialize_cache(maxsize=1000, ttl=300.0)
        asyncio.run(TokenCounter.async_batch_count_tokens(texts, "codex"))

    def two_threads(texts: list[str]) -> None:  # the ceiling on two cores: raw tiktoken, no cache, no dedupe
        list(pool.map(lambda part: loop_over(enc.encode_ordinary, part), (texts[:5000], texts[5000:])))

    variants = {"loop": loop, "two": two_threads, "batch": batch, "abatch": abatch}

    def interleaved(names: tuple[str, ...]) -> dict[str, float]:
        runs: dict[str, list[float]] = {name: [] for name in names}
        for _ in range(repeats):
            for name in names:
                texts = [fresh(t) for t in batch_texts]
                runs[name].append(seconds(lambda f=variants[name], ts=texts: f(ts)))  # type: ignore[misc]
        return {name: statistics.median(r) for name, r in runs.items()}

    # tiktoken alone first (the accelerator would load itself after 8 MiB of work), then with it loaded
    backend = TokenizerFactory.get_openai_backend("o200k_base")
    after = accelerator.ACCELERATE_AFTER_CHARS
    accelerator.ACCELERATE_AFTER_CHARS = 1 << 62
    t = interleaved(("loop", "two", "batch", "abatch"))
    accelerator.ACCELERATE_AFTER_CHARS = after
    results[f"{corpus}: 10k batch, loop ÷ batch"] = t["loop"] / t["batch"]
    results[f"{corpus}: 10k batch, loop ÷ raw tiktoken on 2 threads"] = t["loop"] / t["two"]
    results[f"{corpus}: async batch ÷ sync batch"] = t["abatch"] / t["batch"]
    results[f"{corpus}: 10k batch (2 MB), loop ms"] = t["loop"] * 1e3
    if backend.accelerate(wait=True):
        t = interleaved(("loop", "batch", "abatch"))
        results[f"{corpus}: 10k batch, loop ÷ batch, accelerated"] = t["loop"] / t["batch"]
        results[f"{corpus}: async ÷ sync batch, accelerated"] = t["abatch"] / t["batch"]
        results[f"{corpus}: 10k batch (2 MB), accelerated batch ms"] = t["batch"] * 1e3
    pool.shutdown()


def memory_and_claude(repeats: int, results: dict[str, float]) -> None:
    # memory per entry, 50 KB texts: everything the cache keeps (digest key, entry, table slot)
    big = real_pieces(50_000, 2000, 4)
    cache = TokenCountCache(maxsize=10_000, ttl=300.0)
    cache.set("warm up the namespace", "codex", 1, variant="v")
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for t in big:
        cache.set(t, "codex", 12_345, variant="v")
    results["bytes per cache entry, 50 KB texts"] = (tracemalloc.get_traced_memory()[0] - before) / len(big)
    tracemalloc.stop()
    claude_text = real_pieces(2048, 1, 5)[0]
    TokenCounter.initialize_cache()
    TokenCounter.count_tokens(claude_text, "claude")
    backend = TokenizerFactory.get_claude_backend("4.7")
    recount = per_call_ns(backend.count, [claude_text] * 10, repeats)
    hit = per_call_ns(lambda t: TokenCounter.count_tokens(t, "claude"), [claude_text] * 2000, repeats)
    results["real: Claude 2 KB, recount ÷ hit"] = recount / hit


def bench(repeats: int) -> dict[str, float]:
    results: dict[str, float] = {"compiled": float(COMPILED), "load average before": os.getloadavg()[0]}
    for corpus in CORPORA:
        hits_and_misses(corpus, repeats, results)
    for corpus in CORPORA:
        batches(corpus, repeats, results)
    memory_and_claude(repeats, results)
    results["load average after"] = os.getloadavg()[0]
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--impl", choices=("both", "current"), default="both")
    args = parser.parse_args()
    if args.impl == "current":
        results = bench(args.repeats)
        print(json.dumps(results) if args.json else "\n".join(f"{k:58s} {v:12.2f}" for k, v in results.items()))
        return
    columns = {}
    for name, pure in (("compiled", False), ("pure", True)):
        env = {k: v for k, v in os.environ.items() if k != "CTXBUDGET_PURE"} | ({"CTXBUDGET_PURE": "1"} if pure else {})
        done = subprocess.run([sys.executable, __file__, "--impl", "current", "--json", "--repeats", str(args.repeats)],
                              env=env, capture_output=True, text=True, check=True)
        columns[name] = json.loads(done.stdout)
    if args.json:
        print(json.dumps(columns, indent=2))
        return
    print(f"{'metric':58s} {'compiled':>12s} {'pure':>12s}")
    for key in columns["compiled"]:
        print(f"{key:58s} {columns['compiled'][key]:12.2f} {columns['pure'].get(key, float('nan')):12.2f}")


if __name__ == "__main__":
    main()
