"""Fake count-tokens APIs on 127.0.0.1: real HTTP servers that answer like Anthropic, Gemini and OpenAI.

A server counts one token per whitespace-separated word of the message, plus ``frame`` tokens for the
message frame, checks the provider's auth header against ``key``, and logs every request (time, path,
headers, body). ``script`` holds the answers to give first, one per request: a status with headers and a
body in the provider's error shape, a delay (slower than the client's timeout), or a body that is not JSON.
Once the script is used up every request is answered normally after ``latency`` seconds.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

KEYS = {"anthropic": "sk-ant-test-SECRET-0123456789", "gemini": "AIza-test-SECRET-0123456789",
        "openai": "sk-proj-test-SECRET-0123456789"}
ENV = {"anthropic": ("ANTHROPIC_API_KEY", "CTXBUDGET_ANTHROPIC_BASE_URL"),
       "gemini": ("GEMINI_API_KEY", "CTXBUDGET_GEMINI_BASE_URL"),
       "openai": ("OPENAI_API_KEY", "CTXBUDGET_OPENAI_BASE_URL")}
MODELS = {"anthropic": "claude-sonnet-4-5", "gemini": "gemini-2.5-pro", "openai": "gpt-4o"}
FRAMES = {"anthropic": 7, "gemini": 0, "openai": 4}


@dataclass
class Reply:
    """One scripted answer: ``status`` with ``headers``; ``message`` in the provider's error body, or ``raw``
    bytes as the body; ``delay`` seconds before answering."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    message: str = "scripted error"
    raw: bytes | None = None
    delay: float = 0.0


@dataclass
class Logged:
    at: float
    path: str
    headers: dict[str, str]
    body: Any

    @property
    def text(self) -> str:
        """The message text the request counts."""
        body = self.body
        if "messages" in body:
            return str(body["messages"][0]["content"])
        if "contents" in body:
            return str(body["contents"][0]["parts"][0]["text"])
        return str(body["input"])


class FakeProvider:
    def __init__(self, provider: str, *, latency: float = 0.0, script: list[Reply] | None = None) -> None:
        self.provider = provider
        self.key = KEYS[provider]
        self.frame = FRAMES[provider]
        self.latency = latency
        self.script = list(script or [])
        self.log: list[Logged] = []
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.server.request_queue_size = 128
        self.url = f"http://127.0.0.1:{self.server.server_port}"

    # --- what the provider answers ---------------------------------------------------------------------
    def tokens(self, text: str) -> int:
        return len(text.split()) + self.frame

    def _authorised(self, headers: dict[str, str]) -> bool:
        if self.provider == "anthropic":
            return headers.get("x-api-key") == self.key and headers.get("anthropic-version") == "2023-06-01"
        if self.provider == "gemini":
            return headers.get("x-goog-api-key") == self.key
        return headers.get("authorization") == f"Bearer {self.key}"

    def _ok(self, text: str) -> dict[str, Any]:
        n = self.tokens(text)
        if self.provider == "gemini":
            return {"totalTokens": n, "promptTokensDetails": [{"modality": "TEXT", "tokenCount": n}]}
        if self.provider == "openai":
            return {"object": "response.input_tokens", "input_tokens": n}
        return {"input_tokens": n}

    def _error(self, status: int, message: str) -> dict[str, Any]:
        if self.provider == "gemini":
            names = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
                     429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}
            return {"error": {"code": status, "message": message, "status": names.get(status, "UNKNOWN")}}
        if self.provider == "openai":
            return {"error": {"message": message, "type": "invalid_request_error", "code": None}}
        types = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
                 404: "not_found_error", 429: "rate_limit_error", 500: "api_error", 529: "overloaded_error"}
        return {"type": "error", "error": {"type": types.get(status, "api_error"), "message": message},
                "request_id": "req_test"}

    def _answer(self, entry: Logged) -> tuple[int, dict[str, str], bytes, float]:
        with self._lock:
            self.log.append(entry)
            reply = self.script.pop(0) if self.script else None
        if reply is None:
            if not self._authorised(entry.headers):
                return 401, {}, json.dumps(self._error(401, "invalid x-api-key")).encode(), self.latency
            return 200, {}, json.dumps(self._ok(entry.text)).encode(), self.latency
        if reply.raw is not None:
            body = reply.raw
        elif reply.status == 200:
            body = json.dumps(self._ok(entry.text)).encode()
        else:
            body = json.dumps(self._error(reply.status, reply.message)).encode()
        return reply.status, reply.headers, body, reply.delay

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as the real APIs
            disable_nagle_algorithm = True  # headers and body go out in two writes: no delayed-ACK stall

            def do_GET(self) -> None:
                payload = json.dumps(fake.texts()).encode()
                self.send_response(200 if self.path == "/log" else 404)
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                body = json.loads(self.rfile.read(length) or b"{}")
                headers = {k.lower(): v for k, v in self.headers.items()}
                status, extra, payload, delay = fake._answer(Logged(time.monotonic(), self.path, headers, body))
                if delay:
                    time.sleep(delay)
                try:
                    self.send_response(status)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(payload)))
                    for name, value in extra.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:  # the client gave up waiting (a timeout test)
                    pass

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler

    # --- the log ----------------------------------------------------------------------------------------
    def texts(self) -> list[str]:
        with self._lock:
            return [entry.text for entry in self.log]

    def requests_for(self, text: str) -> list[Logged]:
        with self._lock:
            return [entry for entry in self.log if entry.text == text]


@contextmanager
def serving(provider: str, **kwargs: Any) -> Iterator[FakeProvider]:
    fake = FakeProvider(provider, **kwargs)
    thread = threading.Thread(target=fake.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        fake.server.shutdown()
        fake.server.server_close()
        thread.join(5)


def main() -> None:
    """``python tests/remote_servers.py PROVIDER LATENCY``: a server in its own process (its own GIL), for the
    timing test; prints its URL, then serves until stdin closes. ``GET /log`` gives the texts requested."""
    import sys

    fake = FakeProvider(sys.argv[1], latency=float(sys.argv[2]))
    threading.Thread(target=fake.server.serve_forever, daemon=True).start()
    print(fake.url, flush=True)
    sys.stdin.read()


if __name__ == "__main__":
    main()
