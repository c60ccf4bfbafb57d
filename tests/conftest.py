"""Suite-wide fixtures: no network, a clean counter state for every test, helper backends."""

from __future__ import annotations

import random
import socket
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

from ctxbudget import TokenCounter, TokenizerFactory
from ctxbudget.counting import persistent
from ctxbudget.counting.routes import invalidate_routes
from ctxbudget.models.registry import reset_tools, set_claude_model
from ctxbudget.tokenizers.base import TokenizerType
from ctxbudget.tokenizers.factory import unregister_backend

CLAUDE_ENV = ("CLAUDE_MODEL", "ANTHROPIC_MODEL", "CLAUDE_CODE_MODEL", "HF_HUB_OFFLINE", "CTXBUDGET_GEMINI_MODEL",
              "CTXBUDGET_ACCELERATOR")


class _NoNetwork(OSError):
    pass


@pytest.fixture(autouse=True)
def _block_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail any connection that leaves the machine; loopback stays usable for local test servers."""
    real_connect = socket.socket.connect

    def guarded(self: socket.socket, address: object) -> None:
        host = address[0] if isinstance(address, tuple) else address
        if isinstance(host, str) and (host.startswith("127.") or host in ("localhost", "::1")):
            return real_connect(self, address)  # type: ignore[arg-type]
        if self.family == socket.AF_UNIX:
            return real_connect(self, address)  # type: ignore[arg-type]
        raise _NoNetwork(f"network access attempted in a test: {address!r}")

    monkeypatch.setattr(socket.socket, "connect", guarded)


@pytest.fixture(scope="session")
def _vocab_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(tmp_path_factory.mktemp("vocab-cache"))


@pytest.fixture(autouse=True)
def _clean_state(_vocab_cache_dir: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for var in CLAUDE_ENV:
        monkeypatch.delenv(var, raising=False)
    # parsed vocabularies go to a suite-wide temp dir, never the user's ~/.cache
    monkeypatch.setenv("CTXBUDGET_CACHE_DIR", _vocab_cache_dir)
    monkeypatch.delenv("CTXBUDGET_NO_VOCAB_CACHE", raising=False)
    # the CLI's persistent count cache too (and no store left configured by an earlier test)
    monkeypatch.setenv("XDG_CACHE_HOME", str(Path(_vocab_cache_dir) / "xdg-cache"))
    monkeypatch.delenv("CTXBUDGET_CACHE", raising=False)
    persistent.configure(None)
    TokenCounter.reset_cache()
    TokenCounter.initialize_cache()  # what a fresh process has: the default process-wide cache
    TokenCounter.reset_performance_metrics()
    TokenizerFactory.clear_cache()
    set_claude_model(None)
    reset_tools()
    for tool in ("claude", "codex", "gemini", "gpt", "openai", "palm", "stub", "counting"):
        unregister_backend(tool)
    invalidate_routes()
    yield
    for tool in ("claude", "codex", "gemini", "gpt", "openai", "palm", "stub", "counting"):
        unregister_backend(tool)
    set_claude_model(None)
    persistent.configure(None)
    TokenCounter.reset_cache()


class CharBackend:
    """One token per character; counts its calls so tests can prove what was (not) re-tokenised."""

    tokenizer_type = TokenizerType.TRANSFORMERS
    exact = True

    def __init__(self, tokenizer_id: str = "stub:chars@1") -> None:
        self.tokenizer_id = tokenizer_id
        self.count_calls: list[str] = []
        self.batch_calls: list[list[str]] = []

    def count(self, text: str) -> int:
        self.count_calls.append(text)
        return max(1, len(text))

    def count_batch(self, texts: Sequence[str]) -> list[int]:
        self.batch_calls.append(list(texts))
        return [max(1, len(t)) for t in texts]


@pytest.fixture
def char_backend() -> CharBackend:
    return CharBackend()


@pytest.fixture(autouse=True)
def _reset_global_usage_tracker() -> Iterator[None]:
    """Every test starts and ends with an empty process-wide usage registry."""
    from ctxbudget.tracking.usage import GlobalUsageTracker

    GlobalUsageTracker.reset_instance()
    yield
    GlobalUsageTracker.reset_instance()


class WordBackend:
    """Cost = number of whitespace-separated words (at least 1); records every call."""

    tokenizer_id = "stub:words@1"
    tokenizer_type = TokenizerType.TRANSFORMERS
    exact = True

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.singles: list[str] = []

    def count(self, text: str) -> int:
        self.singles.append(text)
        return max(1, len(text.split()))

    def count_batch(self, texts: Sequence[str]) -> list[int]:
        self.batches.append(list(texts))
        return [max(1, len(t.split())) for t in texts]


def hammer(step: Callable[[random.Random], tuple[str, int] | None], calls: int,
           threads: int = 8) -> tuple[list[BaseException], list[tuple[str, int]]]:
    """Run ``step`` ``calls`` times in each of ``threads`` threads (thread i seeds its Random with i).
    ``step`` returns ``(text, value)`` when it saw a wrong value; returns what was raised and what was wrong."""
    errors: list[BaseException] = []
    wrong: list[tuple[str, int]] = []

    def work(seed: int) -> None:
        rng = random.Random(seed)
        try:
            for _ in range(calls):
                bad = step(rng)
                if bad is not None:
                    wrong.append(bad)
        except BaseException as exc:  # pragma: no cover - the caller's assertion reports it
            errors.append(exc)

    workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return errors, wrong
