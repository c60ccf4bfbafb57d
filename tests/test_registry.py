"""Model registry: table-driven over the documented ids (OpenAI encodings, Claude members and generations, Gemini)."""

from __future__ import annotations

import logging

import pytest

import ctxbudget.models.claude_ids as claude_models_mod
from ctxbudget import ClaudeModel, ModelSpec, TokenizerType, UnknownModelError, resolve_model

O200K = [
    "gpt-5", "gpt-5-codex", "gpt-5.1", "gpt-5-mini", "gpt-4.1", "gpt-4.1-mini", "gpt-4.5-preview", "gpt-4o",
    "gpt-4o-mini", "gpt-4o-2024-08-06", "chatgpt-4o-latest", "o1", "o1-mini", "o3", "o3-mini", "o4-mini",
    "codex-mini-latest",
]
CL100K = [
    "gpt-4", "gpt-4-turbo", "gpt-4-0613", "gpt-4-32k", "gpt-4-1106-preview", "gpt-3.5-turbo",
    "gpt-3.5-turbo-0125", "gpt-35-turbo", "text-embedding-3-small", "text-embedding-3-large",
    "text-embedding-ada-002",
]
P50K = ["davinci-codex", "cushman-codex", "code-davinci-001", "code-davinci-002", "code-cushman-001",
        "code-cushman-002"]


@pytest.mark.guarantee(6)
@pytest.mark.parametrize(
    ("model_id", "encoding"),
    [(m, "o200k_base") for m in O200K]
    + [(m, "cl100k_base") for m in CL100K]
    + [("gpt-oss-120b", "o200k_harmony"), ("gpt-oss-20b", "o200k_harmony")]
    + [(m, "p50k_base") for m in P50K],
)
def test_openai_ids_resolve_to_their_encoding(model_id: str, encoding: str) -> None:
    spec = resolve_model(model_id)
    assert spec.provider == "openai"
    assert spec.encoding == encoding
    assert spec.tokenizer_type is TokenizerType.TIKTOKEN
    assert spec.canonical_id == model_id
    assert spec.known is True


@pytest.mark.parametrize(
    ("model_id", "member"),
    [
        ("claude-3-7-sonnet-20250219", ClaudeModel.SONNET_3_7),
        ("claude-sonnet-4-5", ClaudeModel.SONNET_4_5),
        ("claude-sonnet-4-5-20250929", ClaudeModel.SONNET_4_5),
        ("claude-opus-4-0", ClaudeModel.OPUS_4),
        ("claude-opus-4", ClaudeModel.OPUS_4),
        ("claude-opus-4-1", ClaudeModel.OPUS_4_1),
        ("claude-3.5-sonnet", ClaudeModel.SONNET_3_5),
        ("claude-3-5-sonnet", ClaudeModel.SONNET_3_5),
        ("claude-3-5-sonnet-latest", ClaudeModel.SONNET_3_5),
        ("claude-3-5-sonnet-20240620", ClaudeModel.SONNET_3_5_OLD),
        ("claude-3-5-haiku-20241022", ClaudeModel.HAIKU_3_5),
        ("claude-3-haiku-20240307", ClaudeModel.HAIKU_3),
        ("claude-3-opus", ClaudeModel.OPUS_3),
        ("us.anthropic.claude-sonnet-4-20250514-v1:0", ClaudeModel.SONNET_4),
        ("anthropic.claude-3-5-sonnet-20241022-v2:0", ClaudeModel.SONNET_3_5),
        ("global.anthropic.claude-opus-4-1-20250805-v1:0", ClaudeModel.OPUS_4_1),
        ("claude-opus-4-5@20251101", ClaudeModel.OPUS_4_5),
        ("claude-3-7-sonnet@20250219", ClaudeModel.SONNET_3_7),
        ("claude-haiku-4-5", ClaudeModel.HAIKU_4_5),
        ("claude-sonnet-4-6", ClaudeModel.SONNET_4_6),
        ("claude-opus-4-6", ClaudeModel.OPUS_4_6),
        ("claude-opus-4-7", ClaudeModel.OPUS_4_7),
        ("Claude-Sonnet-4-5", ClaudeModel.SONNET_4_5),
    ],
)
def test_claude_ids_resolve_to_members(model_id: str, member: ClaudeModel) -> None:
    assert ClaudeModel.from_model_id(model_id) is member
    spec = resolve_model(model_id)
    assert spec.provider == "anthropic"
    assert spec.canonical_id == member.model_id
    assert spec.tokenizer_type is TokenizerType.CLAUDE
    one_million = member in (ClaudeModel.SONNET_4_6, ClaudeModel.OPUS_4_6, ClaudeModel.OPUS_4_7)
    assert spec.context_window == (1_000_000 if one_million else 200_000)
    assert member.token_limit == 200_000  # the budget default stays the reference value
    assert spec.known is True


