"""``ctxbudget count`` through the real entry point: --sort, --top, counting on every core in walk order, and
the progress bar (a pseudo-terminal only)."""

from __future__ import annotations

import json
import os
import pty
import random
import select
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import tiktoken

from ctxbudget.tokenizers.openai import build_encoding

ROOT = Path(__file__).resolve().parent.parent
ENC: tiktoken.Encoding = build_encoding("o200k_base")


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ctxbudget", "count", *args], capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=300)


def direct(path: Path) -> int:
    return len(ENC.encode_ordinary(path.read_text(encoding="utf-8"))) or 1


def make_tree(root: Path, files: int = 40, seed: int = 1) -> list[Path]:
    """Files of this repository's source text at random places and sizes, nested, some over a MiB."""
    rng = random.Random(seed)
    source = "\n".join(p.read_text(encoding="utf-8") for p in sorted((ROOT / "src" / "ctxbudget").rglob("*.py")))
    paths = []
    for i in range(files):
        size = rng.choice([rng.randint(50, 3000), rng.randint(3000, 300_000)]) if i % 13 else (1 << 20) + i
        start = rng.randrange(len(source))
        text = (source[start:] + source)[:size] if size < len(source) else (source * (size // len(source) + 1))[:size]
        path = root / f"d{i % 3}" / f"s{i % 5}" / f"f{i:03d}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        paths.append(path)
    return paths


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, int]]:
    root = tmp_path_factory.mktemp("tree")
    return root, {str(p): direct(p) for p in make_tree(root)}


def walk_order(root: Path) -> list[str]:
    """What the walk gives: sorted names per directory, depth first."""
    out: list[str] = []
    for entry in sorted(root.iterdir(), key=lambda p: p.name):
        out.extend(walk_order(entry) if entry.is_dir() else [str(entry)])
    return out


def test_parallel_counts_equal_tiktoken_per_file_in_walk_order(tree: tuple[Path, dict[str, int]]) -> None:
    root, expected = tree
    result = cli(str(root), "-m", "gpt-4o", "--json", "--no-cache")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    data = json.loads(result.stdout)
    assert [f["path"] for f in data["files"]] == walk_order(root)
    assert {f["path"]: f["counts"]["gpt-4o"] for f in data["files"]} == expected
    assert data["total"] == {"gpt-4o": sum(expected.values())}
    assert set(data) == {"models", "files", "total", "max_tokens", "over_limit"}  # no --top: the old schema


