"""Gemini counts: the o200k-calibrated estimate, a local SentencePiece model, and hash-verified exactness."""

from __future__ import annotations

import hashlib
import random
from fractions import Fraction
from math import ceil
from pathlib import Path

import pytest

import ctxbudget.tokenizers.gemini as gemini_mod
from ctxbudget import TokenCounter, TokenizerFactory, TokenizerType

ENGLISH = "The quick brown fox jumps over the lazy dog while the budget manager counts tokens."
CJK = "东京是日本的首都，人口众多。我们今天学习汉字和语法。"


def _o200k(text: str) -> int:
    return TokenizerFactory.get_openai_backend("o200k_base").count(text)


def _ceil_ratio(n: int, ratio: str) -> int:
    return max(1, ceil(Fraction(n) * Fraction(ratio)))


# --- estimate path ------------------------------------------------------------------------------------


def test_estimate_for_english_is_o200k_times_1_13() -> None:
    o200k = _o200k(ENGLISH)
    assert o200k == 16
    detailed = TokenCounter.count_tokens_detailed(ENGLISH, "gemini")
    assert detailed.count == _ceil_ratio(o200k, "1.13") == 19
    assert detailed.kind == "estimate"
    assert detailed.exact is False
    assert detailed.tokenizer_type is TokenizerType.ESTIMATION  # review finding: it said TIKTOKEN
    assert detailed.tokenizer_id.startswith("gemini-estimate:")


def test_estimate_for_pure_cjk_is_o200k_times_0_84() -> None:
    o200k = _o200k(CJK)
    assert o200k == 20
    detailed = TokenCounter.count_tokens_detailed(CJK, "gemini")
    assert detailed.count == _ceil_ratio(o200k, "0.84") == 17
    assert detailed.kind == "estimate"
    assert detailed.exact is False


@pytest.mark.parametrize("tool", ["gemini", "palm", " Gemini "])
def test_estimate_on_every_gemini_tool_name(tool: str) -> None:
    assert TokenCounter.count_tokens(ENGLISH, tool) == _ceil_ratio(_o200k(ENGLISH), "1.13")
    assert TokenCounter.count_tokens("", tool) == 1


def test_estimate_without_tokenizer_is_len_div_4() -> None:
    assert TokenCounter.count_tokens(ENGLISH, "gemini", use_tokenizer=False) == len(ENGLISH) // 4
    assert TokenCounter.count_tokens("abc", "gemini", use_tokenizer=False) == 1


@pytest.mark.guarantee(7)
@pytest.mark.parametrize("text", ["<|endoftext|>", "\ud800", "a\x00b", " " * 20_000])
def test_estimate_handles_odd_inputs(text: str) -> None:
    assert TokenCounter.count_tokens(text, "gemini") == _ceil_ratio(_o200k(text), "1.13")


# --- a local SentencePiece model ---------------------------------------------------------------------


def _training_lines(rng: random.Random) -> list[str]:
    syllables = [c + v for c in "bcdfghklmnprstvwz" for v in "aeiou"] + ["th", "sh", "ch", "ng", "qu"]
    words = ["".join(rng.choice(syllables) for _ in range(rng.randint(1, 4))) for _ in range(600)]
    words += ["the", "quick", "brown", "fox", "jumps", "over", "lazy", "dog", "token", "budget",
              "東京", "日本語", "你好", "世界", "café", "naïve"]
    return [" ".join(rng.choice(words) for _ in range(rng.randint(3, 15))) for _ in range(400)]


def _train(tmp: Path, name: str, **options: object) -> Path:
    spm = pytest.importorskip("sentencepiece", reason="sentencepiece not installed (extra 'gemini')")
    corpus = tmp / "train.txt"
    if not corpus.exists():
        corpus.write_text("\n".join(_training_lines(random.Random(0))), encoding="utf-8")
    spm.SentencePieceTrainer.train(input=str(corpus), model_prefix=str(tmp / name), model_type="unigram",
                                   minloglevel=2, **options)
    return tmp / f"{name}.model"


