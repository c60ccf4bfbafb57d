"""Google's ``POST /v1beta/models/{model}:countTokens`` for the Gemini API (ai.google.dev API reference
"Counting tokens", ``models.countTokens``).

Request: header ``x-goog-api-key``, body ``{"contents": [one user Content whose one part holds the text]}``.
Answer: ``{"totalTokens": N, ...}``. Errors: ``{"error": {"code", "message", "status"}}``; a quota error is
429 ``RESOURCE_EXHAUSTED``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from .http import Endpoint, count_field


def _path(model: str) -> str:
    return f"/v1beta/models/{quote(model.removeprefix('models/'), safe='.-_')}:countTokens"


def _auth(key: str) -> dict[str, str]:
    return {"x-goog-api-key": key}  # a header, not ?key=: URLs end up in logs


def _body(model: str, text: str) -> dict[str, Any]:
    return {"contents": [{"role": "user", "parts": [{"text": text}]}]}


def _count(data: Any) -> int:
    return count_field(data, "totalTokens")


ENDPOINT = Endpoint("gemini", ("GEMINI_API_KEY", "GOOGLE_API_KEY"), "CTXBUDGET_GEMINI_BASE_URL",
                    "https://generativelanguage.googleapis.com", _path, _auth, _body, _count,
                    error_label="status")
