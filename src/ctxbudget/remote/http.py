"""One count-tokens request: the POST, its timeout, and its retries.

A try that gets 408, 409, 429 or any 5xx (529 "overloaded" included), or no answer within the timeout, or a
connection error, is tried again: after ``retry-after-ms`` / ``Retry-After`` (seconds or an HTTP date) when
the answer names one, else after an exponential backoff with jitter (``backoff`` x 2^n, at most
``max_backoff``, less up to a quarter at random, so that many clients told to wait do not come back at
once). Anthropic's ``x-should-retry`` header overrides the status either way. Any other status (400, 401,
403, 404, 413 ...) is final. After the last try, or a Retry-After longer than ``max_retry_after``, one
``RemoteCountError`` names the provider, the status and the provider's own message. A 2xx answer that is
not the documented JSON is final too: a proxy's HTML page does not change by asking again.

httpx is imported here, in the functions that send, so a run whose counts all come from the cache never
loads it.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import RemoteCountError
from .settings import RemoteSettings, Secret

if TYPE_CHECKING:
    import httpx

log = logging.getLogger("ctxbudget.remote")

#: statuses tried again (others are final)
RETRY_STATUSES = frozenset({408, 409, 429})
#: characters of a provider's error message kept in ours
MESSAGE_CHARS = 300


@dataclass(frozen=True)
class Endpoint:
    """A provider's count-tokens API: where it is, how it authenticates, its request and response shapes."""

    provider: str
    key_vars: tuple[str, ...]
    base_url_var: str
    default_base_url: str
    #: the path after the base URL for an API model id
    path: Callable[[str], str]
    #: the authentication headers for a key
    auth: Callable[[str], dict[str, str]]
    #: the JSON body that counts one user message holding the text
    body: Callable[[str, str], dict[str, Any]]
    #: the count in a 2xx answer's JSON; ValueError when it is not the documented shape
    count: Callable[[Any], int]
    #: the model id the API takes for a registry canonical id
    model_id: Callable[[str], str] = str
    #: the field of the error body that names the kind of error (``error_text``)
    error_label: str = "type"


def count_field(data: Any, name: str) -> int:
    """The non-negative integer ``data[name]`` of an answer; ValueError when there is none."""
    n = data.get(name) if isinstance(data, dict) else None
    if not isinstance(n, int) or isinstance(n, bool) or n < 0:
        raise ValueError(f"no integer {name} in the answer")
    return n


def error_text(data: Any, label_key: str) -> str:
    """``"<label>: <message>"`` from the ``{"error": {label_key: ..., "message": ...}}`` body all three
    providers send (Google's status, Anthropic's and OpenAI's type), or "" for another body."""
    error = data.get("error") if isinstance(data, dict) else None
    if not isinstance(error, dict):
        return ""
    message = str(error.get("message") or "").strip()
    label = str(error.get(label_key) or "").strip()
    return f"{label}: {message}" if label and message else label or message


def _provider_message(endpoint: Endpoint, response: httpx.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        data = None
    text = error_text(data, endpoint.error_label)
    if not text:
        text = response.reason_phrase or "no error message"
    return text[:MESSAGE_CHARS]


def retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds the answer asks to wait: ``retry-after-ms``, else ``Retry-After`` in seconds or as an HTTP date;
    None when it names none (or nothing readable)."""
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def should_retry(status: int, headers: Mapping[str, str]) -> bool:
    verdict = headers.get("x-should-retry", "").strip().lower()
    if verdict in ("true", "false"):
        return verdict == "true"
    return status in RETRY_STATUSES or status >= 500


def backoff(retry: int, settings: RemoteSettings) -> float:
    """The wait before retry number ``retry`` (1 for the first) when the answer names none."""
    delay = min(settings.max_backoff, settings.backoff * 2.0 ** (retry - 1))
    return delay * (1 - 0.25 * random.random())


def _scrub(message: str, key: Secret) -> str:
    # a proxy that echoes the request back must not carry the key into our error
    secret = key.reveal()
    return message.replace(secret, "***") if secret else message


async def post_count(client: httpx.AsyncClient, endpoint: Endpoint, url: str, key: Secret, body: dict[str, Any],
                     settings: RemoteSettings) -> int:
    """The count for one request body, after as many tries as ``settings`` allow (module docstring)."""
    import httpx

    tries = settings.max_retries + 1
    headers = {**endpoint.auth(key.reveal()), "content-type": "application/json"}
    attempt = 0
    while True:
        attempt += 1
        wait: float | None = None
        try:
            response = await client.post(url, headers=headers, json=body, timeout=settings.timeout)
        except httpx.TimeoutException:
            status, message = None, f"no answer within {settings.timeout:g} s"
        except httpx.TransportError as exc:
            status, message = None, f"{type(exc).__name__}: {exc}"
        else:
            if response.is_success:
                return _count(endpoint, response, key)
            status, message = response.status_code, _scrub(_provider_message(endpoint, response), key)
            if not should_retry(status, response.headers):
                raise RemoteCountError(endpoint.provider, message, status=status, tries=attempt)
            wait = retry_after(response.headers)
            if wait is not None and wait > settings.max_retry_after:
                raise RemoteCountError(endpoint.provider, f"{message}; asked to retry after {wait:g} s",
                                       status=status, tries=attempt)
        if attempt == tries:
            raise RemoteCountError(endpoint.provider, _scrub(message, key), status=status, tries=attempt)
        delay = wait if wait is not None else backoff(attempt, settings)
        log.info("ctxbudget: %s count-tokens API: %s%s; try %d of %d in %.2f s", endpoint.provider,
                 f"HTTP {status}: " if status else "", _scrub(message, key), attempt + 1, tries, delay)
        await asyncio.sleep(delay)


def _count(endpoint: Endpoint, response: httpx.Response, key: Secret) -> int:
    try:
        return endpoint.count(response.json())
    except ValueError as exc:  # json.JSONDecodeError is one too
        raise RemoteCountError(endpoint.provider, _scrub(f"malformed answer: {exc}", key)[:MESSAGE_CHARS],
                               status=response.status_code) from None
