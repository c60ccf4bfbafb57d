"""TokenCounter façade: reference estimates, provenance, cache discipline, metrics, seed examples."""

from __future__ import annotations

import asyncio

import pytest

from conftest import CharBackend
from ctxbudget import (
    MODEL_MAPPINGS,
    Counter,
    TokenCount,
    TokenCountCache,
    TokenCounter,
    TokenizerFactory,
    TokenizerType,
)

TEN_WORDS = "one two three four five six seven eight nine ten"


def o200k(text: str) -> int:
    return TokenizerFactory.get_openai_backend("o200k_base").count(text)


def cl100k(text: str) -> int:
    return TokenizerFactory.get_openai_backend("cl100k_base").count(text)


@pytest.mark.parametrize("tool", ["claude", "codex", "gemini", "gpt", "openai", "palm", "unknown-tool"])
@pytest.mark.parametrize("use_tokenizer", [True, False])
def test_empty_string_counts_one_everywhere(tool: str, use_tokenizer: bool) -> None:
    assert TokenCounter.count_tokens("", tool, use_tokenizer=use_tokenizer) == 1


def test_reference_estimates_bit_for_bit() -> None:
    text = "x" * 37
    assert TokenCounter.count_tokens(text, "claude", use_tokenizer=False) == 9
    assert TokenCounter.count_tokens(text, "gemini", use_tokenizer=False) == 9
    assert TokenCounter.count_tokens(text, "whatever") == 9
    assert TokenCounter.count_tokens(TEN_WORDS, "codex", use_tokenizer=False) == 13
    assert TokenCounter.count_tokens("a b c", "codex", use_tokenizer=False) == 3
    assert TokenCounter.count_claude_tokens("abcdefgh", use_tokenizer=False) == 2
    assert TokenCounter.count_gemini_tokens("abc", use_tokenizer=False) == 1
    assert TokenCounter.count_codex_tokens(TEN_WORDS, use_tokenizer=False) == 13


def test_codex_uses_o200k_not_cl100k() -> None:
    text = "Привет, мир! Это проверка токенизатора для кириллицы."
    assert o200k(text) != cl100k(text)
    assert TokenCounter.count_tokens(text, "codex") == o200k(text)
    assert TokenCounter.count_codex_tokens(text) == o200k(text)


def test_tool_names_are_case_insensitive_and_stripped() -> None:
    assert TokenCounter.count_tokens("hello world", "  CODEX ") == o200k("hello world")


@pytest.mark.guarantee(7)
@pytest.mark.parametrize("text", ["<|endoftext|>", "<|fim_prefix|>x<|endofprompt|>", "a\x00b", "\ud800x", "\udfff"])
def test_special_tokens_nul_and_surrogates_never_raise(text: str) -> None:
    for tool in ("codex", "claude", "gemini"):
        assert TokenCounter.count_tokens(text, tool) >= 1
    assert TokenCounter.count_tokens("<|endoftext|>", "codex") == 7
    assert TokenCounter.count_tokens("\ud800", "codex") == o200k("\ufffd")


@pytest.mark.parametrize("bad", [None, b"bytes", 12, ["a"]])
def test_non_str_raises_type_error_naming_type(bad: object) -> None:
    with pytest.raises(TypeError, match=type(bad).__name__):
        TokenCounter.count_tokens(bad, "codex")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        TokenCounter.batch_count_tokens(["ok", bad], "codex")  # type: ignore[list-item]
    with pytest.raises(TypeError):
        TokenCounter.count_tokens_with_model(bad, "gpt-4o")  # type: ignore[arg-type]


@pytest.mark.guarantee(4)
def test_provenance_is_honest() -> None:
    detail = TokenCounter.count_tokens_detailed("hello world", "codex")
    assert detail == TokenCount(2, "codex", TokenizerType.TIKTOKEN, detail.tokenizer_id, True, "exact", False)
    assert detail.tokenizer_id.startswith("tiktoken:o200k_base@")
    unknown = TokenCounter.count_tokens_detailed("hello world", "mystery")
    assert (unknown.tokenizer_type, unknown.kind, unknown.exact) == (TokenizerType.ESTIMATION, "estimate", False)
    claude = TokenCounter.count_tokens_detailed("hello world", "claude")
    assert (claude.tokenizer_type, claude.kind, claude.exact) == (TokenizerType.CLAUDE, "reconstructed", False)
    gemini = TokenCounter.count_tokens_detailed("hello world", "gemini")
    assert (gemini.kind, gemini.exact) == ("estimate", False)
    assert TokenizerFactory.get_preferred_tokenizer_type("codex") is TokenizerType.TIKTOKEN
    assert TokenizerFactory.get_preferred_tokenizer_type("claude") is TokenizerType.CLAUDE
    assert TokenizerFactory.get_preferred_tokenizer_type("mystery") is TokenizerType.ESTIMATION


