"""The parsed-vocabulary cache: verified tables are reused across processes, corrupt ones are ignored."""

from __future__ import annotations

from pathlib import Path

import pytest

from ctxbudget import TokenizerFactory
from ctxbudget.tokenizers import openai as openai_mod


def _derived(tmp: Path) -> Path:
    spec = openai_mod.ENCODINGS["cl100k_base"]
    return tmp / f"cl100k_base-{spec.sha256[:16]}.marshal"


def test_derived_table_is_written_and_reused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CTXBUDGET_CACHE_DIR", str(tmp_path))
    TokenizerFactory.clear_cache()
    ranks = openai_mod.load_mergeable_ranks("cl100k_base")
    path = _derived(tmp_path)
    assert path.is_file()
    assert len(ranks) == 100256
    TokenizerFactory.clear_cache()
    parsed: list[str] = []
    monkeypatch.setattr(openai_mod, "_parse_verified", lambda spec: parsed.append(spec.name) or {})
    assert openai_mod.load_mergeable_ranks("cl100k_base") == ranks
    assert parsed == []


def test_corrupt_derived_table_is_ignored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CTXBUDGET_CACHE_DIR", str(tmp_path))
    TokenizerFactory.clear_cache()
    good = openai_mod.load_mergeable_ranks("cl100k_base")
    path = _derived(tmp_path)
    data = bytearray(path.read_bytes())
    data[-10] ^= 0xFF
    path.write_bytes(bytes(data))
    TokenizerFactory.clear_cache()
    assert openai_mod.load_mergeable_ranks("cl100k_base") == good
    assert _derived(tmp_path).read_bytes() != bytes(data)  # rewritten from the verified source


def test_cache_can_be_turned_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CTXBUDGET_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("CTXBUDGET_NO_VOCAB_CACHE", "1")
    TokenizerFactory.clear_cache()
    openai_mod.load_mergeable_ranks("cl100k_base")
    assert list(tmp_path.iterdir()) == []