@pytest.fixture(scope="module")
def sp_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _train(tmp_path_factory.mktemp("sp"), "m", vocab_size=200)


SP_TEXTS = ["the quick brown fox", "bakuteshi naïve café", "東京 日本語", "", "zzzz qqqq", ENGLISH, CJK,
            "line one\nline two\r\n\ttabbed"]


def test_sentencepiece_model_counts(sp_model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sentencepiece

    monkeypatch.setenv("CTXBUDGET_GEMINI_MODEL", str(sp_model))
    TokenizerFactory.clear_cache()
    sp = sentencepiece.SentencePieceProcessor(model_file=str(sp_model))
    expected = [max(1, len(sp.encode(t))) for t in SP_TEXTS]
    assert [TokenCounter.count_tokens(t, "gemini", use_cache=False) for t in SP_TEXTS] == expected
    assert TokenCounter.batch_count_tokens(SP_TEXTS, "gemini", use_cache=False) == expected
    # The model really is in use: its counts differ from the o200k estimate.
    assert expected != [_ceil_ratio(_o200k(t), "1.13") if t else 1 for t in SP_TEXTS]

    detailed = TokenCounter.count_tokens_detailed(ENGLISH, "gemini")
    sha = hashlib.sha256(sp_model.read_bytes()).hexdigest()
    assert detailed.kind == "estimate"  # not Google's model: the hash is not pinned
    assert detailed.exact is False
    assert detailed.tokenizer_id == f"sentencepiece:m.model@sha256:{sha[:16]}"
    assert detailed.tokenizer_type is TokenizerType.TRANSFORMERS


def test_google_hash_makes_counts_exact(sp_model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sha = hashlib.sha256(sp_model.read_bytes()).hexdigest()
    monkeypatch.setenv("CTXBUDGET_GEMINI_MODEL", str(sp_model))
    TokenizerFactory.clear_cache()
    assert TokenCounter.count_tokens_detailed(ENGLISH, "gemini").kind == "estimate"

    monkeypatch.setattr(gemini_mod, "GOOGLE_MODEL_SHA256", frozenset({sha}))
    TokenizerFactory.clear_cache()
    detailed = TokenCounter.count_tokens_detailed(ENGLISH, "gemini")
    assert detailed.kind == "exact"
    assert detailed.exact is True
    assert detailed.tokenizer_id == f"sentencepiece:m.model@sha256:{sha[:16]}"


def test_missing_configured_model_falls_back_to_estimate(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CTXBUDGET_GEMINI_MODEL", str(tmp_path / "does-not-exist.model"))
    TokenizerFactory.clear_cache()
    detailed = TokenCounter.count_tokens_detailed(ENGLISH, "gemini")
    assert detailed.kind == "estimate"
    assert detailed.count == _ceil_ratio(_o200k(ENGLISH), "1.13")
    assert detailed.tokenizer_id.startswith("gemini-estimate:")


def test_configured_file_that_is_not_a_model_falls_back(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    bogus = tmp_path / "bogus.model"
    bogus.write_bytes(b"not a sentencepiece model")
    monkeypatch.setenv("CTXBUDGET_GEMINI_MODEL", str(bogus))
    TokenizerFactory.clear_cache()
    detailed = TokenCounter.count_tokens_detailed(CJK, "gemini")
    assert detailed.kind == "estimate"
    assert detailed.count == _ceil_ratio(_o200k(CJK), "0.84")


@pytest.mark.guarantee(7)
def test_sentencepiece_counts_lone_surrogates_as_replacement_char(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    import sentencepiece

    model = _train(tmp_path, "bf", vocab_size=400, byte_fallback=True)
    monkeypatch.setenv("CTXBUDGET_GEMINI_MODEL", str(model))
    TokenizerFactory.clear_cache()
    sp = sentencepiece.SentencePieceProcessor(model_file=str(model))
    text = "x" + "\ud800" * 5
    assert TokenCounter.count_tokens(text, "gemini") == max(1, len(sp.encode("x" + "\ufffd" * 5)))
