"""Benchmark texts: a word list, and real text — this repository's own prose and code.

``real_text()`` joins the README, docs/, the example instruction files and the package's source: English
prose, Markdown, YAML and Python, the mix an instruction file or a repository count sees. It changes only
with the repository, so a run is reproducible at a given commit.
"""

from __future__ import annotations

import random
from functools import lru_cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORDS = tuple(
    "token budget context model rule memory claude codex gemini agent cache the of and to in is"
    " for with on that this be are as at by an or from it not we you can"
    .split()
)


def word_text(rng: random.Random, chars: int) -> str:
    out: list[str] = []
    size = 0
    while size < chars:
        word = rng.choice(WORDS)
        out.append(word)
        size += len(word) + 1
    return " ".join(out)[:chars]


@lru_cache(maxsize=1)
def real_text() -> str:
    files = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), *sorted((ROOT / "examples").rglob("*.md")),
             ROOT / "examples" / "rules.yaml", *sorted((ROOT / "src" / "ctxbudget").rglob("*.py"))]
    return "\n\n".join(f.read_text(encoding="utf-8") for f in files if f.is_file())


def real_pieces(chars: int, n: int, seed: int = 0) -> list[str]:
    """``n`` distinct pieces of ``real_text()`` of exactly ``chars`` characters, starting at random places (none
    holding special-token text such as ``<|endoftext|>``, which the ``encode`` baseline would refuse)."""
    text = real_text()
    rng = random.Random(seed)
    seen: set[str] = set()
    pieces: list[str] = []
    while len(pieces) < n:
        start = rng.randrange(0, len(text) - chars)
        piece = text[start:start + chars]
        if piece not in seen and "<|" not in piece:  # tiktoken's encode() refuses special-token text
            seen.add(piece)
            pieces.append(piece)
    return pieces


def word_pieces(chars: int, n: int, seed: int = 0) -> list[str]:
    """``n`` distinct word-list texts of exactly ``chars`` characters."""
    rng = random.Random(seed)
    pieces = list(dict.fromkeys(word_text(rng, chars + 8)[-chars:] for _ in range(2 * n + 100)))
    assert len(pieces) >= n, "too few distinct texts"
    return pieces[:n]
