"""OpenAI's ``POST /v1/responses/input_tokens`` (API reference "Get input token counts", guide "Counting
tokens").

Request: ``Authorization: Bearer``, body ``{"model", "input": the text}`` (the ``responses.create`` input
format). Answer: ``{"object": "response.input_tokens", "input_tokens": N}``, which includes the formatting
tokens of the role and message boundaries. Errors: ``{"error": {"message", "type", "code"}}``.
"""

from __future__ import annotations

from typing import Any

from .http import Endpoint, count_field


def _path(model: str) -> str:
    return "/v1/responses/input_tokens"


def _auth(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


def _body(model: str, text: str) -> dict[str, Any]:
    return {"model": model, "input": text}


def _count(data: Any) -> int:
    return count_field(data, "input_tokens")


ENDPOINT = Endpoint("openai", ("OPENAI_API_KEY",), "CTXBUDGET_OPENAI_BASE_URL", "https://api.openai.com",
                    _path, _auth, _body, _count)
