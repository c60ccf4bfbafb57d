"""The toktok accelerator: trusted only where verified — the pinned binary, and texts its guard clears.

The sweep below re-checks, for every code point the guard lets through, that the accelerator counts it in
each context exactly as tiktoken does (the reference); the hard corpus covers the guarded ones.
"""

from __future__ import annotations

import bisect
import logging
import subprocess
import sys
import unicodedata
from collections.abc import Callable

import pytest

import ctxbudget.tokenizers._accelerator_data as data
from corpus import hard_corpus
from ctxbudget import TokenCounter, TokenizerFactory
from ctxbudget.tokenizers import accelerator

reference_only = pytest.importorskip("ctxbudget.tokenizers._guard").reference_only


def _reference(name: str) -> Callable[[str], int]:
    return TokenizerFactory.get_openai_backend(name)._count_with_tiktoken


pytestmark = pytest.mark.skipif(
    accelerator.load("o200k_base", _reference("o200k_base")) is None,
    reason="no accelerator here (CTXBUDGET_PURE=1, or the verified toktok build is not installed)",
)




def _accelerated(name: str) -> accelerator.Accelerator:
    loaded = accelerator.load(name, _reference(name))
    assert loaded is not None
    return loaded


_FIRSTS = [first for first, _ in data.REFERENCE_ONLY_RANGES]


def _guarded(cp: int) -> bool:
    i = bisect.bisect_right(_FIRSTS, cp) - 1
    return i >= 0 and cp <= data.REFERENCE_ONLY_RANGES[i][1]


def test_guard_covers_surrogates_and_every_code_point_unassigned_in_unicode_15() -> None:
    _accelerated("o200k_base")  # installs the guard
    assert data.UNICODE_VERSION == "15.0.0"
    assert all(_guarded(cp) for cp in (0xD800, 0xDBFF, 0xDC00, 0xDFFF))
    if unicodedata.unidata_version == data.UNICODE_VERSION:
        unassigned = [cp for cp in range(0x110000) if unicodedata.category(chr(cp)) == "Cn"]
        assert all(map(_guarded, unassigned))
    for first, last in data.REFERENCE_ONLY_RANGES:
        edges = [chr(first), chr(last), "abc " + chr(last) + " def"]
        assert reference_only(edges) == [0, 1, 2]
        outside = [chr(cp) for cp in (first - 1, last + 1) if 0 <= cp < 0x110000 and not _guarded(cp)]
        assert reference_only(outside) == []
    assert reference_only(["plain ascii", "latin-1 ÿé", "世界", "emoji 😀"]) == []


@pytest.mark.parametrize("name", accelerator.ENCODINGS)
def test_every_cleared_code_point_counts_as_tiktoken_in_every_context(name: str) -> None:
    fast = _accelerated(name)
    encode = TokenizerFactory.get_tiktoken_encoding(name).encode_ordinary
    cleared = [chr(cp) for cp in range(0x110000) if not _guarded(cp)]
    assert len(cleared) > 280_000
    for context in accelerator.CONTEXTS:
        texts = [context.format(c=c) for c in cleared]
        counts = fast.count_batch(texts)
        wrong = [t for t, n in zip(texts, counts, strict=True) if n != (len(encode(t)) or 1)]
        assert wrong == [], (context, wrong[:5])


@pytest.mark.parametrize("name", accelerator.ENCODINGS)
def test_hard_corpus_through_the_accelerated_backend(name: str) -> None:
    backend = TokenizerFactory.get_openai_backend(name)
    assert backend.accelerate(wait=True)
    encode = TokenizerFactory.get_tiktoken_encoding(name).encode_ordinary
    corpus = hard_corpus()
    expected = [len(encode(t)) or 1 for t in corpus]
    assert any(reference_only(corpus))  # surrogates and unassigned code points take the reference path
    assert backend.count_batch(corpus) == expected
    assert [backend.count(t) for t in corpus] == expected
    long_text = "\n".join(corpus)
    assert backend.count(long_text) == len(encode(long_text))


