"""Claude counts in pieces and in C: ``claude_pieces``' cut rule and ``claude_fast`` against ctok.

Every parity test compares ``ClaudeBackend`` (content and framed) with ``ctok.token_count`` of the whole text,
for the three families, counted by ctok in pieces (``ctok``) and by the compiled counter (``compiled``), with
the pieces forced small so that the texts are cut at (nearly) every safe place.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from functools import cache

import ctok
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from corpus import hard_corpus
from ctxbudget import TokenizerLoadError
from ctxbudget.tokenizers import claude as claude_mod
from ctxbudget.tokenizers import claude_fast, claude_verified
from ctxbudget.tokenizers.claude import ClaudeBackend
from ctxbudget.tokenizers.claude_pieces import cut_at, find_cut, pieces
from ctxbudget.tokenizers.parallel import piece_reporter

FAMILIES = (("3", "3.0"), ("4.7", "4.7"), ("4.8", "4.8"))
SEPARATORS = ("\n", "\r\n", "", " ", "\n\n", "x\n", "\t\n", "\x01\n", "\ue000\n", "\r", " \n ", "'\n")


@cache
def ctok_count(text: str, ctok_version: str) -> int:
    """ctok's whole-text count, once per text for both engines."""
    return int(ctok.token_count(text, ctok_version))


#: whether this run has the compiled counter (not with CTXBUDGET_PURE=1, nor where it was not built)
HAS_COMPILED = claude_fast.load("4.7") is not None
needs_compiled = pytest.mark.skipif(not HAS_COMPILED, reason="the compiled Claude counter is not in use here")
ENGINES = pytest.mark.parametrize("compiled", [pytest.param(False, id="pure"),
                                               pytest.param(True, id="compiled", marks=needs_compiled)])


def _backends(family: str, piece_chars: int, compiled: bool) -> tuple[ClaudeBackend, ClaudeBackend]:
    return (ClaudeBackend(family, piece_chars=piece_chars, compiled=compiled),
            ClaudeBackend(family, include_frame=True, piece_chars=piece_chars, compiled=compiled))


def assert_parity(texts: list[str], family: str, ctok_version: str, piece_chars: int = 1, *,
                  compiled: bool = False, content_backend: bool = True) -> int:
    """Content and framed counts of every text equal ctok's whole-text count; returns the cuts made.

    ``content_backend=False`` takes the content count from the framed one (``count`` subtracts the frame after
    the pieces are summed, as the corpus tests check), where counting a long text twice more would be slow.
    """
    content, framed = _backends(family, piece_chars, compiled)
    expected = [ctok_count(t, ctok_version) for t in texts]
    got_framed = [framed.count(t) for t in texts]
    got_content = ([content.count(t) for t in texts] if content_backend
                   else [max(1, n - content.frame_tokens) for n in got_framed])
    want_content = [max(1, e - content.frame_tokens) for e in expected]
    bad = [i for i, t in enumerate(texts) if (got_framed[i], got_content[i]) != (expected[i], want_content[i])]
    assert not bad, f"{len(bad)} of {len(texts)} mismatch, first: {texts[bad[0]][:120]!r}"
    return sum(len(list(pieces(t, piece_chars))) - 1 for t in texts)


@cache
def corpus_concatenations() -> tuple[str, ...]:
    """Every hard-corpus sample, four at a time, joined by separators on both sides of the cut rule."""
    samples = hard_corpus()
    return tuple(
        "".join(s + SEPARATORS[(i + j) % len(SEPARATORS)] for j, s in enumerate(samples[i : i + 4]))
        for i in range(0, len(samples), 4)
    )


def mixed_text(chars: int) -> str:
    """``chars`` characters of the hard corpus, samples joined by the separators in turn."""
    samples = hard_corpus()
    out: list[str] = []
    size = i = 0
    while size < chars:
        out.append(samples[i % len(samples)] + SEPARATORS[i % len(SEPARATORS)])
        size += len(out[-1])
        i += 1
    return "".join(out)[:chars]


# --- the cut rule --------------------------------------------------------------------------------------


def test_installed_ctok_is_the_verified_release() -> None:
    # Without this every other test here would pass by counting whole texts.
    assert claude_verified.ctok_is_verified()


@pytest.mark.parametrize(("text", "lf", "cut"), [
    ("a\nb", 1, 1), ("a\r\nb", 2, 1), ("é\n", 1, 1), (" \n", 1, 1), ("\ud800\n", 1, 1), ("'\n", 1, 1),
    ("\n", 0, -1), ("\r\n", 1, -1),  # nothing ahead: a first piece would be empty
    ("a\n\n", 2, -1),  # inside a run of newlines, whose tokens span it
    ("a\r\r\n", 3, -1), ("a\x01\n", 2, -1), ("a\x7f\n", 2, -1), ("a\x85\n", 2, -1), ("a\ue000\n", 2, -1),
    ("a\x0c\r\n", 3, -1),  # normalization deletes the character ahead, exposing whatever precedes it
    ("a\t\n", 2, 2), ("a\x00\n", 2, 2),  # TAB stays, NUL becomes a space
])
def test_cut_at(text: str, lf: int, cut: int) -> None:
    assert cut_at(text, lf) == cut


