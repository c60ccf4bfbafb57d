"""truncate() and fits(): properties over random and hard texts for OpenAI and Claude backends."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from corpus import hard_corpus
from ctxbudget import TokenizerFactory, TruncateResult, backend_for, fits, truncate

MODELS = ("codex", "gpt-4", "claude")
KEEPS = ("head", "tail")

# Short and medium corpus samples keep ctok (pure Python, ~0.25 MiB/s) within the time budget.
_SAMPLES = [t for t in hard_corpus() if len(t) <= 1500]
TEXTS = st.one_of(st.text(max_size=300), st.sampled_from(_SAMPLES))


def _next_char_extension(text: str, k: int, keep: str) -> str:
    return text[: k + 1] if keep == "head" else text[len(text) - (k + 1) :]


def _check_truncation(text: str, max_tokens: int, model: str, keep: str) -> None:
    count = backend_for(model).count
    result = truncate(text, max_tokens, model, keep)
    assert isinstance(result, TruncateResult)
    k = len(result.text)
    if keep == "head":
        assert text.startswith(result.text)
    else:
        assert text.endswith(result.text)
    assert count(result.text) <= max_tokens
    assert result.tokens == count(result.text)
    assert result.truncated == (count(text) > max_tokens)
    assert result.truncated == (k < len(text))
    assert "\ufffd" not in result.text or "\ufffd" in text
    # Maximality: one more input character would not fit (vacuous only when nothing was cut).
    assert k == len(text) or count(_next_char_extension(text, k, keep)) > max_tokens
    assert result.truncated or result.text == text


@pytest.mark.parametrize("keep", KEEPS)
@pytest.mark.parametrize("model", MODELS)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=TEXTS, max_tokens=st.integers(min_value=1, max_value=60))
def test_truncate_properties(model: str, keep: str, text: str, max_tokens: int) -> None:
    _check_truncation(text, max_tokens, model, keep)


@pytest.mark.parametrize("keep", KEEPS)
@pytest.mark.parametrize("model", MODELS)
def test_truncate_known_cases(model: str, keep: str) -> None:
    text = "The quick brown fox jumps over the lazy dog. " * 20
    count = backend_for(model).count
    result = truncate(text, 10, model, keep)
    assert result.truncated is True
    assert result.tokens == count(result.text) <= 10
    assert count(_next_char_extension(text, len(result.text), keep)) > 10
    untouched = truncate(text, count(text), model, keep)
    assert untouched == TruncateResult(text, count(text), False)


def test_truncate_exact_codex_prefix_and_suffix() -> None:
    text = "hello world, hello world"  # o200k: 'hello', ' world', ',', ' hello', ' world'
    assert truncate(text, 2, "codex", "head") == TruncateResult("hello world", 2, True)
    assert truncate(text, 2, "codex", "tail") == TruncateResult(" hello world", 2, True)
    assert truncate(text, 5, "codex") == TruncateResult(text, 5, False)


def test_truncate_does_not_split_characters() -> None:
    text = "👨\u200d👩\u200d👧\u200d👦" * 5 + "日本語" * 10
    for max_tokens in (1, 2, 3, 5, 8, 13):
        for keep in KEEPS:
            _check_truncation(text, max_tokens, "codex", keep)


@pytest.mark.guarantee(7)
@pytest.mark.parametrize("keep", KEEPS)
def test_truncate_hard_corpus_slice_codex(keep: str) -> None:
    for text in hard_corpus()[::40]:
        _check_truncation(text, 7, "codex", keep)


def test_truncate_errors() -> None:
    with pytest.raises(ValueError, match="max_tokens"):
        truncate("hello", 0)
    with pytest.raises(ValueError, match="max_tokens"):
        truncate("hello", -3, "codex")
    with pytest.raises(ValueError, match="max_tokens"):
        truncate("hello", True, "codex")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="keep"):
        truncate("hello", 5, "codex", "middle")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        truncate(None, 5)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        truncate(b"hello", 5, "codex")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        fits(None, 5, "codex")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        fits(b"hello", 5, "codex")  # type: ignore[arg-type]


@pytest.mark.parametrize("model", MODELS)
def test_fits_small_texts(model: str) -> None:
    count = backend_for(model).count
    for text in ["", "hello", "hello world", "你好，世界！这是一个测试。", "<|endoftext|>", "\ud800",
                 "a\x00b"]:
        n = count(text)
        assert fits(text, n, model) is True
        assert fits(text, n - 1, model) is False
        assert fits(text, n + 1, model) is True
        assert fits(text, 0, model) is False


def test_fits_large_multiline_text_early_exit(monkeypatch: pytest.MonkeyPatch) -> None:
    corpus = hard_corpus()
    text = "\n".join(corpus[:1200])
    while len(text) < 500_000:
        text += "\nLine " + text[:100_000]
    assert len(text) > 500_000
    backend = TokenizerFactory.get_openai_backend("o200k_base")
    assert backend_for("codex") is backend
    n = backend.count(text)
    for limit in (n - 1, n, n + 1, 10, 1):
        assert fits(text, limit, "codex") is (n <= limit), limit

    # A small limit stops after the first pieces instead of tokenising the whole text.
    seen: list[int] = []
    real_count = backend.count

    def spy(piece: str) -> int:
        seen.append(len(piece))
        return real_count(piece)

    monkeypatch.setattr(backend, "count", spy)
    assert fits(text, 10, "codex") is False
    assert sum(seen) < len(text) // 2