def test_batch_count_tokens_is_unchanged_by_the_accelerator() -> None:
    corpus = hard_corpus()[:500]
    plain = TokenCounter.batch_count_tokens(corpus, "codex", use_cache=False)
    assert TokenizerFactory.get_openai_backend("o200k_base").accelerate(wait=True)
    TokenCounter.initialize_cache(maxsize=10_000)
    assert TokenCounter.batch_count_tokens(corpus, "codex") == plain
    assert TokenCounter.batch_count_tokens(corpus, "codex") == plain  # from the cache
    assert TokenCounter.get_cache_statistics().hits >= len(set(corpus))


def test_an_unverified_binary_is_not_used(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(data, "TOKTOK_BINARY_SHA256", "0" * 64)
    backend = TokenizerFactory.get_openai_backend("o200k_base")
    with caplog.at_level(logging.WARNING, logger="ctxbudget.tokenizers"):
        assert backend.accelerate(wait=True) is False
    assert "verified build is 0000" in caplog.text
    assert backend.count_batch(["hello world"] * 3) == [2, 2, 2]


def test_other_versions_are_not_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(data, "TIKTOKEN_VERSION", "0.0.1")
    assert accelerator.load("o200k_base", len) is None
    assert accelerator.load("p50k_base", len) is None  # not verified for other encodings


def test_loads_in_the_background_after_enough_work(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(accelerator, "ACCELERATE_AFTER_CHARS", 10_000)
    backend = TokenizerFactory.get_openai_backend("o200k_base")
    assert not backend.accelerated
    text = "word " * 100
    assert backend.count_batch([text] * 10) == [backend.count(text)] * 10  # 5,000 characters: not yet
    backend.count_batch([text] * 10)  # 10,000 counted, but only after this batch
    assert backend._loader is None
    backend.count_batch([text] * 10)  # work already done says more comes: load now, for the batches after
    assert backend._loader is not None
    assert backend.accelerate(wait=True) and backend.accelerated


def test_one_large_text_never_pays_for_a_load_it_cannot_use(monkeypatch: pytest.MonkeyPatch) -> None:
    """Review finding: one 10 MB file loaded the accelerator (+0.3 s, +65 MiB) while tiktoken counted it."""
    monkeypatch.setattr(accelerator, "ACCELERATE_AFTER_CHARS", 10_000)
    backend = TokenizerFactory.get_openai_backend("o200k_base")
    text = "Keep the build green.\n" * 5_000  # 110,000 characters, one call
    assert backend.count(text) == len(TokenizerFactory.get_tiktoken_encoding("o200k_base").encode_ordinary(text))
    assert backend._loader is None and not backend.accelerated
    backend.count(text)  # a second large text: now the work done predicts more
    assert backend._loader is not None


@pytest.mark.parametrize(("value", "loads"), [("0", False), ("1", True)])
def test_environment_switch(monkeypatch: pytest.MonkeyPatch, value: str, loads: bool) -> None:
    monkeypatch.setenv(accelerator.ENV_VAR, value)
    monkeypatch.setattr(accelerator, "ACCELERATE_AFTER_CHARS", 1)
    backend = TokenizerFactory.get_openai_backend("cl100k_base")
    backend.count_batch(["some text"] * 4)
    assert backend.accelerate(wait=True) is loads


def test_a_rare_character_sends_only_its_piece_to_tiktoken(monkeypatch: pytest.MonkeyPatch) -> None:
    backend = TokenizerFactory.get_openai_backend("o200k_base")
    assert backend.accelerate(wait=True)
    encode = TokenizerFactory.get_tiktoken_encoding("o200k_base").encode_ordinary
    paragraph = "Rules for the agent:\nKeep answers short. Never print secrets. Run the tests.\n"
    text = paragraph * 2000 + "a\u088f's" + paragraph * 2000  # U+088F: assigned after Unicode 15
    sent_to_reference: list[str] = []
    fast = backend._accelerator
    assert fast is not None
    reference = fast._reference
    monkeypatch.setattr(fast, "_reference", lambda t: sent_to_reference.append(t) or reference(t))
    assert backend.count(text) == len(encode(text))
    assert len(sent_to_reference) == 1 and "\u088f" in sent_to_reference[0]
    assert len(sent_to_reference[0]) < 40_000


def test_without_the_guard_table_every_text_goes_to_the_reference() -> None:
    code = "from ctxbudget.tokenizers._guard import reference_only; print(reference_only(['plain', 'text']))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[0, 1]"


def test_accelerated_batches_survive_long_whitespace_runs(caplog: pytest.LogCaptureFixture) -> None:
    backend = TokenizerFactory.get_openai_backend("o200k_base")
    assert backend.accelerate(wait=True)
    run = "x" + " " * 1_000_000 + "y"
    texts = [run, run + "\ud800", "short"]  # the second is guarded: tiktoken, which must cut the run
    with caplog.at_level(logging.WARNING, logger="ctxbudget.tokenizers"):
        counts = backend.count_batch(texts)
    assert counts[0] == backend.count(run) == 7815
    assert counts[1] == backend.count(run + "\ud800") > counts[0]
    assert "counted it in pieces" in caplog.text


def test_version_drift_is_a_warning(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(data, "TOKTOK_VERSION", "9.9.9")
    with caplog.at_level(logging.WARNING, logger="ctxbudget.tokenizers"):
        assert accelerator.load("o200k_base", _reference("o200k_base")) is None
    assert "verified for toktok 9.9.9" in caplog.text


@pytest.mark.parametrize("name", accelerator.ENCODINGS)
def test_the_recorded_probe_counts_are_tiktokens(name: str) -> None:
    encode = TokenizerFactory.get_tiktoken_encoding(name).encode_ordinary
    assert accelerator.PROBE_COUNTS[name] == [len(encode(t)) for t in accelerator.PROBE]
    assert reference_only([accelerator.GUARDED_PROBE]) == [0]


def test_a_probe_count_off_by_one_is_not_used(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setitem(accelerator.PROBE_COUNTS, "o200k_base", [2, 13, 12])
    with caplog.at_level(logging.WARNING, logger="ctxbudget.tokenizers"):
        assert accelerator.load("o200k_base", _reference("o200k_base")) is None
    assert "differ from the verified ones" in caplog.text


@pytest.mark.parametrize("files", [40, 1], ids=["many files", "one long file"])
def test_an_accelerated_stream_never_builds_tiktoken_unless_a_text_needs_it(files: int) -> None:
    """tiktoken's Encoding costs ~0.2 s to build; a stream toktok counts whole does without it, and the first
    guarded text builds it (in a fresh process: the factory's backends are shared). Review finding: a stream of
    one job (one large file) was never accelerated."""
    code = f"""
from ctxbudget import Counter
from ctxbudget.counting import stream
from ctxbudget.tokenizers.factory import TokenizerFactory
stream.ACCELERATE_CHARS = 1 << 20
counter = Counter.for_model("gpt-4o", None)
backend = TokenizerFactory.get_openai_backend("o200k_base")
items = [(f"f{{i}}", f"Rule {{i}}: keep the build green.\\n" * (80_000 // {files})) for i in range({files})]
rows = list(stream.count_stream([counter], items))
print(backend.accelerated, backend._encoding is None, sum(r[1][0] for r in rows))
print(counter.count_batch(["a\\u088f's"]), backend._encoding is None)
print(sum(len(backend.encoding.encode_ordinary(t)) for _, t in items))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split("\n")
    accelerated, unbuilt, total = out[0].split()
    assert (accelerated, unbuilt) == ("True", "True")
    guarded = len(TokenizerFactory.get_tiktoken_encoding("o200k_base").encode_ordinary("a\u088f's"))
    assert out[1] == f"[{guarded}] False"  # counted by tiktoken, built for it
    assert int(total) == int(out[2])


@pytest.mark.parametrize("size", [100, 70_000], ids=["short, with the GIL", "long, without it"])
def test_the_guard_finds_a_guarded_character_in_every_string_kind(size: int) -> None:
    guarded = "\u088f"  # unassigned in Unicode 15
    bases = {"one byte": "a" * size, "latin-1": "é" * size, "two bytes": "ж" * size, "four bytes": "😀" * size}
    texts: list[str] = []
    expected: list[int] = []
    for base in bases.values():
        texts += [base, base + guarded, guarded + base, base[: size // 2] + guarded + base[size // 2:]]
        expected += [len(texts) - 3, len(texts) - 2, len(texts) - 1]
    texts.append("\U0001f600" * size + "\ud800")  # a lone surrogate after astral characters
    expected.append(len(texts) - 1)
    assert reference_only(texts) == expected


def _assert_found_at_every_place_around_a_block(filler: str, guarded: str) -> None:
    """``guarded`` at every place of texts of ``filler`` that end before, at and after a block of 64."""
    for length in (63, 64, 65, 128, 200):
        for at in range(length):
            text = filler * at + guarded + filler * (length - at - 1)
            assert reference_only([text, text.replace(guarded, filler)]) == [0], (length, at)


@pytest.mark.parametrize(
    ("filler", "guarded"),
    [("a", "\u088f"), ("ж", "\u088f"), ("a", "\U0001000c"), ("😀", "\U0001000c")],
    ids=["ascii filler, two-byte str", "two bytes throughout", "ascii filler, four-byte str", "four bytes throughout"],
)
def test_the_guard_finds_a_guarded_character_at_every_place_in_and_around_a_block(filler: str, guarded: str) -> None:
    """The scan ORs blocks of 64 characters and looks into a block only when the OR reaches the smallest guarded
    code point: a guarded character is found in any block and in the tail after the last whole block, among
    characters below that smallest one (their blocks skip the bitmap) and above it (theirs are looked up)."""
    _assert_found_at_every_place_around_a_block(filler, guarded)
    assert reference_only(["ж" * 64 + "a" * 64 + "ж" * 64]) == []


def test_a_block_whose_or_is_exactly_the_smallest_guarded_code_point_is_looked_up() -> None:
    lowest = _FIRSTS[0]
    assert (0x20 | lowest) == lowest  # spaces OR'd with it give it exactly
    assert reference_only([" " * 63 + chr(lowest), " " * 64 + chr(lowest) + "\u0400" * 63]) == [0, 1]


def test_many_short_texts_are_scanned_in_one_go() -> None:
    """The GIL is released per call once its texts add up to 64 Ki code points, as the pieces of one long text
    do (16 Ki each)."""
    pieces = ["Keep the build green.\n" * 700] * 40
    pieces[17] = pieces[17] + "\u088f"
    pieces[39] = "\ud800" + pieces[39]
    assert reference_only(pieces) == [17, 39]
    assert reference_only(pieces[:17]) == []


def test_the_one_byte_loop_finds_a_guarded_latin1_character() -> None:
    """The shipped table starts above U+00FF, so one-byte strings skip the scan; a table that guards é makes
    the one-byte loop do the work (restored afterwards: the table is process-wide)."""
    from ctxbudget.tokenizers import _guard

    try:
        _guard.set_reference_only([(0xE9, 0xE9)])
        for size in (10, 70_000):
            assert reference_only(["a" * size, "a" * size + "é", "é" + "b" * size, "ÿ" * size]) == [1, 2]
        _assert_found_at_every_place_around_a_block("a", "é")  # the one-byte loop's blocks
        assert reference_only(["a" * 63 + "é"]) == [0]  # 0x61 | 0xE9 is 0xE9: the OR reaches it exactly
    finally:
        _guard.set_reference_only(data.REFERENCE_ONLY_RANGES)
    assert reference_only(["café"]) == []


def test_long_scans_on_threads_while_the_table_is_replaced() -> None:
    """Long texts are scanned without the GIL; replacing the table meanwhile must not free it under a scan
    (the sanitizer build runs this)."""
    import threading

    from ctxbudget.tokenizers import _guard

    texts = ["ж" * 300_000 + "\u088f", "a" * 300_000, "😀" * 300_000]
    results: list[list[int]] = []

    def scan() -> None:
        for _ in range(20):
            results.append(reference_only(texts))

    threads = [threading.Thread(target=scan) for _ in range(3)]
    for thread in threads:
        thread.start()
    for _ in range(20):
        _guard.set_reference_only(data.REFERENCE_ONLY_RANGES)
    for thread in threads:
        thread.join()
    assert results == [[0]] * 60
