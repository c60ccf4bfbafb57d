"""Claude counts: ClaudeBackend against ctok itself, tool routing by model, and the ratio fallback.

ctok's ``token_count`` prices a one-message request: ``tokenize`` returns the frame as leading ``⟨pad⟩``
pieces. Content counts are ``token_count - frame`` (at least 1); ``include_frame=True`` is ``token_count``.
"""

from __future__ import annotations

from fractions import Fraction
from importlib.metadata import version
from math import ceil

import ctok
import pytest

import ctxbudget.tokenizers.factory as factory_mod
from corpus import hard_corpus
from ctxbudget import TokenCounter, TokenizerFactory, TokenizerLoadError, TokenizerType, set_claude_model
from ctxbudget.tokenizers.claude import ClaudeBackend

PAD = "⟨pad⟩"
CTOK_VERSION = version("ctok")
FAMILIES = (("3", "3.0"), ("4.7", "4.7"))


def ctok_frame(text: str, ctok_version: str) -> int:
    """The frame ctok reports for ``text``: its leading ``⟨pad⟩`` pieces."""
    n = 0
    for piece in ctok.tokenize(text, ctok_version):
        if piece != PAD:
            break
        n += 1
    return n


@pytest.fixture(scope="module")
def subset() -> list[str]:
    """About 300 corpus samples spread over every category (every 13th), ~67k characters."""
    return hard_corpus()[::13]


def test_subset_is_about_300_samples(subset: list[str]) -> None:
    assert len(subset) == 306


def test_hello_world_content_and_frame() -> None:
    assert ctok.token_count("hello, world", "3.0") == 10
    assert ctok_frame("hello, world", "3.0") == 7
    assert ClaudeBackend("3").count("hello, world") == 3
    assert ClaudeBackend("3").frame_tokens == 7
    assert ClaudeBackend("3", include_frame=True).count("hello, world") == 10


@pytest.mark.parametrize(("family", "ctok_version"), FAMILIES)
def test_frame_size_matches_ctok(family: str, ctok_version: str) -> None:
    assert ClaudeBackend(family).frame_tokens == ctok_frame("", ctok_version)
    assert ClaudeBackend(family).frame_tokens == ctok_frame("hello, world", ctok_version)


@pytest.mark.parametrize(("family", "ctok_version"), FAMILIES)
def test_content_counts_match_ctok_on_corpus_subset(family: str, ctok_version: str,
                                                     subset: list[str]) -> None:
    backend = ClaudeBackend(family)
    expected = [max(1, ctok.token_count(t, ctok_version) - ctok_frame(t, ctok_version)) for t in subset]
    got = [backend.count(t) for t in subset]
    mismatches = [i for i, (g, e) in enumerate(zip(got, expected, strict=True)) if g != e]
    assert len(mismatches) == 0, f"{len(mismatches)} mismatches, first indices: {mismatches[:10]}"


@pytest.mark.parametrize(("family", "ctok_version"), FAMILIES)
def test_framed_counts_match_ctok_token_count(family: str, ctok_version: str, subset: list[str]) -> None:
    backend = ClaudeBackend(family, include_frame=True)
    sample = subset[::3]
    assert [backend.count(t) for t in sample] == [ctok.token_count(t, ctok_version) for t in sample]


def test_families_differ_and_ids_name_them() -> None:
    text = "hello, world"
    assert ClaudeBackend("3").count(text) == 3
    assert ClaudeBackend("4.7").count(text) == 4
    assert ClaudeBackend("3").tokenizer_id == f"ctok:claude-3@{CTOK_VERSION}"
    assert ClaudeBackend("4.7").tokenizer_id == f"ctok:claude-4.7@{CTOK_VERSION}"
    assert ClaudeBackend("4.7", include_frame=True).tokenizer_id == f"ctok:claude-4.7+frame@{CTOK_VERSION}"


def test_unknown_family_raises_value_error() -> None:
    with pytest.raises(ValueError, match="family"):
        ClaudeBackend("2")


@pytest.mark.guarantee(7)
@pytest.mark.parametrize("text", ["", "<|endoftext|>", "\ud800", "a\x00b"])
def test_odd_inputs_count_without_raising(text: str) -> None:
    assert ClaudeBackend("3").count(text) == max(1, ctok.token_count(text, "3.0") - 7)


TEXT = "The quick brown fox jumps over the lazy dog. 日本語のテキスト 🦊"