def test_pieces_rejoin_and_cut_only_at_safe_places() -> None:
    text = mixed_text(200_000)
    parts = list(pieces(text, 1000))
    assert "".join(parts) == text
    assert len(parts) > 50
    for left, right in itertools.pairwise(parts):
        assert right.startswith(("\n", "\r\n"))
        assert len(left) >= 1000
        assert cut_at(left + right, len(left) + right.index("\n")) == len(left)


def test_text_without_a_safe_cut_is_one_piece() -> None:
    assert list(pieces("a" * 50, 10)) == ["a" * 50]
    assert list(pieces("\n" * 30 + "a" * 20, 10)) == ["\n" * 30 + "a" * 20]
    assert find_cut("ab\n\n\ncd\n", 3) == 7


@pytest.mark.parametrize(("family", "cut_tokens"), [("3", 7 + 1), ("4.7", 11 + 1), ("4.8", 6)])
def test_each_cut_costs_one_frame_and_its_bow(family: str, cut_tokens: int) -> None:
    # 3 and 4.7 end the frame in ⟨bow⟩, which a message opening with a line break writes as a token; 4.8 does not.
    backend = ClaudeBackend(family)
    assert (backend.frame_tokens + (family != "4.8"), backend.cut_tokens) == (cut_tokens, cut_tokens)


# --- parity --------------------------------------------------------------------------------------------


def test_corpus_concatenations_cover_the_corpus() -> None:
    assert sum(map(len, corpus_concatenations())) >= sum(map(len, hard_corpus()))
    assert len(hard_corpus()) >= 3000


@ENGINES
@pytest.mark.parametrize(("family", "ctok_version"), FAMILIES)
def test_corpus_concatenations_match_ctok_cut_everywhere(family: str, ctok_version: str, compiled: bool) -> None:
    cuts = assert_parity(list(corpus_concatenations()), family, ctok_version, piece_chars=1, compiled=compiled)
    assert cuts > 5000


@ENGINES
@pytest.mark.parametrize(("family", "ctok_version"), FAMILIES)
def test_one_mib_of_mixed_text_matches_ctok(family: str, ctok_version: str, compiled: bool) -> None:
    text = mixed_text(1 << 20)
    assert len(list(pieces(text))) == 4  # the default 256 KiB pieces
    assert_parity([text], family, ctok_version, piece_chars=256 * 1024, compiled=compiled,
                  content_backend=compiled)


LONG_RUNS = [
    " " * 300_000, "a" * 300_000, "\n" * 300_000, "é" * 300_000, "A" * 300_000,
    "a\n" * 150_000, "é\r\n" * 100_000, " \n" * 150_000, "x" + "\n" * 300_000, "\n" * 3_000 + "y\n" * 3_000,
    "line one\r\nline two\nline three\r\n\r\n\rmixed\n" * 8_000,
]


@ENGINES
@pytest.mark.parametrize(("family", "ctok_version"), FAMILIES)
def test_long_runs_match_ctok(family: str, ctok_version: str, compiled: bool) -> None:
    assert_parity(LONG_RUNS, family, ctok_version, piece_chars=1000, compiled=compiled, content_backend=compiled)


@cache
def _vocabulary_fragments() -> tuple[str, ...]:
    """The vocabularies' pieces as plain text (markers removed), the strings a tiling could join across a cut."""
    fragments = set()
    for version in ("3.0", "4.7"):
        for piece in ctok.pieces(version):
            for marker in ("⟨bow⟩", "⟨eow⟩", "⟨shift⟩", "⟨caps⟩"):
                piece = piece.replace(marker, "")
            if piece and "⟨0x" not in piece:
                fragments.add(piece)
    return tuple(sorted(fragments))


BOUNDARY = ["\n", "\r\n", "\r", " ", "  ", "\t", "\x00", "\x01", "\x0b", "\x85", "\ue000", "\xa0", "'", "’", "\u0301",
            "\u0e4d", "\u0e32", "\ufdd0", "\ud800", "S", "ll", "日", "1", "٣", "!", "\u3000", "\ufe0f", "\u200d"]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), family=st.sampled_from(FAMILIES), piece_chars=st.integers(1, 24),
       compiled=st.booleans() if HAS_COMPILED else st.just(False))
def test_random_vocabulary_texts_match_ctok(data: st.DataObject, family: tuple[str, str], piece_chars: int,
                                            compiled: bool) -> None:
    fragment = st.sampled_from(_vocabulary_fragments())
    parts = data.draw(st.lists(st.one_of(fragment, st.sampled_from(BOUNDARY)), min_size=1, max_size=40))
    assert_parity(["".join(parts)], family[0], family[1], piece_chars=piece_chars, compiled=compiled)


@needs_compiled
@pytest.mark.parametrize(("family", "ctok_version"), FAMILIES)
def test_compiled_counts_every_corpus_sample_whole(family: str, ctok_version: str) -> None:
    fast = claude_fast.load(family)
    assert fast is not None
    samples = hard_corpus()
    bad = [t for t in samples if fast.framed_count(t) != ctok.token_count(t, ctok_version)]
    assert not bad, f"{len(bad)} of {len(samples)} mismatch, first: {bad[0][:120]!r}"


