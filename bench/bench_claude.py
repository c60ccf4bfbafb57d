"""The compiled Claude counter against ctok, and the CLI's memory on a 100 MB file.

    .venv/bin/python bench/bench_claude.py [--family 4.7] [--big-mb 100] [--skip-cli]

1. One core: 1 MiB of ``real_text()`` counted by ctok and by the compiled counter (its 256 KiB pieces one
   after another), same run; the ratio of the throughputs.
2. Both cores: 64 MiB counted by ``ClaudeBackend`` (pieces on every core) against its pieces one after another.
3. ``ctxbudget count FILE -m claude --no-cache`` on a file of ``--big-mb`` MB: wall time and peak RSS of the
   child (``getrusage(RUSAGE_CHILDREN)``).

Every count is checked against the others of the same text; a mismatch fails the run.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import ctok

from corpora import ROOT, real_text
from ctxbudget.tokenizers.claude import CTOK_VERSIONS, ClaudeBackend
from ctxbudget.tokenizers.claude_fast import load
from ctxbudget.tokenizers.claude_pieces import pieces
from ctxbudget.tokenizers.parallel import worker_count

MIB = 1 << 20


def text_of(chars: int) -> str:
    base = real_text()
    return (base * (chars // len(base) + 1))[:chars]


def timed(fn: Callable[..., int], *args: object) -> tuple[int, float]:
    start = time.perf_counter()
    n = fn(*args)
    return n, time.perf_counter() - start


def one_core(family: str) -> None:
    fast = load(family)
    if fast is None:
        sys.exit("the compiled Claude counter is not available")
    text = text_of(MIB)
    fast.framed_count(text[:1000])  # the vocabulary loads before the clock starts
    ctok.token_count("x", CTOK_VERSIONS[family])
    cut = ClaudeBackend(family).cut_tokens

    def compiled() -> int:
        parts = [fast.framed_count(p) for p in pieces(text)]
        return sum(parts) - (len(parts) - 1) * cut

    want, t_ctok = timed(ctok.token_count, text, CTOK_VERSIONS[family])
    got, t_fast = timed(compiled)
    assert got == want, (got, want)
    print(f"1 MiB, one core: ctok {MIB / t_ctok / MIB:.3f} MiB/s, compiled {MIB / t_fast / MIB:.2f} MiB/s, "
          f"ratio {t_ctok / t_fast:.1f}x")


def both_cores(family: str) -> None:
    text = text_of(64 * MIB)
    backend = ClaudeBackend(family, include_frame=True, compiled=True)
    fast = load(family)
    assert fast is not None
    cut = backend.cut_tokens

    def serial() -> int:
        parts = [fast.framed_count(p) for p in pieces(text)]
        return sum(parts) - (len(parts) - 1) * cut

    one, t_one = timed(serial)
    both, t_both = timed(backend.count, text)
    assert one == both, (one, both)
    print(f"64 MiB: one core {64 / t_one:.2f} MiB/s, {worker_count()} threads {64 / t_both:.2f} MiB/s, "
          f"speed-up {t_one / t_both:.2f}x")


def cli_peak(big_mb: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big.md"
        data = text_of(big_mb * 10**6).encode()[: big_mb * 10**6].decode("utf-8", "ignore")
        path.write_text(data, encoding="utf-8")
        del data
        cmd = [str(ROOT / ".venv" / "bin" / "ctxbudget"), "count", str(path), "-m", "claude", "--no-cache"]
        start = time.perf_counter()
        done = subprocess.run(cmd, capture_output=True, text=True, check=True)
        wall = time.perf_counter() - start
    peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"ctxbudget count {big_mb} MB -m claude --no-cache: {wall:.1f} s, peak RSS {peak_mib:.0f} MiB")
    print(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--family", default="4.7", choices=sorted(CTOK_VERSIONS))
    parser.add_argument("--big-mb", type=int, default=100)
    parser.add_argument("--skip-cli", action="store_true")
    args = parser.parse_args()
    one_core(args.family)
    both_cores(args.family)
    if not args.skip_cli:
        cli_peak(args.big_mb)


if __name__ == "__main__":
    main()
