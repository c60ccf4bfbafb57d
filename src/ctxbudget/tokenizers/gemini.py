"""Gemini counts: a labelled estimate from o200k, or a local SentencePiece model when one is available.

No installable package ships Google's Gemini tokenizer (google-genai downloads it at run time), so the
default is a calibrated estimate: the o200k_base count x 1.13 for text outside CJK scripts and x 0.84 for CJK,
blended by the share of CJK characters and rounded up (budgets prefer to over-count). A SentencePiece model
is used when configured (``CTXBUDGET_GEMINI_MODEL`` or ``configure``) or found in google-genai's cache; its
counts are labelled ``exact`` only when the file's SHA-256 is Google's published Gemini/Gemma model.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import TokenizerLoadError
from .base import ESTIMATE, EXACT, TokenizerType
from .estimate import ScaledBackend
from .openai import OpenAIBackend

NON_CJK_FACTOR = 1.13
CJK_FACTOR = 0.84

#: SHA-256 digests of Google's own tokenizer models (the file google-genai caches for Gemini/Gemma).
GOOGLE_MODEL_SHA256 = frozenset({"1299c11d7cf632ef3b4e11937501358ada021bbdf7c47638d13c0ee982f2e79c"})

ENV_MODEL = "CTXBUDGET_GEMINI_MODEL"

_CJK = re.compile(
    "[\u1100-\u11ff\u2e80-\u2fdf\u3000-\u30ff\u3100-\u31ff\u3200-\u4dbf\u4e00-\u9fff\ua960-\ua97f"
    "\uac00-\ud7ff\uf900-\ufaff\uff00-\uffef\U00020000-\U0003ffff]"
)
_SPACE = re.compile(r"\s")


def cjk_share(text: str) -> float:
    """Share of CJK characters (Hangul, kana, Han, CJK symbols, full-width forms) among the non-whitespace
    characters of ``text``."""
    letters = len(text) - len(_SPACE.findall(text))
    return len(_CJK.findall(text)) / letters if letters else 0.0


def calibrated_estimate(o200k_count: int, text: str) -> int:
    share = cjk_share(text) if not text.isascii() else 0.0
    factor = CJK_FACTOR * share + NON_CJK_FACTOR * (1.0 - share)
    return max(1, math.ceil(o200k_count * factor - 1e-9))


def gemini_estimate_backend(o200k: OpenAIBackend) -> ScaledBackend:
    """o200k-calibrated Gemini estimate (kind ``estimate``)."""
    return ScaledBackend(
        o200k, calibrated_estimate, f"gemini-estimate:o200k*{NON_CJK_FACTOR}/{CJK_FACTOR}@{o200k.tokenizer_id}"
    )


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class SentencePieceBackend:
    """Counts with a local SentencePiece model; ``exact`` only for Google's own model file."""

    tokenizer_type = TokenizerType.TRANSFORMERS
    cacheable = True

    def __init__(self, model_path: str | os.PathLike[str]) -> None:
        path = Path(model_path)
        try:
            import sentencepiece
        except ImportError as exc:
            raise TokenizerLoadError(
                "sentencepiece library not available (local Gemini models need it): "
                "pip install 'ctxbudget[gemini]'"
            ) from exc
        if not path.is_file():
            raise TokenizerLoadError(f"Gemini tokenizer model not found: {path}")
        self.sha256 = file_sha256(path)
        try:
            self._sp: Any = sentencepiece.SentencePieceProcessor(model_file=str(path))
        except Exception as exc:
            raise TokenizerLoadError(f"Not a SentencePiece model: {path}: {exc}") from exc
        self.exact = self.sha256 in GOOGLE_MODEL_SHA256
        self.kind = EXACT if self.exact else ESTIMATE
        self.path = path
        self.tokenizer_id = f"sentencepiece:{path.name}@sha256:{self.sha256[:16]}"

    def count(self, text: str) -> int:
        # lone surrogates count as U+FFFD, as on every other path
        safe = text if text.isascii() else text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
        return max(1, len(self._sp.encode(safe)))

    def count_batch(self, texts: Sequence[str]) -> list[int]:
        return [self.count(t) for t in texts]


def find_local_model() -> Path | None:
    """The configured SentencePiece model, else Google's model from google-genai's cache (hash-verified)."""
    configured = os.environ.get(ENV_MODEL)
    if configured:
        return Path(configured)
    cache = Path(tempfile.gettempdir()) / "vertexai_tokenizer_model"
    if cache.is_dir():
        for candidate in sorted(cache.iterdir()):
            if candidate.is_file() and file_sha256(candidate) in GOOGLE_MODEL_SHA256:
                return candidate
    return None
