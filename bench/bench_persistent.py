"""The persistent tiers: cold vs warm new processes, per-batch SQLite cost, Redis round trips per batch.

    .venv/bin/python bench/bench_persistent.py [--repeat 3] [--texts 10000] [--tree-mib 5]

Every figure is a median over ``--repeat`` runs, and the warm/cold ones are ratios measured in the same run.
Each "process" is a fresh interpreter (``subprocess``), so import time is included where it says "process".
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from corpora import real_pieces  # noqa: E402

COUNT_TEXTS = """
import json, sys, time
from ctxbudget import TokenCounter
texts = json.load(open(sys.argv[1]))
start = time.perf_counter()
TokenCounter.batch_count_tokens(texts, "claude")
print(time.perf_counter() - start)
"""


def median(values: list[float]) -> float:
    return statistics.median(values)


def ratio(warm: list[float], cold: list[float]) -> float:
    """The median of warm/cold over the runs, each pair measured in the same run."""
    return median([w / c for w, c in zip(warm, cold, strict=True)])


def run_process(args: list[str], env: dict[str, str]) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(args, env=env, capture_output=True, text=True, check=True)
    return time.perf_counter() - start, done.stdout


def texts_bench(n: int, repeat: int, work: Path) -> dict[str, float]:
    texts = real_pieces(200, n)
    data = work / "texts.json"
    data.write_text(json.dumps(texts), encoding="utf-8")
    cold, warm, cold_proc, warm_proc = [], [], [], []
    for r in range(repeat):
        db = work / f"texts-{r}.sqlite3"
        env = {**os.environ, "CTXBUDGET_CACHE": f"sqlite:{db}"}
        args = [sys.executable, "-c", COUNT_TEXTS, str(data)]
        seconds, out = run_process(args, env)
        cold_proc.append(seconds)
        cold.append(float(out))
        seconds, out = run_process(args, env)
        warm_proc.append(seconds)
        warm.append(float(out))
    return {"cold_s": median(cold), "warm_s": median(warm), "ratio": ratio(warm, cold),
            "cold_process_s": median(cold_proc), "warm_process_s": median(warm_proc),
            "process_ratio": ratio(warm_proc, cold_proc)}


def tree_bench(mib: int, repeat: int, work: Path) -> dict[str, float]:
    tree = work / "tree"
    pieces = real_pieces(2000, 400, seed=1)
    size, n = 0, 0
    while size < mib * 1024 * 1024:
        folder = tree / f"pkg{n % 40}"
        folder.mkdir(parents=True, exist_ok=True)
        body = "\n\n".join(pieces[(n * 7 + k) % len(pieces)] for k in range(40)) + f"\n<!-- {n} -->\n"
        (folder / f"doc{n}.md").write_text(body, encoding="utf-8")
        size += len(body.encode())
        n += 1
    cli = [str(Path(sys.executable).with_name("ctxbudget")), "count", str(tree), "-m", "claude", "--json"]
    cold, warm = [], []
    for r in range(repeat):
        env = {**os.environ, "XDG_CACHE_HOME": str(work / f"xdg-{r}")}
        env.pop("CTXBUDGET_CACHE", None)
        cold.append(run_process(cli, env)[0])
        warm.append(run_process(cli, env)[0])
    return {"files": n, "mib": round(size / 1024 / 1024, 1), "cold_s": median(cold), "warm_s": median(warm),
            "ratio": ratio(warm, cold)}


def sqlite_batch_bench(repeat: int, work: Path) -> dict[str, dict[str, float]]:
    from ctxbudget.cache.sqlite_tier import SQLiteTier
    from ctxbudget.cache.tiers import count_key

    tier = SQLiteTier(work / "batch.sqlite3")
    out: dict[str, dict[str, float]] = {}
    for size in (1, 100, 1000, 10_000):
        keys = [count_key("bench|tok", f"text {size} {i}") for i in range(size)]
        tier.set_many(dict.fromkeys(keys, 5))
        gets, sets = [], []
        for _ in range(repeat * 5):
            start = time.perf_counter()
            tier.get_many(keys)
            gets.append(time.perf_counter() - start)
            start = time.perf_counter()
            tier.set_many(dict.fromkeys(keys, 6))
            sets.append(time.perf_counter() - start)
        out[str(size)] = {"get_ms": median(gets) * 1e3, "get_us_per_key": median(gets) / size * 1e6,
                          "set_ms": median(sets) * 1e3, "set_us_per_key": median(sets) / size * 1e6}
    tier.close()
    return out


def redis_bench(work: Path) -> dict[str, object] | None:
    binary = shutil.which("redis-server")
    if binary is None:
        return None
    import redis

    from ctxbudget import Counter
    from ctxbudget.cache.redis_tier import RedisTier

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", ""],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        client = redis.Redis(port=port)
        for _ in range(100):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        tier = RedisTier(f"redis://127.0.0.1:{port}/0", timeout=1.0)
        batch = real_pieces(300, 1000, seed=2)
        counter = Counter.for_model("claude", None, store=tier)

        def commands() -> dict[str, int]:
            stats = client.info("commandstats")
            return {k.removeprefix("cmdstat_"): v["calls"] for k, v in stats.items() if k in (
                "cmdstat_mget", "cmdstat_set")}

        # round trips: writes of a request to the socket by the tier's client (a pipeline is one)
        sends = [0]
        real_send = redis.connection.Connection.send_packed_command

        def counting_send(self: object, command: object, check_health: bool = True) -> None:
            sends[0] += 1
            real_send(self, command, check_health)  # type: ignore[arg-type]

        tier.get_many(["connect"])  # the connection's handshake is not a batch's cost
        redis.connection.Connection.send_packed_command = counting_send  # type: ignore[method-assign]
        try:
            result: dict[str, object] = {"batch": len(batch)}
            for phase in ("cold", "warm"):  # cold: nothing there yet; warm: the same batch again
                before, sends[0] = commands(), 0
                counter.count_batch(batch)
                result[f"{phase}_round_trips"] = sends[0]
                result[f"{phase}_commands"] = {k: v - before.get(k, 0) for k, v in commands().items()}
        finally:
            redis.connection.Connection.send_packed_command = real_send  # type: ignore[method-assign]
        return result
    finally:
        server.kill()
        server.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--texts", type=int, default=10_000)
    parser.add_argument("--tree-mib", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        report = {
            "texts": texts_bench(args.texts, args.repeat, work),
            "tree": tree_bench(args.tree_mib, args.repeat, work),
            "sqlite_batch": sqlite_batch_bench(args.repeat, work),
            "redis": redis_bench(work),
        }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
