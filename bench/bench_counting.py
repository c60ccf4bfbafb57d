"""Counting and cache benchmarks: the targets' ratios (bench/README.md), measured in one run against raw tiktoken.

Run:  .venv/bin/python bench/bench_counting.py [--repeats 7] [--json]
Every figure is a median over ``--repeats`` runs; hits are timed with fresh-but-equal str objects, as a real
caller passes a new string each time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import time
import tracemalloc
from collections.abc import Callable

from ctxbudget import TokenCountCache, TokenCounter, TokenizerFactory
from ctxbudget.tokenizers import accelerator

WORDS = tuple(
    "token budget context model rule memory claude codex gemini agent cache the of and to in is"
    " for with on that this be are as at by an or from it not we you can"
    .split()
)


def make_text(rng: random.Random, chars: int) -> str:
    out: list[str] = []
    size = 0
    while size < chars:
        word = rng.choice(WORDS)
        out.append(word)
        size += len(word) + 1
    return " ".join(out)[:chars]


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
        elif len(args) == 1:
            a = args[0]
            for t in batch:
                fn(t, a)
        else:
            a, b = args
            for t in batch:
                fn(t, a, b)
        runs.append((time.perf_counter_ns() - start) / len(batch))
    return statistics.median(runs)


def loop_over(fn: Callable[[str], object], texts: list[str]) -> None:
    """Call ``fn`` on each text, discarding results (as the miss loop does: no garbage left to collect)."""
    for t in texts:
        fn(t)


def median_seconds(fn: Callable[[], object], repeats: int) -> float:
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - start)
    return statistics.median(runs)


def bench(repeats: int) -> dict[str, float]:
    rng = random.Random(7)
    enc = TokenizerFactory.get_tiktoken_encoding("o200k_base")
    results: dict[str, float] = {}
    for chars in (200, 20):
        text = make_text(rng, chars)
        texts = [text] * 20_000
        encode_ns = per_call_ns(enc.encode, texts, repeats)
        ordinary_ns = per_call_ns(enc.encode_ordinary, texts, repeats)
        TokenCounter.initialize_cache(maxsize=1000, ttl=300.0)
        TokenCounter.count_tokens(text, "codex")
        hit_ns = per_call_ns(TokenCounter.count_tokens, texts, repeats, "codex")
        cache = TokenCounter.get_cache()
        assert cache is not None
        cache.set(text, "codex", 5, variant="v")
        get_ns = per_call_ns(cache.get, texts, repeats, "codex", "v")
        unique = [make_text(rng, chars) + f" {i}" for i in range(20_000)]
        unique = [u[-chars:] for u in unique]

        def misses(batch: list[str]) -> None:
            TokenCounter.initialize_cache(maxsize=100_000, ttl=300.0)
            count = TokenCounter.count_tokens
            for t in batch:
                count(t, "codex")

        miss_runs, base_runs = [], []
        for _ in range(repeats):
            batch = [fresh(t) for t in unique]
            base_runs.append(median_seconds(lambda b=batch: loop_over(enc.encode_ordinary, b), 1))
            miss_runs.append(median_seconds(lambda b=batch: misses(b), 1))
        results[f"hit_{chars}_encode_div_hit"] = encode_ns / hit_ns
        results[f"hit_{chars}_encode_div_cache_get"] = encode_ns / get_ns
        results[f"hit_{chars}_ns"] = hit_ns
        results[f"encode_{chars}_ns"] = encode_ns
        results[f"encode_ordinary_{chars}_ns"] = ordinary_ns
        results[f"miss_{chars}_div_encode_ordinary"] = statistics.median(miss_runs) / statistics.median(base_runs)

    # 10k unique 200-char texts, cold cache: 1-thread tiktoken loop / batch_count_tokens
    batch_texts = [make_text(rng, 200) for _ in range(10_000)]

    def loop(texts: list[str]) -> None:
        loop_over(enc.encode_ordinary, texts)

    def batch(texts: list[str]) -> None:
        TokenCounter.initialize_cache(maxsize=1000, ttl=300.0)
        TokenCounter.batch_count_tokens(texts, "codex")

    def abatch(texts: list[str]) -> None:
        TokenCounter.initialize_cache(maxsize=1000, ttl=300.0)
        asyncio.run(TokenCounter.async_batch_count_tokens(texts, "codex"))

    from concurrent.futures import ThreadPoolExecutor

    pool = ThreadPoolExecutor(2)

    def two_threads(texts: list[str]) -> None:  # the ceiling on two cores: raw tiktoken, no cache, no dedupe
        list(pool.map(lambda part: loop_over(enc.encode_ordinary, part), (texts[:5000], texts[5000:])))

    def interleaved(names: tuple[str, ...]) -> dict[str, float]:
        """Median seconds per variant over interleaved rounds, each on fresh-but-equal texts (a cold cache
        sees new str objects)."""
        variants = {"loop": loop, "two": two_threads, "batch": batch, "abatch": abatch}
        runs: dict[str, list[float]] = {name: [] for name in names}
        for _ in range(repeats):
            for name in names:
                texts = [fresh(t) for t in batch_texts]
                runs[name].append(median_seconds(lambda f=variants[name], ts=texts: f(ts), 1))
        return {name: statistics.median(r) for name, r in runs.items()}

    # first tiktoken alone (the accelerator would load itself after 8 MiB of work), then with it loaded
    backend = TokenizerFactory.get_openai_backend("o200k_base")
    after = accelerator.ACCELERATE_AFTER_CHARS
    accelerator.ACCELERATE_AFTER_CHARS = 1 << 62
    t = interleaved(("loop", "two", "batch", "abatch"))
    accelerator.ACCELERATE_AFTER_CHARS = after
    results["batch_10k_loop_div_batch"] = t["loop"] / t["batch"]
    results["batch_10k_loop_div_raw_2_threads"] = t["loop"] / t["two"]
    results["async_batch_div_sync_batch"] = t["abatch"] / t["batch"]
    if backend.accelerate(wait=True):
        t = interleaved(("loop", "batch", "abatch"))
        results["batch_10k_loop_div_batch_accelerated"] = t["loop"] / t["batch"]
        results["async_batch_div_sync_batch_accelerated"] = t["abatch"] / t["batch"]

    # memory per entry, 50 KB texts: everything the cache keeps (digest key, entry, table slot)
    big = [make_text(rng, 50_000) for _ in range(200)]
    big = big + [t + str(i) for i, t in enumerate(big * 9)]
    cache = TokenCountCache(maxsize=10_000, ttl=300.0)
    cache.set("warm up the namespace", "codex", 1, variant="v")
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for t in big:
        cache.set(t, "codex", 12_345, variant="v")
    results["bytes_per_entry_50k_text"] = (tracemalloc.get_traced_memory()[0] - before) / len(big)
    tracemalloc.stop()

    # Claude: hit vs recount of a 2 KB text
    claude_text = make_text(rng, 2048)
    TokenCounter.initialize_cache()
    TokenCounter.count_tokens(claude_text, "claude")
    backend = TokenizerFactory.get_claude_backend("4.7")
    recount = per_call_ns(backend.count, [claude_text] * 20, repeats)
    hit = per_call_ns(lambda t: TokenCounter.count_tokens(t, "claude"), [claude_text] * 2000, repeats)
    results["claude_2k_recount_div_hit"] = recount / hit
    results["loadavg_1min"] = os.getloadavg()[0]
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = bench(args.repeats)
    if args.json:
        print(json.dumps(results, indent=2))
        return
    for key, value in results.items():
        print(f"{key:40s} {value:12.2f}")


if __name__ == "__main__":
    main()