@pytest.mark.parametrize(("model_id", "family", "encoding", "window"), [
    ("claude-opus-4-8", "opus", "claude-4.8", 1_000_000),
    ("claude-fable-5-1", "fable", "claude-4.8", 1_000_000),
    ("claude-haiku-5", "haiku", "claude-4.8", 200_000),
    ("claude-opus-4-5", "opus", "claude-3", 200_000),
])
def test_newer_and_unlisted_claude_ids(model_id: str, family: str, encoding: str, window: int) -> None:
    spec = resolve_model(model_id)
    assert (spec.family, spec.encoding, spec.context_window) == (family, encoding, window)


@pytest.mark.parametrize(
    ("model_id", "encoding", "family"),
    [
        ("claude-opus-4-7", "claude-4.7", "opus"),
        ("claude-sonnet-4-6", "claude-3", "sonnet"),
        ("claude-opus-4-6", "claude-3", "opus"),
        ("claude-3-haiku-20240307", "claude-3", "haiku"),
        ("claude-sonnet-4-5", "claude-3", "sonnet"),
        ("claude-default", "claude-4.7", "opus"),
        ("claude", "claude-4.7", "opus"),
    ],
)
def test_claude_tokenizer_generation(model_id: str, encoding: str, family: str) -> None:
    spec = resolve_model(model_id)
    assert spec.encoding == encoding
    assert spec.family == family


@pytest.mark.parametrize(
    ("model_id", "family", "encoding", "window"),
    [
        ("claude-sonnet-5", "sonnet", "claude-4.8", 1_000_000),
        ("claude-opus-4-9", "opus", "claude-4.8", 1_000_000),
        ("claude-haiku-4-2", "haiku", "claude-3", 200_000),
        ("claude-3-9-sonnet", "sonnet", "claude-3", 200_000),
    ],
)
def test_unlisted_well_formed_claude_ids_are_unknown(model_id: str, family: str, encoding: str, window: int) -> None:
    spec = resolve_model(model_id)
    expected = ModelSpec("anthropic", family, model_id, TokenizerType.CLAUDE, encoding, window, known=False)
    assert spec == expected


@pytest.mark.parametrize(
    ("model_id", "window"),
    [("gemini-3-pro-preview", 1_048_576), ("gemini-2.5-flash", 1_048_576), ("gemini-2.0-flash", 1_048_576),
     ("gemini-1.5-pro", 2_097_152), ("gemini-1.5-flash-002", 1_048_576), ("models/gemini-2.5-pro", 1_048_576),
     ("palm-2", 8_196)],
)
def test_gemini_ids_resolve_to_google(model_id: str, window: int) -> None:
    spec = resolve_model(model_id)
    assert spec.provider == "google"
    assert spec.family == "gemini"
    assert spec.encoding == "gemini"
    assert spec.context_window == window
    assert spec.canonical_id == model_id.removeprefix("models/")


@pytest.mark.parametrize("model_id", ["GPT-4O", "gpt-4o", " Gpt-4o ", "GPT-4o-MINI"])
def test_resolution_is_case_insensitive(model_id: str) -> None:
    spec = resolve_model(model_id)
    assert spec.encoding == "o200k_base"
    assert spec.canonical_id == model_id.strip().lower()