@pytest.mark.guarantee(6)
def test_count_tokens_with_model() -> None:
    text = "Привет, мир! Это проверка."
    assert TokenCounter.count_tokens_with_model(text, "gpt-4o") == o200k(text)
    assert TokenCounter.count_tokens_with_model(text, "gpt-5-codex") == o200k(text)
    assert TokenCounter.count_tokens_with_model(text, "gpt-4") == cl100k(text)
    assert TokenCounter.count_tokens_with_model(text, "cl100k_base", TokenizerType.TIKTOKEN) == cl100k(text)
    assert TokenCounter.count_tokens_with_model(text, "gpt-4o", "tiktoken") == o200k(text)
    assert TokenCounter.count_tokens_with_model(text, "not-a-model", TokenizerType.TIKTOKEN) == cl100k(text)
    assert TokenCounter.count_tokens_with_model(text, "no-such-model") == len(text) // 4
    assert TokenCounter.count_tokens_with_model(text, "gpt-4o", TokenizerType.ESTIMATION) == len(text) // 4
    assert TokenCounter.count_tokens_with_model(text, "org/missing", TokenizerType.TRANSFORMERS) == len(text) // 4
    claude3 = TokenizerFactory.get_claude_backend("3").count(text)
    assert TokenCounter.count_tokens_with_model(text, "claude-3-7-sonnet") == claude3
    assert TokenCounter.count_tokens_with_model(text, "gemini-2.5-pro") == TokenCounter.count_tokens(text, "gemini")


def test_model_mappings_drive_dispatch() -> None:
    text = "Привет, мир! Это проверка."
    MODEL_MAPPINGS["codex"] = "cl100k_base"
    try:
        assert TokenCounter.count_tokens(text, "codex", use_cache=False) == cl100k(text)
    finally:
        MODEL_MAPPINGS["codex"] = "o200k_base"
    assert TokenCounter.count_tokens(text, "codex", use_cache=False) == o200k(text)
    assert TokenCounter.MODEL_MAPPINGS is MODEL_MAPPINGS


@pytest.mark.guarantee(8)
def test_estimate_and_tokenizer_results_never_share_cache_entries(char_backend: CharBackend) -> None:
    TokenCounter.initialize_cache()
    TokenCounter.register_backend("claude", char_backend)
    text = "abcdefghijklmnop"  # 16 chars: stub says 16, estimate says 4
    assert TokenCounter.count_tokens(text, "claude") == 16
    assert TokenCounter.count_tokens(text, "claude", use_tokenizer=False) == 4
    assert TokenCounter.count_tokens(text, "claude") == 16
    assert TokenCounter.count_tokens(text, "claude", use_tokenizer=False) == 4
    assert len(char_backend.count_calls) == 1
    stats = TokenCounter.get_cache_statistics()
    assert (stats.hits, stats.misses, stats.size) == (1, 1, 1)


def test_use_cache_false_and_disabled_cache_record_nothing(char_backend: CharBackend) -> None:
    cache = TokenCounter.initialize_cache()
    TokenCounter.register_backend("stub", char_backend)
    TokenCounter.count_tokens("abc", "stub", use_cache=False)
    TokenCounter.batch_count_tokens(["abc", "de"], "stub", use_cache=False)
    assert cache.get_statistics() == TokenCounter.get_cache_statistics()
    assert (cache.get_statistics().hits, cache.get_statistics().misses, len(cache)) == (0, 0, 0)
    cache.disable()
    TokenCounter.count_tokens("abc", "stub")
    TokenCounter.batch_count_tokens(["abc", "xyz"], "stub")
    stats = cache.get_statistics()
    assert (stats.hits, stats.misses, stats.size) == (0, 0, 0)
    assert len(char_backend.count_calls) == 2


