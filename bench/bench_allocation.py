"""Allocation benchmark: 1000 rules into a 100k-token budget with a warm cache, as a ratio to one tiktoken
``encode`` of a 2 KB text (target: ≤ 30; the reference measured ≈ 790).

Run:  .venv/bin/python bench/bench_allocation.py [--repeats 9]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time
from datetime import UTC, datetime, timedelta

from ctxbudget import TokenCounter, TokenizerFactory
from ctxbudget.budget import AllocationStrategy, TokenBudgetManager
from ctxbudget.rules import MemoryRule

WORDS = tuple(
    "always never prefer use run check keep"
    " write test commit review deploy log type format"
    .split()
)


def make_rules(n: int, rng: random.Random) -> list[MemoryRule]:
    t0 = datetime(2025, 1, 1, tzinfo=UTC)
    return [
        MemoryRule(
            f"r{i}", rng.choice(["behavior", "preference", "agent"]), f"Rule {i}",
            " ".join(rng.choice(WORDS) for _ in range(rng.randint(10, 60))) + f" ({i}).",
            "absolute" if i % 50 == 0 else "default", [rng.choice(["python", "git", "docs"])],
            priority=rng.randint(0, 100), created_at=t0 + timedelta(minutes=i),
        )
        for i in range(n)
    ]


def median_time(fn: object, repeats: int, number: int) -> float:
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(number):
            fn()  # type: ignore[operator]
        runs.append((time.perf_counter() - start) / number)
    return statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args()
    rng = random.Random(3)
    rules = make_rules(1000, rng)
    text_2k = " ".join(rng.choice(WORDS) for _ in range(400))[:2048]
    enc = TokenizerFactory.get_tiktoken_encoding("o200k_base")
    TokenCounter.initialize_cache(maxsize=5000, ttl=300.0)
    results = {}
    encode = median_time(lambda: enc.encode(text_2k), args.repeats, 200)
    for strategy in AllocationStrategy:
        manager = TokenBudgetManager(allocation_strategy=strategy, cache_maxsize=5000, cache_ttl=300.0)
        manager.allocate_budget(rules, 100_000, "codex")  # warm the cache
        alloc = median_time(lambda m=manager: m.allocate_budget(rules, 100_000, "codex"), args.repeats, 5)
        results[strategy.value] = alloc
    print(f"tiktoken encode of 2 KB text: {encode * 1e6:8.1f} µs   (load avg {os.getloadavg()[0]:.2f})")
    for name, seconds in results.items():
        print(f"allocate 1000 rules / 100k, {name:12s}: {seconds * 1e3:7.2f} ms   ratio {seconds / encode:6.1f}")


if __name__ == "__main__":
    main()
