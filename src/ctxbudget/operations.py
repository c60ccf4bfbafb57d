"""The kinds of operation budgets and usage are kept for (``context_injection``, ``user_query`` ...)."""

from __future__ import annotations

from enum import Enum


class OperationType(str, Enum):
    CONTEXT_INJECTION = "context_injection"
    USER_QUERY = "user_query"
    RULE_RETRIEVAL = "rule_retrieval"
    FORMATTING = "formatting"
    COMPRESSION = "compression"
    SEARCH = "search"
    BATCH_PROCESSING = "batch_processing"
    OTHER = "other"


def operation_type_of(value: OperationType | str) -> OperationType:
    """``value`` as an ``OperationType`` (member or value string), else ``ValueError``."""
    if isinstance(value, OperationType):
        return value
    try:
        return OperationType(value)
    except ValueError:
        raise ValueError(f"unknown operation type: {value!r}") from None