def test_no_process_cache_means_no_caching(char_backend: CharBackend) -> None:
    TokenCounter.register_backend("stub", char_backend)
    TokenCounter.reset_cache()
    assert TokenCounter.get_cache() is None
    TokenCounter.count_tokens("abc", "stub")
    TokenCounter.count_tokens("abc", "stub")
    assert len(char_backend.count_calls) == 2
    assert TokenCounter.get_cache_statistics() is None


def test_explicit_cache_argument(char_backend: CharBackend) -> None:
    private = TokenCountCache(maxsize=5)
    TokenCounter.register_backend("stub", char_backend)
    TokenCounter.count_tokens("abc", "stub", cache=private)
    TokenCounter.count_tokens("abc", "stub", cache=private)
    assert len(char_backend.count_calls) == 1
    assert private.get_statistics().hits == 1


def test_heuristic_results_are_never_cached() -> None:
    cache = TokenCounter.initialize_cache()
    TokenCounter.count_tokens("abcdefgh", "unknown-tool")
    TokenCounter.count_tokens("abcdefgh", "claude", use_tokenizer=False)
    TokenCounter.count_tokens(TEN_WORDS, "codex", use_tokenizer=False)
    assert len(cache) == 0
    assert cache.get_statistics().misses == 0


def test_clear_and_reset_cache() -> None:
    cache = TokenCounter.initialize_cache(maxsize=10, ttl=60.0)
    TokenCounter.count_tokens("hello", "codex")
    TokenCounter.clear_cache()
    assert TokenCounter.get_cache() is cache
    assert cache.get_statistics().misses == 0 and len(cache) == 0
    TokenCounter.reset_cache()
    assert TokenCounter.get_cache() is None


def test_performance_metrics_add_up(char_backend: CharBackend) -> None:
    TokenCounter.initialize_cache()
    TokenCounter.register_backend("stub", char_backend)
    TokenCounter.count_tokens("abc", "stub")
    TokenCounter.count_tokens("abc", "stub")
    metrics = TokenCounter.get_performance_metrics()
    assert (metrics.cache_enabled, metrics.total_counts, metrics.cache_hits, metrics.cache_misses,
            metrics.batch_size) == (True, 2, 1, 1, 1)
    assert metrics.total_time_ms > 0
    assert metrics.avg_count_time_ms == pytest.approx(metrics.total_time_ms / 2)
    TokenCounter.batch_count_tokens(["abc", "x", "y", "x"], "stub")
    metrics = TokenCounter.get_performance_metrics()
    assert (metrics.total_counts, metrics.cache_hits, metrics.cache_misses, metrics.batch_size) == (6, 2, 3, 4)
    asyncio.run(TokenCounter.async_batch_count_tokens(["q", "r"], "stub"))
    metrics = TokenCounter.get_performance_metrics()
    assert (metrics.total_counts, metrics.cache_misses, metrics.batch_size) == (8, 5, 2)
    TokenCounter.reset_performance_metrics()
    metrics = TokenCounter.get_performance_metrics()
    assert (metrics.total_counts, metrics.total_time_ms, metrics.batch_size) == (0, 0.0, 1)


def test_counter_plain_object_mirrors_sync_and_async(char_backend: CharBackend) -> None:
    counter = Counter(char_backend, TokenCountCache(), tool_name="stub")
    texts = ["a", "bb", "a", "cccc"]
    assert counter.count("hello") == 5
    assert counter.count_batch(texts) == [1, 2, 1, 4]
    assert asyncio.run(counter.acount("hello")) == 5
    assert asyncio.run(counter.acount_batch(texts)) == [1, 2, 1, 4]
    assert counter.count_detailed("hello").cached is True
    assert (counter.metrics().cache_hits, counter.metrics().cache_misses) == (5, 4)


SEED_TEXTS = ["text1", "text2", "text3"]


