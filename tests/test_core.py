"""The cache's hot path (``ctxbudget._speedups``: compiled ``_core`` or pure ``_pycore``, whichever this run
uses): the façade's dispatch, the store's invariants under threads, and its argument checks. The suite runs
once per implementation (``CTXBUDGET_PURE=1``); ``test_store_parity.py`` compares the two directly."""

from __future__ import annotations

import asyncio
import gc
import random
import threading
import weakref
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import CharBackend, hammer
from ctxbudget import TokenCountCache, TokenCounter, TokenizerFactory
from ctxbudget._speedups import SHORT_TEXT_CHARS, Facade, count_route
from ctxbudget.counting.metrics import MetricsRecorder
from ctxbudget.counting.routes import fast_routes, resolve_route


def o200k(text: str) -> int:
    return max(1, len(TokenizerFactory.get_tiktoken_encoding("o200k_base").encode_ordinary(text)))


class Recording:
    """A fallback that records what reached it."""

    def __init__(self) -> None:
        self.calls: list[tuple[tuple[object, ...], dict[str, object]]] = []

    def __call__(self, *args: object, **kwargs: object) -> int:
        self.calls.append((args, kwargs))
        return -1


@pytest.fixture
def facade() -> Iterator[tuple[Facade, Recording, dict[str, tuple[str, None, CharBackend]]]]:
    backend = CharBackend()
    routes = {"stub": ("ns", None, backend.count)}
    fallback = Recording()
    f = Facade(routes, MetricsRecorder(), fallback)
    f.cache = TokenCountCache()
    yield f, fallback, routes  # type: ignore[misc]


def test_facade_serves_the_plain_call_itself(facade: tuple[Facade, Recording, dict]) -> None:  # type: ignore[type-arg]
    f, fallback, _ = facade
    assert f.count_tokens("abc", "stub") == 3
    assert f.count_tokens("abc", "stub", True) == 3
    assert f.count_tokens("abc", "stub", True, True) == 3
    assert fallback.calls == []
    assert f.cache is not None
    assert f.cache.counters()[:2] == (2, 1)  # one miss, then two hits


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        (("abc", "other"), {}),  # no learned route
        (("abc", "stub", False), {}),  # heuristic mode
        (("abc", "stub", True, False), {}),  # use_cache=False
        (("abc", "stub"), {"use_cache": True}),  # any keyword
        (("x" * (SHORT_TEXT_CHARS + 1), "stub"), {}),  # long text: digest-keyed in Python
        ((type("S", (str,), {})("abc"), "stub"), {}),  # str subclass
        ((b"abc", "stub"), {}),  # not a str: the Python path raises the documented TypeError
    ],
)
def test_facade_hands_everything_else_to_python(
    facade: tuple[Facade, Recording, dict], args: tuple[object, ...], kwargs: dict[str, object]  # type: ignore[type-arg]
) -> None:
    f, fallback, _ = facade
    assert f.count_tokens(*args, **kwargs) == -1
    assert fallback.calls == [(args, kwargs)]


def test_a_call_without_a_tool_name_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        TokenCounter.count_tokens("abc")  # type: ignore[call-arg]


def test_facade_without_cache_counts_and_records_no_cache_traffic(facade: tuple[Facade, Recording, dict]) -> None:  # type: ignore[type-arg]
    f, fallback, routes = facade
    recorder = MetricsRecorder()
    f.__init__(routes, recorder, fallback)  # type: ignore[misc]
    f.cache = None
    assert [f.count_tokens("abcd", "stub") for _ in range(3)] == [4, 4, 4]
    assert fallback.calls == []
    counts, hits, misses, seconds, batch_size = recorder.totals()
    assert (counts, hits, misses, batch_size) == (3, 0, 0, 1) and seconds > 0
    with pytest.raises(TypeError, match="TokenCountCache or None"):
        f.cache = {}  # type: ignore[assignment]


def test_count_tokens_matches_tiktoken_and_python_path_at_the_size_boundary() -> None:
    TokenCounter.initialize_cache()
    base = "Grüße, 世界! <|endoftext|> \ud800 tabs\t\tand  spaces "
    for n in (SHORT_TEXT_CHARS - 1, SHORT_TEXT_CHARS, SHORT_TEXT_CHARS + 1):
        text = (base * 40)[:n]
        expected = o200k(text)
        assert TokenCounter.count_tokens(text, "codex") == expected  # miss
        assert TokenCounter.count_tokens(text, "codex") == expected  # hit
        assert TokenCounter.count_tokens(text, "codex", use_cache=False) == expected
    stats = TokenCounter.get_cache_statistics()
    assert (stats.hits, stats.misses, stats.size) == (3, 3, 3)
    metrics = TokenCounter.get_performance_metrics()
    assert (metrics.total_counts, metrics.cache_hits, metrics.cache_misses) == (9, 3, 3)
    assert metrics.total_time_ms > 0


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(max_size=40), min_size=1, max_size=30))
def test_fast_path_equals_tiktoken_with_duplicates(texts: list[str]) -> None:
    TokenCounter.initialize_cache(maxsize=8)
    for text in texts + texts:
        assert TokenCounter.count_tokens(text, "codex") == o200k(text)
    stats = TokenCounter.get_cache_statistics()
    assert stats.hits + stats.misses == 2 * len(texts)
    assert stats.size <= 8


