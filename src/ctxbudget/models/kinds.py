"""How a count is obtained: the tokenizer type and the provenance kind every count carries."""

from __future__ import annotations

from enum import Enum

#: Provenance kinds: a tokenizer the provider publishes, a reconstruction of one, or a calibrated estimate.
EXACT = "exact"
RECONSTRUCTED = "reconstructed"
ESTIMATE = "estimate"


class TokenizerType(str, Enum):
    TIKTOKEN = "tiktoken"
    TRANSFORMERS = "transformers"
    ESTIMATION = "estimation"
    CLAUDE = "claude"