def test_seed_usage_examples_run_as_written() -> None:
    """The task summary's examples with only the import line changed."""
    from ctxbudget import TokenCountCache, TokenCounter

    TokenCounter.initialize_cache(maxsize=1000, ttl=300.0)
    count = TokenCounter.count_tokens("test text", "claude")
    stats = TokenCounter.get_cache_statistics()
    assert f"Hit rate: {stats.hit_rate:.2%}" == "Hit rate: 0.00%"
    assert count == TokenCounter.count_tokens("test text", "claude")
    assert TokenCounter.get_cache_statistics().hit_rate == 0.5

    texts = SEED_TEXTS
    counts = TokenCounter.batch_count_tokens(texts, "claude")
    assert counts == [TokenCounter.count_tokens(t, "claude", use_cache=False) for t in texts]

    async def run_async() -> tuple[int, list[int]]:
        count = await TokenCounter.async_count_tokens("test", "claude")
        counts = await TokenCounter.async_batch_count_tokens(texts, "claude")
        return count, counts

    single, many = asyncio.run(run_async())
    assert single == TokenCounter.count_tokens("test", "claude", use_cache=False)
    assert many == counts

    cache = TokenCountCache(maxsize=500, ttl=60.0)
    cache.set("test", "claude", 10)
    count = cache.get("test", "claude")
    stats = cache.get_statistics()
    assert count == 10
    assert (stats.hits, stats.misses, stats.size, stats.max_size) == (1, 0, 1, 500)


@pytest.mark.guarantee(3)
def test_availability_probes_import_nothing() -> None:
    import subprocess
    import sys

    code = (
        "import sys; from ctxbudget import TokenizerFactory as F;"
        "a = F.is_tiktoken_available(); b = F.is_transformers_available();"
        "print(a, b, 'tiktoken' in sys.modules, 'transformers' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["True", "False", "False", "False"]


@pytest.mark.guarantee(11)
def test_long_text_hashed_once_per_lookup(monkeypatch: pytest.MonkeyPatch, char_backend: CharBackend) -> None:
    from ctxbudget.cache import memory

    calls: list[int] = []
    real = memory.xxhash.xxh3_128_intdigest

    def counting(data: bytes, seed: int = 0) -> int:
        calls.append(len(data))
        return int(real(data, seed))

    monkeypatch.setattr(memory.xxhash, "xxh3_128_intdigest", counting)
    TokenCounter.initialize_cache()
    TokenCounter.register_backend("stub", char_backend)
    long_text = "y" * 5000
    assert TokenCounter.count_tokens(long_text, "stub") == 5000  # miss: one digest serves lookup and store
    assert TokenCounter.count_tokens(long_text, "stub") == 5000  # hit: one digest
    assert calls == [5000, 5000]
    assert len(char_backend.count_calls) == 1


@pytest.mark.guarantee(13)
def test_tokenizer_instances_shared_under_lock(monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    from ctxbudget.tokenizers import openai

    builds: list[str] = []
    real = openai.load_mergeable_ranks

    def slow_load(name: str) -> dict[bytes, int]:
        builds.append(name)
        return real(name)

    monkeypatch.setattr(openai, "load_mergeable_ranks", slow_load)
    seen: list[object] = []
    threads = [threading.Thread(target=lambda: seen.append(TokenizerFactory.get_openai_backend("cl100k_base")))
               for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert builds == ["cl100k_base"]
    assert len(seen) == 8 and all(b is seen[0] for b in seen)


@pytest.mark.parametrize("pure", [False, True], ids=["compiled if built", "pure"])
def test_a_fresh_process_caches_without_initialize_cache(pure: bool) -> None:
    """Review finding: nothing was cached until initialize_cache(), although use_cache=True is the default."""
    import os
    import subprocess
    import sys

    code = """
from ctxbudget import TokenCounter as T
for tool, text in (("codex", "hello world"), ("claude", "hello world"), ("codex", "long text " * 200)):
    T.count_tokens(text, tool)
    T.count_tokens(text, tool)
s, m = T.get_cache_statistics(), T.get_performance_metrics()
print(s.misses, s.hits, s.size, s.max_size, m.cache_misses, m.cache_hits, m.cache_enabled, T.get_cache().ttl)
"""
    env = {k: v for k, v in os.environ.items() if k != "CTXBUDGET_PURE"} | ({"CTXBUDGET_PURE": "1"} if pure else {})
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert done.stdout.split() == ["3", "3", "3", "1000", "3", "3", "True", "300.0"]