def test_routes_learned_by_the_facade_follow_register_backend() -> None:
    TokenCounter.initialize_cache()
    assert TokenCounter.count_tokens("hello world", "codex") == o200k("hello world")
    assert "codex" in fast_routes
    TokenCounter.register_backend("codex", CharBackend())
    assert "codex" not in fast_routes
    assert TokenCounter.count_tokens("hello world", "codex") == len("hello world")


def test_claude_routes_are_never_served_without_rechecking_the_model(monkeypatch: pytest.MonkeyPatch) -> None:
    text = "Привет, мир! Tokenizers differ on Cyrillic text and 12345 numbers."
    newest, v3 = (TokenizerFactory.get_claude_backend(f).count(text) for f in ("4.7", "3"))
    assert newest != v3
    TokenCounter.initialize_cache()
    assert TokenCounter.count_tokens(text, "claude") == newest
    assert "claude" not in fast_routes
    monkeypatch.setenv("CLAUDE_MODEL", "claude-3-5-sonnet-20241022")
    assert TokenCounter.count_tokens(text, "claude") == v3
    assert resolve_route("claude", True).backend.tokenizer_id.startswith("ctok:claude-3@")


def test_eight_threads_through_the_facade_with_a_tiny_ttl() -> None:
    cache = TokenCounter.initialize_cache(maxsize=64, ttl=0.001)
    texts = [f"text number {i} " * (1 + i % 7) for i in range(300)]
    expected = {t: o200k(t) for t in texts}
    calls_per_thread = 20_000

    def step(rng: random.Random) -> tuple[str, int] | None:
        text = rng.choice(texts)
        n = TokenCounter.count_tokens(text, "codex")
        return (text, n) if n != expected[text] else None

    errors, wrong = hammer(step, calls_per_thread)
    stats = cache.get_statistics()
    assert errors == [] and wrong == []
    assert stats.hits + stats.misses == 8 * calls_per_thread
    assert stats.size <= 64
    metrics = TokenCounter.get_performance_metrics()
    assert (metrics.cache_hits, metrics.cache_misses) == (stats.hits, stats.misses)


def test_swapping_the_cache_while_a_count_is_running() -> None:
    """The tokenizer runs outside the store's critical sections: the cache may be replaced meanwhile."""
    entered, release = threading.Event(), threading.Event()

    class Slow(CharBackend):
        def count(self, text: str) -> int:
            if text != "warm":
                entered.set()
                assert release.wait(10)
            return super().count(text)

    TokenCounter.register_backend("stub", Slow())
    old = TokenCounter.initialize_cache()
    TokenCounter.count_tokens("warm", "stub")  # learn the route
    results: list[int] = []
    worker = threading.Thread(target=lambda: results.append(TokenCounter.count_tokens("abcdef", "stub")))
    worker.start()
    assert entered.wait(10)
    TokenCounter.initialize_cache()
    del old
    gc.collect()
    release.set()
    worker.join(10)
    assert results == [6]


def test_store_rejects_bad_keys_before_touching_statistics() -> None:
    cache = TokenCountCache()
    with pytest.raises(TypeError, match="namespace must be str"):
        cache.lookup(1, "a")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="key must be str or int"):
        cache.lookup("ns", 1.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="key must be str or int"):
        cache.lookup_many("ns", ["a", ("a",)])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="count must be an int >= 0"):
        cache.store("ns", "a", True)
    assert cache.counters() == (0, 0, 0, 0, 0)


def test_count_route_checks_its_arguments() -> None:
    recorder = MetricsRecorder()
    entry = ("ns", None, len)
    assert count_route(entry, "abc", None, recorder) == (3, False)
    with pytest.raises(TypeError, match="route entry"):
        count_route(("ns", None), "abc", None, recorder)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="digest-keyed"):
        count_route(entry, "x" * (SHORT_TEXT_CHARS + 1), None, recorder)
    with pytest.raises(TypeError, match="TokenCountCache or None"):
        count_route(entry, "abc", {}, recorder)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="count must be an int"):
        count_route(("ns", None, lambda t: "3"), "abc", None, recorder)  # type: ignore[arg-type, return-value]
    assert recorder.totals()[:3] == (1, 0, 0)


def test_encode_unicode_errors_fall_back_to_the_count() -> None:
    def fussy(text: str) -> list[int]:
        raise UnicodeEncodeError("utf-8", text, 0, 1, "surrogates not allowed")

    assert count_route(("ns", fussy, len), "\ud800ab", None, MetricsRecorder()) == (3, False)
    with pytest.raises(ZeroDivisionError):
        count_route(("ns", lambda t: 1 / 0, len), "ab", None, MetricsRecorder())  # type: ignore[arg-type, return-value]