def test_a_run_past_the_accelerator_threshold_counts_the_same(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    # the read-ahead decides to load the accelerator (when installed) from 16 MiB on; cl100k so that the
    # verified parity of both encodings is exercised, not only o200k's
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    paths = []
    for i in range(9):
        path = tmp_path / f"part{i}.md"
        path.write_text((text * (2_000_000 // len(text) + 1))[i:2_000_000], encoding="utf-8")
        paths.append(path)
    result = cli(str(tmp_path), "-m", "gpt-4", "--json", "--no-cache")
    assert result.returncode == 0, result.stderr
    cl100k = build_encoding("cl100k_base")
    counts = {f["path"]: f["counts"]["gpt-4"] for f in json.loads(result.stdout)["files"]}
    assert counts == {str(p): len(cl100k.encode_ordinary(p.read_text(encoding="utf-8"))) for p in paths}


def test_sort_tokens_and_path(tree: tuple[Path, dict[str, int]]) -> None:
    root, expected = tree
    data = json.loads(cli(str(root), "-m", "gpt-4o", "-m", "claude", "--estimate", "--json", "--sort", "tokens",
                          "--no-cache").stdout)
    firsts = [f["counts"]["gpt-4o"] for f in data["files"]]
    assert firsts == sorted(firsts, reverse=True) and len(firsts) == len(expected)
    data = json.loads(cli(str(root), "-m", "gpt-4o", "--json", "--sort", "path", "--no-cache").stdout)
    assert [f["path"] for f in data["files"]] == sorted(expected)
    assert {f["path"]: f["counts"]["gpt-4o"] for f in data["files"]} == expected


def test_top_json_keeps_the_total_of_all_files(tree: tuple[Path, dict[str, int]]) -> None:
    root, expected = tree
    result = cli(str(root), "-m", "gpt-4o", "--json", "--top", "5", "--no-cache")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    # ties (slices of this repository's sources can count the same) keep the walk's order
    largest = sorted(((p, expected[p]) for p in walk_order(root)), key=lambda kv: -kv[1])[:5]
    assert [(f["path"], f["counts"]["gpt-4o"]) for f in data["files"]] == largest
    assert data["total"] == {"gpt-4o": sum(expected.values())}
    assert (data["top"], data["files_counted"], data["omitted"]) == (5, len(expected), len(expected) - 5)
    assert data["omitted_total"] == {"gpt-4o": sum(expected.values()) - sum(n for _, n in largest)}


def test_top_table_says_how_many_more(tree: tuple[Path, dict[str, int]]) -> None:
    root, expected = tree
    result = cli(str(root), "-m", "gpt-4o", "--top", "3", "--sort", "path", "--no-cache")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    largest = sorted(sorted(expected.items(), key=lambda kv: -kv[1])[:3])  # the 3 largest, by path
    assert [ln.split()[0] for ln in lines[2:5]] == [p for p, _ in largest]
    assert [int(ln.split()[-1].replace(",", "")) for ln in lines[2:5]] == [n for _, n in largest]
    more = len(expected) - 3
    assert lines[5].split()[:4] == ["…", "and", str(more), "more"]
    assert lines[6].split() == ["total", f"{sum(expected.values()):,}"]


def test_top_zero_and_negative(tree: tuple[Path, dict[str, int]]) -> None:
    root, expected = tree
    data = json.loads(cli(str(root), "-m", "gpt-4o", "--json", "--top", "0", "--no-cache").stdout)
    assert data["files"] == [] and data["total"] == {"gpt-4o": sum(expected.values())}
    result = cli(str(root), "--top", "-1")
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == "ctxbudget: error: --top must be >= 0\n"
    assert cli(str(root), "--sort", "size").returncode == 2


def test_max_tokens_is_over_every_file_not_the_shown_ones(tree: tuple[Path, dict[str, int]]) -> None:
    root, expected = tree
    largest, n = max(expected.items(), key=lambda kv: kv[1])
    result = cli(str(root), "-m", "gpt-4o", "--top", "0", "--max-tokens", str(n - 1), "--no-cache")
    assert result.returncode == 1
    assert f"{largest} is {n:,} tokens" in result.stderr  # a file the table left out
    result = cli(str(root), "-m", "gpt-4o", "--top", "1", "--max-tokens", str(n), "--no-cache")
    assert result.returncode == 1 and "the total is" in result.stderr


def read_pty(fd: int, proc: subprocess.Popen[bytes], timeout: float = 120) -> bytes:
    out = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            out += chunk
        elif proc.poll() is not None:
            break
    return out


def test_progress_bar_on_a_terminal_and_stdout_still_clean(tmp_path: Path) -> None:
    # ctok itself (CTXBUDGET_PURE=1; the compiled Claude counter is ~50x faster) counts ~0.2 MB/s: these files
    # take seconds, past the bar's delay
    paths = make_tree(tmp_path, files=12, seed=3)
    expected = {str(p): p.stat().st_size for p in paths}
    main, child = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "ctxbudget", "count", str(tmp_path), "-m", "claude", "--json",
                             "--no-cache"], stdout=subprocess.PIPE, stderr=child, cwd=ROOT,
                            env={**os.environ, "CTXBUDGET_PURE": "1"})
    os.close(child)
    # stdout is read on a thread while the terminal is drained here: the bar redraws for seconds, and a child
    # blocked writing to a full terminal never gets to write its stdout
    stdout_chunks: list[bytes] = []
    reader = threading.Thread(target=lambda: stdout_chunks.append(proc.stdout.read() if proc.stdout else b""))
    reader.start()
    terminal = read_pty(main, proc)
    os.close(main)
    reader.join(timeout=60)
    stdout = b"".join(stdout_chunks)
    assert proc.wait(timeout=60) == 0
    assert b"files" in terminal and b"counting" in terminal, terminal[-500:]
    assert b"\x1b[" in terminal  # drawn (and cleared) with terminal control sequences
    data = json.loads(stdout)
    assert [f["path"] for f in data["files"]] == walk_order(tmp_path)
    assert len(data["files"]) == len(expected)


def test_no_progress_and_nothing_on_stderr_when_piped(tmp_path: Path) -> None:
    make_tree(tmp_path, files=12, seed=3)
    result = cli(str(tmp_path), "-m", "claude", "--no-cache")
    assert result.returncode == 0
    assert result.stderr == ""
    assert "total" in result.stdout
