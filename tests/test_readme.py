"""Every Python snippet of the README runs verbatim, from the repository root, in a fresh interpreter."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SNIPPETS = re.findall(r"^```python\n(.*?)^```$", (ROOT / "README.md").read_text(encoding="utf-8"), re.M | re.S)


def test_the_readme_has_snippets() -> None:
    assert len(SNIPPETS) >= 3


@pytest.mark.parametrize("code", SNIPPETS, ids=[f"snippet {i + 1}" for i in range(len(SNIPPETS))])
def test_readme_snippet_runs_verbatim(code: str) -> None:
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_the_documented_counter_example_is_what_it_says() -> None:
    from ctxbudget import Counter, TokenCountCache

    counter = Counter.for_model("gpt-4", TokenCountCache(maxsize=10_000, ttl=0))
    assert counter.count("hello world") == 2
    assert counter.count_batch(["a", "b", "a"]) == [1, 1, 1]
    assert counter.provenance()["tokenizer_id"].startswith("tiktoken:cl100k_base@")