def test_a_cache_in_a_reference_cycle_is_collected() -> None:
    class Timed(TokenCountCache):
        def tick(self) -> float:
            return 1.0

    cache = Timed(ttl=5.0)
    cache.__init__(ttl=5.0, timer=cache.tick)  # type: ignore[misc]  # the timer refers back to the cache
    cache.set("a", "t", 1)
    ref = weakref.ref(cache)
    del cache
    gc.collect()
    assert ref() is None


def test_recorder_rejects_inconsistent_records() -> None:
    with pytest.raises(ValueError, match="counts >= hits \\+ misses"):
        MetricsRecorder().record(1, 1, 1, 0.0, 1)


def test_an_overridden_count_is_called_for_short_texts_too() -> None:
    """A backend subclass (or an instance whose count was replaced) must not be bypassed by the compiled path."""
    from ctxbudget.tokenizers.openai import OpenAIBackend

    class Framed(OpenAIBackend):
        def count(self, text: str) -> int:
            return super().count(text) + 3

    encoding = TokenizerFactory.get_tiktoken_encoding("o200k_base")
    TokenCounter.register_backend("stub", Framed(encoding))
    TokenCounter.initialize_cache()
    for _ in range(2):  # miss, then hit
        assert TokenCounter.count_tokens("hello world", "stub") == o200k("hello world") + 3
    patched = OpenAIBackend(encoding)
    patched.count = lambda text: 42  # type: ignore[method-assign]
    TokenCounter.register_backend("stub", patched)
    assert TokenCounter.count_tokens("new text", "stub") == 42


def test_integer_subclass_results_are_counts() -> None:
    class Count(int):
        pass

    class Odd(CharBackend):
        def count(self, text: str) -> int:
            return Count(len(text))

    TokenCounter.register_backend("stub", Odd())
    assert TokenCounter.count_tokens("abc", "stub", use_cache=False) == 3
    TokenCounter.initialize_cache()
    assert [type(TokenCounter.count_tokens("abcd", "stub")) for _ in range(2)] == [int, int]


def test_an_uninitialised_facade_raises_instead_of_crashing() -> None:
    with pytest.raises(RuntimeError, match="__init__ was not called"):
        Facade.__new__(Facade).count_tokens("a", "b")


def test_the_store_does_not_hand_its_tables_to_the_gc() -> None:
    cache = TokenCountCache()
    cache.set("a", "t", 1)
    # the namespace -> {key: entry} tables: clearing them from outside would free entries the LRU list links
    referents = gc.get_referents(cache)
    tables = [r for r in referents if isinstance(r, dict) and any(isinstance(v, dict) for v in r.values())]
    assert tables == []


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), 1e300])
def test_a_timer_out_of_range_is_a_clear_error(bad: float) -> None:
    clock = [1.0]
    cache = TokenCountCache(ttl=5.0, timer=lambda: clock[0])
    cache.set("a", "t", 1)
    clock[0] = bad
    with pytest.raises(ValueError, match="finite value"):
        cache.get("a", "t")


def test_a_str_subclass_tool_name_does_not_keep_the_fast_path_off() -> None:
    class Name(str):
        pass

    TokenCounter.initialize_cache()
    TokenCounter.count_tokens("hello", Name("codex"))
    assert "codex" not in fast_routes
    TokenCounter.count_tokens("hello", "codex")
    assert "codex" in fast_routes


@pytest.mark.guarantee(8)
@pytest.mark.parametrize("size", [SHORT_TEXT_CHARS - 1, SHORT_TEXT_CHARS, SHORT_TEXT_CHARS + 1])
def test_every_entry_point_keys_a_text_alike_at_the_short_long_boundary(size: int) -> None:
    """Review finding: moving the Python path's short/long boundary by one went unnoticed. A text counted by
    the hot path must be a hit for every other entry point, and the other way round."""
    from ctxbudget import Counter
    from ctxbudget.cache.memory import make_key

    text = ("Grüße, 世界! tabs\tand  spaces " * 60)[:size]
    cache = TokenCounter.initialize_cache()
    prefix, key = make_key(text, "codex", resolve_route("codex", True).variant)
    assert isinstance(key, str if size <= SHORT_TEXT_CHARS else int)
    assert TokenCounter.count_tokens(text, "codex") == o200k(text)  # the one miss
    counter = TokenCounter.counter("codex")
    assert counter.count(text) == o200k(text)
    assert counter.count_batch([text, text]) == [o200k(text)] * 2
    assert TokenCounter.count_tokens_detailed(text, "codex").cached is True
    assert asyncio.run(counter.acount(text)) == o200k(text)
    assert asyncio.run(TokenCounter.async_batch_count_tokens([text], "codex")) == [o200k(text)]
    assert cache.lookup(prefix, key) == o200k(text)
    stats = cache.get_statistics()
    assert (stats.misses, stats.hits, stats.size) == (1, 6, 1)
    assert Counter.for_model("codex", cache).count(text) == o200k(text)
