"""Batch and async counting: equal to per-item counts, deduplicated, one cache pass, loop stays responsive."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import CharBackend
from ctxbudget import Counter, TokenCountCache, TokenCounter, TokenizerType


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(["", "a", "hello world", "héllo wörld", "日本語のテキスト", "<|endoftext|>",
                                 "x" * 300, "def f(x):\n    return x\n"]) | st.text(max_size=40), max_size=30))
def test_batch_equals_per_item_in_order(texts: list[str]) -> None:
    TokenCounter.reset_cache()
    TokenCounter.initialize_cache(maxsize=16)
    for tool in ("codex", "gemini"):
        expected = [TokenCounter.count_tokens(t, tool, use_cache=False) for t in texts]
        assert TokenCounter.batch_count_tokens(texts, tool) == expected
        assert TokenCounter.batch_count_tokens(texts, tool) == expected  # now partly from the cache
        assert asyncio.run(TokenCounter.async_batch_count_tokens(texts, tool)) == expected


def test_batch_claude_equals_per_item() -> None:
    texts = ["alpha beta", "alpha beta", "ΓΔ", "", "Opus reconstruction"]
    expected = [TokenCounter.count_tokens(t, "claude", use_cache=False) for t in texts]
    assert TokenCounter.batch_count_tokens(texts, "claude") == expected
    assert asyncio.run(TokenCounter.async_batch_count_tokens(texts, "claude")) == expected


@pytest.mark.guarantee(15)
def test_empty_batch_is_empty() -> None:
    assert TokenCounter.batch_count_tokens([], "codex") == []
    assert asyncio.run(TokenCounter.async_batch_count_tokens([], "codex")) == []


@pytest.mark.guarantee(15)
def test_duplicates_tokenised_once_through_count_batch(char_backend: CharBackend) -> None:
    cache = TokenCounter.initialize_cache()
    TokenCounter.register_backend("stub", char_backend)
    texts = ["aa", "b", "aa", "ccc", "b", "aa"]
    assert TokenCounter.batch_count_tokens(texts, "stub") == [2, 1, 2, 3, 1, 2]
    assert char_backend.batch_calls == [["aa", "b", "ccc"]]
    assert char_backend.count_calls == []
    stats = cache.get_statistics()
    assert (stats.hits, stats.misses, stats.size) == (0, 3, 3)
    assert TokenCounter.batch_count_tokens(["ccc", "dd", "aa"], "stub") == [3, 2, 2]
    assert char_backend.batch_calls[-1] == ["dd"]
    stats = cache.get_statistics()
    assert (stats.hits, stats.misses) == (2, 4)


def test_without_a_cache_only_a_slow_backend_has_repeats_found(char_backend: CharBackend) -> None:
    """A native-speed tokenizer counts a repeat faster than hashing every text finds it (200 MB: ~0.15 s with
    the GIL held); a slow one is still given each distinct text once."""
    texts = ["aa", "b", "aa"]
    slow = Counter(char_backend, None)
    assert slow.count_batch(texts) == [2, 1, 2]
    assert char_backend.batch_calls == [["aa", "b"]]

    class NativeSpeed(CharBackend):
        fast = True

    native = NativeSpeed()
    assert Counter(native, None).count_batch(texts) == [2, 1, 2]
    assert native.batch_calls == [texts]
    cached = NativeSpeed()
    assert Counter(cached, TokenCountCache()).count_batch(texts) == [2, 1, 2]
    assert cached.batch_calls == [["aa", "b"]]


def test_async_dedupes_and_uses_count_batch(char_backend: CharBackend) -> None:
    TokenCounter.register_backend("stub", char_backend)
    result = asyncio.run(TokenCounter.async_batch_count_tokens(["x", "yy", "x"], "stub", cache=TokenCountCache()))
    assert result == [1, 2, 1]
    assert char_backend.batch_calls == [["x", "yy"]]


@pytest.mark.guarantee(16)
def test_event_loop_keeps_ticking_during_large_async_batch() -> None:
    texts = [f"document {i}: " + "the quick brown fox jumps over the lazy dog. " * 200 for i in range(300)]
    ticks = 0

    async def ticker(stop: asyncio.Event) -> None:
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            await asyncio.sleep(0)

    async def main() -> list[int]:
        stop = asyncio.Event()
        task = asyncio.create_task(ticker(stop))
        await asyncio.sleep(0)
        counts = await TokenCounter.async_batch_count_tokens(texts, "codex", use_cache=False)
        stop.set()
        await task
        return counts

    counts = asyncio.run(main())
    assert counts == [TokenCounter.count_tokens(t, "codex", use_cache=False) for t in texts]
    assert ticks > 3  # the loop ran the ticker while chunks were counted in the pool


def test_async_single_matches_sync_for_long_claude_text() -> None:
    text = "Reconstructed counts for a longer Claude text. " * 20
    assert asyncio.run(TokenCounter.async_count_tokens(text, "claude")) == TokenCounter.count_tokens(
        text, "claude", use_cache=False
    )


def test_large_unique_batch_uses_parallel_path_and_matches() -> None:
    texts = [f"{i} " + "lorem ipsum dolor sit amet " * 40 for i in range(600)]  # ~660 KB in total
    expected = [TokenCounter.count_tokens(t, "codex", use_cache=False) for t in texts]
    assert TokenCounter.batch_count_tokens(texts, "codex", use_cache=False) == expected


@pytest.mark.guarantee(15)
def test_adaptive_mapper_prefers_the_faster_mode_and_keeps_exploring() -> None:
    from ctxbudget.tokenizers.parallel import PARALLEL_MIN_CHARS, AdaptiveMapper

    mapper = AdaptiveMapper(explore_every=4)
    texts = ["x" * 1000] * (PARALLEL_MIN_CHARS // 1000 + 10)
    seen: list[int] = []

    def chunk(part: list[str]) -> list[int]:
        seen.append(len(part))
        return [len(t) for t in part]

    assert mapper.map(chunk, texts) == [1000] * len(texts)  # first: parallel (unmeasured), several chunks
    assert len(seen) > 1
    seen.clear()
    assert mapper.map(chunk, texts) == [1000] * len(texts)  # second: serial (unmeasured), one chunk
    assert seen == [len(texts)]
    assert set(mapper.rates()) == {"parallel", "serial"}
    mapper._rate = {"parallel": 1.0, "serial": 1e12}
    modes = [mapper._choose() for _ in range(8)]
    assert modes.count("parallel") == 2  # every 4th call re-tries the slower mode
    assert mapper.map(chunk, ["short"]) == [5]  # small batches never leave this thread


@pytest.mark.guarantee(14)
def test_concurrent_misses_for_one_key_tokenise_once() -> None:
    import threading

    from ctxbudget.counting import flight as counter_mod
    from ctxbudget.tokenizers.base import TokenizerType

    class Blocking(CharBackend):
        tokenizer_type = TokenizerType.CLAUDE

        def __init__(self) -> None:
            super().__init__()
            self.entered = threading.Event()
            self.release = threading.Event()
            self.started = 0

        def count(self, text: str) -> int:
            self.started += 1
            self.entered.set()
            assert self.release.wait(10)
            return super().count(text)

    backend = Blocking()
    TokenCounter.register_backend("stub", backend)
    cache = TokenCounter.initialize_cache()
    results: list[int] = []
    threads = [threading.Thread(target=lambda: results.append(TokenCounter.count_tokens("z" * 2000, "stub")))
               for _ in range(6)]
    threads[0].start()
    assert backend.entered.wait(10)
    for thread in threads[1:]:
        thread.start()
    waiting = threading.Event()
    for _ in range(1000):  # until the five followers wait on the leader (or, if broken, entered count())
        flights = list(counter_mod._flights.values())
        if backend.started > 1 or (flights and flights[0].waiters == 5):
            break
        waiting.wait(0.01)
    backend.release.set()
    for thread in threads:
        thread.join(10)
    assert results == [2000] * 6
    assert len(backend.count_calls) == 1
    stats = cache.get_statistics()
    assert (stats.misses, stats.size) == (6, 1)


@pytest.mark.guarantee(14)
@pytest.mark.parametrize("size", [20, 2000], ids=["short text", "long text"])
def test_waiters_on_a_failing_count_get_the_same_error_not_a_zero(size: int) -> None:
    """Review finding: a follower waiting on a leader whose count raised got 0 (the flight's initial value)."""
    import threading

    from ctxbudget.counting import flight

    class Failing(CharBackend):
        tokenizer_type = TokenizerType.CLAUDE  # a slow tokenizer: concurrent misses share one count

        def __init__(self) -> None:
            super().__init__()
            self.entered = threading.Event()
            self.release = threading.Event()

        def count(self, text: str) -> int:
            self.count_calls.append(text)
            self.entered.set()
            assert self.release.wait(10)
            raise RuntimeError("tokenizer exploded")

    backend = Failing()
    TokenCounter.register_backend("stub", backend)
    outcomes: list[object] = []

    def call() -> None:
        try:
            outcomes.append(TokenCounter.count_tokens("q" * size, "stub"))
        except RuntimeError as exc:
            outcomes.append(exc)

    threads = [threading.Thread(target=call) for _ in range(4)]
    threads[0].start()
    assert backend.entered.wait(10)
    for thread in threads[1:]:
        thread.start()
    pause = threading.Event()
    for _ in range(1000):  # until the three followers wait on the leader
        flights = list(flight._flights.values())
        if len(backend.count_calls) > 1 or (flights and flights[0].waiters == 3):
            break
        pause.wait(0.01)
    backend.release.set()
    for thread in threads:
        thread.join(10)
    assert len(backend.count_calls) == 1
    assert [str(o) for o in outcomes] == ["tokenizer exploded"] * 4
    assert TokenCounter.get_cache_statistics().size == 0  # failures are never cached