@pytest.mark.guarantee(4)
def test_tool_routing_follows_claude_model_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLAUDE_MODEL", "claude-3-7-sonnet-20250219")
    TokenizerFactory.clear_cache()
    detailed = TokenCounter.count_tokens_detailed(TEXT, "claude")
    assert "claude-3" in detailed.tokenizer_id
    assert detailed.tokenizer_id == f"ctok:claude-3@{CTOK_VERSION}"
    assert detailed.kind == "reconstructed"
    assert detailed.exact is False
    assert detailed.tokenizer_type is TokenizerType.CLAUDE
    assert detailed.count == ctok.token_count(TEXT, "3.0") - ctok_frame(TEXT, "3.0")


@pytest.mark.guarantee(4)
def test_tool_routing_defaults_to_newest_family() -> None:
    detailed = TokenCounter.count_tokens_detailed(TEXT, "claude")
    assert "claude-4.7" in detailed.tokenizer_id
    assert detailed.tokenizer_id == f"ctok:claude-4.7@{CTOK_VERSION}"
    assert detailed.kind == "reconstructed"
    assert detailed.exact is False
    assert detailed.count == ctok.token_count(TEXT, "4.7") - ctok_frame(TEXT, "4.7")


def _claude_tokenizer_id() -> str:
    return TokenCounter.count_tokens_detailed(TEXT, "claude").tokenizer_id


def test_env_precedence_and_configured_model(monkeypatch: pytest.MonkeyPatch) -> None:
    set_claude_model("claude-sonnet-4-5")
    assert TokenCounter.count_tokens_detailed(TEXT, "claude").tokenizer_id == f"ctok:claude-3@{CTOK_VERSION}"
    monkeypatch.setenv("CLAUDE_CODE_MODEL", "claude-opus-4-7")
    TokenizerFactory.clear_cache()
    assert _claude_tokenizer_id() == f"ctok:claude-4.7@{CTOK_VERSION}"
    monkeypatch.setenv("ANTHROPIC_MODEL", "claude-3-5-sonnet-20241022")
    TokenizerFactory.clear_cache()
    assert TokenCounter.count_tokens_detailed(TEXT, "claude").tokenizer_id == f"ctok:claude-3@{CTOK_VERSION}"
    monkeypatch.setenv("CLAUDE_MODEL", "claude-opus-4-7")
    TokenizerFactory.clear_cache()
    assert _claude_tokenizer_id() == f"ctok:claude-4.7@{CTOK_VERSION}"


def _ceil_ratio(n: int, ratio: str) -> int:
    return max(1, ceil(Fraction(n) * Fraction(ratio)))


def _no_ctok(*args: object, **kwargs: object) -> ClaudeBackend:
    raise TokenizerLoadError("ctok library not available (stub)")


@pytest.mark.guarantee(5)
def test_ctok_missing_falls_back_to_o200k_ratio(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(factory_mod, "ClaudeBackend", _no_ctok)
    o200k = TokenizerFactory.get_openai_backend("o200k_base").count(TEXT)
    assert o200k == 19
    detailed = TokenCounter.count_tokens_detailed(TEXT, "claude")
    assert detailed.count == _ceil_ratio(o200k, "1.48") == 29
    assert detailed.kind == "estimate"
    assert detailed.exact is False
    assert "claude-estimate:4.7" in detailed.tokenizer_id
    texts = hard_corpus()[:400:4]
    o200k_backend = TokenizerFactory.get_openai_backend("o200k_base")
    assert texts[0] == ""
    # "" counts 1 on every path; everything else is ceil(o200k x 1.48).
    assert TokenCounter.batch_count_tokens(texts, "claude", use_cache=False) == [
        _ceil_ratio(o200k_backend.count(t), "1.48") if t else 1 for t in texts
    ]
    assert TokenCounter.count_tokens("", "claude") == 1


def test_ctok_missing_ratio_for_claude_3_family(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(factory_mod, "ClaudeBackend", _no_ctok)
    monkeypatch.setenv("CLAUDE_MODEL", "claude-3-7-sonnet-20250219")
    TokenizerFactory.clear_cache()
    o200k = TokenizerFactory.get_openai_backend("o200k_base").count(TEXT)
    detailed = TokenCounter.count_tokens_detailed(TEXT, "claude")
    assert detailed.count == _ceil_ratio(o200k, "1.17") == 23
    assert detailed.kind == "estimate"
    assert "claude-estimate:3" in detailed.tokenizer_id


def test_family_48_uses_ctok_48_content_counts() -> None:
    for text in ("hello, world", " leading space", "Opus 4.8 frame"):
        frame = sum(1 for t in ctok.tokenize("", "4.8") if t == "⟨pad⟩")
        assert ClaudeBackend("4.8").count(text) == max(1, ctok.token_count(text, "4.8") - frame)
