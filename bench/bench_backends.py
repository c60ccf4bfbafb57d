"""Throughput of every counting backend on ~1 MiB of mixed text, against raw tiktoken ``encode_ordinary``.

Run:  .venv/bin/python bench/bench_backends.py [--corpus mixed|hard|both] [--repeats 5] [--claude-repeats 3] [--json]

Corpora (each exactly ``--chars`` characters, default 1 MiB = 1,048,576):
  mixed  generated with random.Random(0): English prose, Python code, JSON, Chinese/Japanese, emoji, Cyrillic.
  hard   tests/corpus.py ``hard_corpus()`` joined by '\\n', repeated and cut to size (many scripts, long runs,
         lone surrogates, random code points: the tokenizer torture test, not typical input).

Every backend is called once untimed first (vocabulary load, ctok's per-character cache), then timed:
the median of ``--repeats`` runs (``--claude-repeats`` for the pure-Python Claude backends). Fast backends
are looped inside one run until it lasts ``--min-run`` seconds. The load average (as ``uptime`` prints it)
is recorded before and after each row, because other work on the machine skews the figures.

Note: ``OpenAIBackend.count`` only splits a text and counts the pieces on the thread pool when
``len(text) > 1 << 20``; a text of exactly 1 MiB characters is counted in one call on one thread.
The ``split`` rows therefore use a text twice as long to show that path.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ctxbudget import TokenizerFactory
from ctxbudget.tokenizers import accelerator
from ctxbudget.tokenizers.estimate import CHARS4, WORDS13
from ctxbudget.tokenizers.openai import SPLIT_CHARS

MIB = 1 << 20

# --- corpora -----------------------------------------------------------------------------------------------

EN_WORDS = (
    "the of and to in is for with on that this be are as at by an or from it not we you can token budget context"
    " model rule memory agent cache window prompt request answer system user file line test build release"
    " small large quickly carefully because although however therefore every each some many few other"
).split()
RU_WORDS = (
    "и в не на что он с как это по но она к из у за мы вы так же от бюджет токен контекст модель правило"
    " память запрос ответ система файл строка тест сборка быстро медленно потому однако каждый"
).split()
ZH = "的一是不了人我在有他这中大来上国个到说们为子和你地出道也时年模型上下文令牌预算规则内存缓存请求回答系统文件"
JA = "これはテストですトークンの数を数えます日本語東京漢字学校先生ひらがなカタカナ"
EMOJI = ["😀", "😂", "👍", "🔥", "✨", "🎉", "❤️", "🚀", "🧠", "🐍", "✅", "❌", "👩\u200d💻", "🇺🇸", "👍🏽"]
IDENTS = "count tokens budget rule cache text model limit value item result index total size name".split()


def _prose(rng: random.Random) -> str:
    sentences = []
    for _ in range(rng.randint(3, 8)):
        words = [rng.choice(EN_WORDS) for _ in range(rng.randint(6, 20))]
        if rng.random() < 0.3:
            words.insert(rng.randrange(len(words)), rng.choice(EMOJI))
        if rng.random() < 0.2:
            words.insert(rng.randrange(len(words)), str(rng.randint(0, 99999)))
        sentences.append(" ".join(words).capitalize() + rng.choice([".", ".", ".", "!", "?"]))
    return " ".join(sentences)


def _cyrillic(rng: random.Random) -> str:
    sentences = []
    for _ in range(rng.randint(2, 6)):
        words = [rng.choice(RU_WORDS) for _ in range(rng.randint(5, 15))]
        sentences.append(" ".join(words).capitalize() + ".")
    return " ".join(sentences)


def _cjk(rng: random.Random) -> str:
    alphabet = ZH if rng.random() < 0.6 else JA
    out = []
    for _ in range(rng.randint(2, 6)):
        out.append("".join(rng.choice(alphabet) for _ in range(rng.randint(8, 40))))
        out.append(rng.choice(["。", "、", "！", "？", "，"]))
        if rng.random() < 0.2:
            out.append(rng.choice(EMOJI))
    return "".join(out)


def _code(rng: random.Random) -> str:
    name = "_".join(rng.choice(IDENTS) for _ in range(2))
    args = ", ".join(rng.sample(IDENTS, rng.randint(1, 3)))
    lines = [f"def {name}({args}):", f'    """{_prose(rng)[:70]}"""']
    for _ in range(rng.randint(2, 8)):
        a, b = rng.choice(IDENTS), rng.choice(IDENTS)
        lines.append(rng.choice([
            f"    {a} = {b} + {rng.randint(0, 1000)}",
            f"    if {a} > {b}:\n        return {a}",
            f"    for {a} in range(len({b})):\n        {b}[{a}] *= 2",
            f"    {a} = [x for x in {b} if x % {rng.randint(2, 9)} == 0]",
            f"    # {rng.choice(EN_WORDS)} {rng.choice(EN_WORDS)}",
        ]))
    lines.append(f"    return {rng.choice(IDENTS)}")
    return "\n".join(lines)


def _json(rng: random.Random) -> str:
    obj: dict[str, Any] = {
        "id": rng.randint(1, 10**9),
        "name": " ".join(rng.choice(EN_WORDS) for _ in range(3)),
        "tags": [rng.choice(IDENTS) for _ in range(rng.randint(1, 5))],
        "score": round(rng.random() * 100, 3),
        "active": rng.random() < 0.5,
        "title_ru": " ".join(rng.choice(RU_WORDS) for _ in range(3)),
        "title_zh": "".join(rng.choice(ZH) for _ in range(6)),
        "nested": {"limit": rng.randint(0, 200_000), "model": rng.choice(["gpt-4o", "claude", "gemini"])},
    }
    return json.dumps(obj, ensure_ascii=False, indent=rng.choice([None, 2]))


def mixed_text(chars: int, seed: int = 0) -> str:
    rng = random.Random(seed)
    makers = [(_prose, 40), (_code, 20), (_json, 15), (_cjk, 12), (_cyrillic, 13)]
    funcs = [f for f, _ in makers]
    weights = [w for _, w in makers]
    parts: list[str] = []
    size = 0
    while size < chars:
        block = rng.choices(funcs, weights)[0](rng)
        parts.append(block)
        size += len(block) + 2
    return "\n\n".join(parts)[:chars]


def hard_text(chars: int, seed: int = 0) -> str:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from corpus import hard_corpus

    joined = "\n".join(hard_corpus(seed))
    return ((joined + "\n") * (chars // (len(joined) + 1) + 1))[:chars]


# --- timing ------------------------------------------------------------------------------------------------


def loadavg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def time_call(fn: Callable[[], object], repeats: int, min_run: float) -> tuple[float, float, list[float], object]:
    """(first-call seconds, median seconds per call over ``repeats`` runs, the runs, the first result).

    The first call is a warm-up (loads, caches) and is not in the median; each run loops until it lasts
    ``min_run`` seconds.
    """
    start = time.perf_counter()
    result = fn()
    first = time.perf_counter() - start
    number = 1
    if first < min_run:
        number = max(1, int(min_run / max(first, 1e-7)))
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        runs.append((time.perf_counter() - start) / number)
    return first, statistics.median(runs), runs, result


def bench_corpus(label: str, text: str, args: argparse.Namespace) -> list[dict[str, Any]]:
    utf8_bytes = len(text.encode("utf-8", "surrogatepass"))
    rows: list[dict[str, Any]] = []
    print(f"\n## corpus {label}: {len(text):,} chars, {utf8_bytes:,} UTF-8 bytes, load avg {loadavg()}", flush=True)

    o200k = TokenizerFactory.get_openai_backend("o200k_base")
    cl100k = TokenizerFactory.get_openai_backend("cl100k_base")
    raw = {"o200k_base": o200k.encoding.encode_ordinary, "cl100k_base": cl100k.encoding.encode_ordinary}
    baseline: dict[str, float] = {}

    def add(name: str, backend_id: str, fn: Callable[[], object], repeats: int, base: str | None,
            sample: str = text) -> float:
        before = loadavg()
        first, median, runs, result = time_call(fn, repeats, args.min_run)
        tokens = result if isinstance(result, int) else len(result)  # type: ignore[arg-type]
        n_bytes = len(sample.encode("utf-8", "surrogatepass"))
        row = {
            "corpus": label, "name": name, "backend": backend_id, "chars": len(sample), "tokens": tokens,
            "first_s": first, "median_s": median, "runs_s": runs,
            "tokens_per_s": tokens / median, "mib_chars_per_s": len(sample) / MIB / median,
            "mib_utf8_per_s": n_bytes / MIB / median,
            "ratio_vs_raw": (median / baseline[base]) if base and base in baseline else None,
            "load_before": before, "load_after": loadavg(),
        }
        rows.append(row)
        ratio = f"{row['ratio_vs_raw']:.2f}x" if row["ratio_vs_raw"] is not None else "-"
        print(f"| {name:<40} | {tokens:>9,} | {median:>9.4f} | {row['tokens_per_s']:>13,.0f} "
              f"| {row['mib_chars_per_s']:>9.2f} | {row['mib_utf8_per_s']:>8.2f} | {ratio:>7} "
              f"| {first:>7.3f} | {before} -> {row['load_after']} |", flush=True)
        return median

    print("| backend                                  |    tokens |  median s |      tokens/s | MiB/s chr | MiB/s u8 "
          "|  vs raw | first s | load avg before -> after |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---|")
    reps = args.repeats
    for enc in ("o200k_base", "cl100k_base"):
        encode = raw[enc]
        baseline[enc] = add(f"raw tiktoken {enc} encode_ordinary", f"tiktoken {enc}", lambda e=encode: e(text),
                            reps, None)
    add("OpenAI o200k_base", o200k.tokenizer_id, lambda: o200k.count(text), reps, "o200k_base")
    add("OpenAI cl100k_base", cl100k.tokenizer_id, lambda: cl100k.count(text), reps, "cl100k_base")

    if not args.no_split:
        size = 2 * max(len(text), SPLIT_CHARS)
        big = ((text + "\n") * (size // (len(text) + 1) + 1))[:size]
        for enc, backend in (("o200k_base", o200k), ("cl100k_base", cl100k)):
            encode = raw[enc]
            key = f"{enc}-2x"
            baseline[key] = add(f"raw {enc} 2x text (1 thread)", f"tiktoken {enc}", lambda e=encode: e(big), reps,
                                None, big)
            add(f"OpenAI {enc} 2x text (split, pool)", backend.tokenizer_id, lambda b=backend: b.count(big),
                reps, key, big)
            raw_n, split_n = len(encode(big)), backend.count(big)
            if raw_n != split_n:
                print(f"!! split count {split_n} != raw count {raw_n} for {enc}")

    gemini = TokenizerFactory.get_gemini_backend()
    add("Gemini (get_gemini_backend)", gemini.tokenizer_id, lambda: gemini.count(text), reps, "o200k_base")
    for family in ("3", "4.7"):
        claude = TokenizerFactory.get_claude_backend(family)
        add(f"Claude {family} (ctok)", claude.tokenizer_id, lambda c=claude: c.count(text), args.claude_repeats,
            None)
    add("heuristic chars/4", CHARS4.tokenizer_id, lambda: CHARS4.count(text), reps, None)
    add("heuristic words*1.3", WORDS13.tokenizer_id, lambda: WORDS13.count(text), reps, None)

    raw_counts = {enc: len(raw[enc](text)) for enc in raw}
    for enc, backend in (("o200k_base", o200k), ("cl100k_base", cl100k)):
        if backend.count(text) != raw_counts[enc]:
            print(f"!! {enc} backend count differs from raw tiktoken")
        if backend.accelerate(wait=True):  # the verified toktok accelerator, loaded on purpose now
            add(f"OpenAI {enc} (accelerated)", backend.tokenizer_id, lambda b=backend: b.count(text), reps, enc)
            if backend.count(text) != raw_counts[enc]:
                print(f"!! {enc} accelerated count differs from raw tiktoken")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", choices=("mixed", "hard", "both"), default="both")
    parser.add_argument("--chars", type=int, default=MIB, help="text length in characters (default 1 MiB)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--claude-repeats", type=int, default=3)
    parser.add_argument("--min-run", type=float, default=0.2, help="loop fast calls until a run lasts this long")
    parser.add_argument("--no-split", action="store_true", help="skip the 2x-text parallel-split rows")
    parser.add_argument("--json", metavar="PATH", help="also write the rows as JSON to PATH")
    args = parser.parse_args()

    print(f"python {sys.version.split()[0]}, cpus {os.cpu_count()}, load avg at start {loadavg()}")
    # tiktoken rows first: no loading the accelerator behind the benchmark's back (it is timed in its own rows)
    accelerator.ACCELERATE_AFTER_CHARS = 1 << 62
    rows: list[dict[str, Any]] = []
    if args.corpus in ("mixed", "both"):
        rows += bench_corpus("mixed", mixed_text(args.chars), args)
    if args.corpus in ("hard", "both"):
        TokenizerFactory.clear_cache()  # fresh, unaccelerated backends for the tiktoken rows
        rows += bench_corpus("hard", hard_text(args.chars), args)
    print(f"\nload avg at end {loadavg()}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