@settings(max_examples=300, deadline=None)
@given(text=st.text(st.characters(codec=None), max_size=60) | st.sampled_from(hard_corpus()),
       fold_quotes=st.booleans())
def test_fast_nfc_is_ctoks_nfc(text: str, fold_quotes: bool) -> None:
    from ctok.normalize import nfc

    assert claude_fast.nfc(text, fold_quotes=fold_quotes) == nfc(text, fold_quotes=fold_quotes)


# --- behaviour -----------------------------------------------------------------------------------------


def test_pieces_are_counted_one_at_a_time_and_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    backend = ClaudeBackend("4.7", piece_chars=100, compiled=False)
    text = mixed_text(5_000)
    seen: list[int] = []
    calls: list[int] = []
    real = backend._whole

    def whole(t: str) -> int:
        calls.append(len(t))
        return real(t)

    monkeypatch.setattr(backend, "_whole", whole)
    token = piece_reporter.set(seen.append)
    try:
        n = backend.count(text)
    finally:
        piece_reporter.reset(token)
    assert n == ctok.token_count(text, "4.7") - 11
    assert seen == calls and sum(seen) == len(text) and len(seen) > 10


def test_unverified_ctok_counts_whole_texts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(claude_mod, "ctok_is_verified", lambda: False)
    monkeypatch.setattr(claude_fast, "ctok_is_verified", lambda: False)
    backend = ClaudeBackend("3", piece_chars=10)
    assert not backend.compiled  # an unverified ctok gets no compiled counter either
    calls: list[str] = []
    real: Callable[[str], int] = backend._whole

    def whole(t: str) -> int:
        calls.append(t)
        return real(t)

    monkeypatch.setattr(backend, "_whole", whole)
    text = "first line\nsecond line\nthird line\n"
    assert backend.count(text) == ctok.token_count(text, "3.0") - 7
    assert calls == [text]


def test_verification_reads_version_and_data(monkeypatch: pytest.MonkeyPatch) -> None:
    version, digests = claude_verified.installed_ctok()
    assert (version, digests) == (claude_verified.CTOK_VERSION, claude_verified.DATA_SHA256)
    claude_verified.ctok_is_verified.cache_clear()
    monkeypatch.setattr(claude_verified, "installed_ctok", lambda: (version, {**digests, "pieces_v3.json": "0" * 64}))
    try:
        assert not claude_verified.ctok_is_verified()
    finally:
        claude_verified.ctok_is_verified.cache_clear()


@needs_compiled
def test_compiled_counter_is_used_by_default_and_pure_on_request(monkeypatch: pytest.MonkeyPatch) -> None:
    assert ClaudeBackend("4.7").compiled
    monkeypatch.setenv("CTXBUDGET_PURE", "1")
    assert claude_fast.load("4.7") is None
    assert not ClaudeBackend("4.7").compiled
    with pytest.raises(TokenizerLoadError, match="compiled"):
        ClaudeBackend("4.7", compiled=True)


def test_compiled_core_refuses_a_character_it_has_no_facts_for() -> None:
    from ctxbudget.tokenizers import _claude_core

    facts, lower = claude_fast._facts("a")
    _claude_core.set_char(ord("a"), facts, lower)
    model = _claude_core.Model(["b"], 0, True)  # no floor cost set: "a" is no piece and has no price
    with pytest.raises(ValueError, match="no facts or floor"):
        model.count("a", False)
    model.set_floor(ord("a"), 2)
    assert model.count("a", False) == 1 + 2 + 1  # ⟨bow⟩, a at its floor cost, ⟨eow⟩
    with pytest.raises(ValueError):
        model.set_floor(0x110000, 1)
    with pytest.raises(ValueError):
        _claude_core.set_char(ord("a"), 1 << 20, lower)


def test_a_model_whose_init_failed_refuses_to_count_instead_of_crashing() -> None:
    """Review finding: a failed ``__init__`` could leave tables half-built for ``count`` to read."""
    _claude_core = pytest.importorskip("ctxbudget.tokenizers._claude_core")
    model = _claude_core.Model.__new__(_claude_core.Model)
    with pytest.raises(RuntimeError, match="not initialized"):
        model.count("a", False)
    with pytest.raises(TypeError, match="non-empty str"):
        model.__init__(["b", ""], 0, True)
    with pytest.raises(RuntimeError, match="not initialized"):
        model.count("a", False)
    with pytest.raises(RuntimeError, match="not initialized"):
        model.set_floor(ord("a"), 2)
    model.__init__(["b"], 0, True)  # the failed attempt left nothing behind that blocks a good one
    facts, lower = claude_fast._facts("a")
    _claude_core.set_char(ord("a"), facts, lower)
    model.set_floor(ord("a"), 2)
    assert model.count("a", False) == 1 + 2 + 1  # ⟨bow⟩, a at its floor cost, ⟨eow⟩