def test_longest_pattern_wins() -> None:
    assert resolve_model("gpt-4-turbo-2024-04-09").context_window == 128_000  # gpt-4-turbo* beats gpt-4-*
    assert resolve_model("gpt-4-1106-preview").context_window == 128_000  # gpt-4-*-preview beats gpt-4-*
    assert resolve_model("gpt-4-0613").context_window == 8_192
    assert resolve_model("gpt-5-codex").family == "codex"  # gpt-5-codex* beats gpt-5*
    assert resolve_model("gpt-5").family == "gpt"
    assert resolve_model("o1-mini").context_window == 128_000
    assert resolve_model("o1").context_window == 200_000


def test_exact_ids_beat_patterns() -> None:
    # "davinci-codex" also matches "*codex*" (o200k_base); the exact legacy row wins.
    assert resolve_model("davinci-codex").encoding == "p50k_base"
    assert resolve_model("my-codex-model").encoding == "o200k_base"


def test_tool_names_resolve() -> None:
    assert resolve_model("codex").canonical_id == "gpt-5-codex"
    assert resolve_model("codex").encoding == "o200k_base"
    assert resolve_model("gemini").provider == "google"
    assert resolve_model("claude").canonical_id == "claude-default"


def test_unknown_model_suggests_close_match() -> None:
    with pytest.raises(UnknownModelError, match="gtp-4o") as info:
        resolve_model("gtp-4o")
    assert "did you mean gpt-4o" in str(info.value)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("model_id", ["", "llama-3-70b", "claude-2.1", "gemini-pro-vision"])
def test_unknown_models_raise(model_id: str) -> None:
    with pytest.raises(UnknownModelError):
        resolve_model(model_id)


def test_non_str_model_id_raises_type_error() -> None:
    with pytest.raises(TypeError):
        resolve_model(None)  # type: ignore[arg-type]


def test_claude_members_table() -> None:
    expected = {
        "HAIKU_3": "claude-3-haiku-20240307", "SONNET_3": "claude-3-sonnet-20240229",
        "OPUS_3": "claude-3-opus-20240229", "SONNET_3_5_OLD": "claude-3-5-sonnet-20240620",
        "SONNET_3_5": "claude-3-5-sonnet-20241022", "HAIKU_3_5": "claude-3-5-haiku-20241022",
        "SONNET_3_7": "claude-3-7-sonnet-20250219", "SONNET_4": "claude-sonnet-4-20250514",
        "OPUS_4": "claude-opus-4-20250514", "OPUS_4_1": "claude-opus-4-1-20250805",
        "SONNET_4_5": "claude-sonnet-4-5-20250929", "HAIKU_4_5": "claude-haiku-4-5-20251001",
        "OPUS_4_5": "claude-opus-4-5-20251101", "SONNET_4_6": "claude-sonnet-4-6",
        "OPUS_4_6": "claude-opus-4-6", "OPUS_4_7": "claude-opus-4-7", "DEFAULT": "claude-default",
    }
    assert {m.name: m.model_id for m in ClaudeModel} == expected
    assert {m.token_limit for m in ClaudeModel} == {200_000}


@pytest.mark.guarantee(42)
def test_unknown_claude_id_gives_default_and_warns_once_per_id(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(claude_models_mod, "_warned_ids", set())
    caplog.set_level(logging.WARNING, logger="ctxbudget.claude")
    assert ClaudeModel.from_model_id("claude-mystery") is ClaudeModel.DEFAULT
    assert ClaudeModel.from_model_id("claude-mystery") is ClaudeModel.DEFAULT
    assert ClaudeModel.from_model_id("not-a-claude") is ClaudeModel.DEFAULT
    assert ClaudeModel.from_model_id("claude-mystery") is ClaudeModel.DEFAULT
    assert ClaudeModel.from_model_id("claude-sonnet-4-5") is ClaudeModel.SONNET_4_5
    messages = [r.getMessage() for r in caplog.records if r.name == "ctxbudget.claude"]
    assert len(messages) == 2
    assert "'claude-mystery'" in messages[0]
    assert "'not-a-claude'" in messages[1]
    assert all(r.levelno == logging.WARNING for r in caplog.records if r.name == "ctxbudget.claude")
