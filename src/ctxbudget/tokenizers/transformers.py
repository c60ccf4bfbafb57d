"""A local Hugging Face tokenizer as a backend (loaded by TokenizerFactory with ``local_files_only``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .base import EXACT, TokenizerType


class TransformersBackend:
    tokenizer_type = TokenizerType.TRANSFORMERS
    exact = True
    kind = EXACT
    cacheable = True

    def __init__(self, model_name: str, tokenizer: Any) -> None:
        self._tokenizer = tokenizer
        self.tokenizer_id = f"transformers:{model_name}"

    def count(self, text: str) -> int:
        return max(1, len(self._tokenizer.encode(text, add_special_tokens=False)))

    def count_batch(self, texts: Sequence[str]) -> list[int]:
        return [self.count(t) for t in texts]
