"""Anthropic's ``POST /v1/messages/count_tokens`` (platform docs: "Token counting", API reference "Count
Message tokens").

Request: headers ``x-api-key`` and ``anthropic-version: 2023-06-01``, body ``{"model", "messages": [one user
message holding the text]}``. Answer: ``{"input_tokens": N}``, the whole message with its frame. Errors:
``{"type": "error", "error": {"type", "message"}}``; 429 ``rate_limit_error`` names a ``retry-after``, 529 is
``overloaded_error``.
"""

from __future__ import annotations

from typing import Any

from ..models.claude_ids import ClaudeModel, lookup_claude_model
from .http import Endpoint, count_field

VERSION = "2023-06-01"


def _path(model: str) -> str:
    return "/v1/messages/count_tokens"


def _auth(key: str) -> dict[str, str]:
    return {"x-api-key": key, "anthropic-version": VERSION}


def _body(model: str, text: str) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": text}]}


def _count(data: Any) -> int:
    return count_field(data, "input_tokens")


def _model_id(canonical: str) -> str:
    """The API's id: ``claude-default`` (the registry's newest generation) is not one, so it is sent as the
    newest model the registry names by id."""
    if canonical != ClaudeModel.DEFAULT.model_id:
        return canonical
    version = ClaudeModel.DEFAULT.version
    member = lookup_claude_model(f"claude-{version.family}-{version.major}-{version.minor}")
    return member.model_id if member is not None else canonical


ENDPOINT = Endpoint("anthropic", ("ANTHROPIC_API_KEY",), "CTXBUDGET_ANTHROPIC_BASE_URL", "https://api.anthropic.com",
                    _path, _auth, _body, _count, _model_id)
