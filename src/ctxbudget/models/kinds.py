"""How a count is obtained: the tokenizer type and the provenance kind every count carries."""

from __future__ import annotations

from enum import Enum

#: Provenance kinds: a tokenizer the provider publishes, a reconstruction of one, or a calibrated estimate.
EXACT = "exact"
RECONSTRUCTED = "reconstructed"
ESTIMATE = "estimate"
#: A count from the provider's count-tokens API (``ctxbudget.remote``), the message frame taken off.
EXACT_API = "exact (api)"
#: Appended to the offline kind when a count meant for the API was made offline because the API failed.
API_FAILED = " (api failed)"
_OFFLINE_KINDS = (EXACT, RECONSTRUCTED, ESTIMATE)


def is_kind(value: object) -> bool:
    """Whether ``value`` is a provenance kind: an offline kind, ``EXACT_API``, or an offline kind marked
    ``API_FAILED``."""
    if not isinstance(value, str):
        return False
    return value in _OFFLINE_KINDS or value == EXACT_API or value.removesuffix(API_FAILED) in _OFFLINE_KINDS


class TokenizerType(str, Enum):
    TIKTOKEN = "tiktoken"
    TRANSFORMERS = "transformers"
    ESTIMATION = "estimation"
    CLAUDE = "claude"
    API = "api"
