"""One registry, one answer: every registered tool name and model id is counted by the same tokenizer through
every entry point — ``count``, ``check``, ``fit``, the formatters, ``TokenBudgetManager``,
``ClaudeBudgetManager``, ``truncate``/``fits`` and the ``TokenCounter`` façade.

Review finding: ``fit`` and ``check`` turned a model id into an agent name and counted with the agent's
tokenizer, so ``fit(rules, "gpt-4", ...)`` reported o200k counts for a cl100k model.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from ctxbudget import (
    MODEL_MAPPINGS,
    ClaudeBudgetManager,
    Counter,
    FormatManager,
    MemoryRule,
    TokenBudgetManager,
    TokenCounter,
    TokenizerFactory,
    UnknownModelError,
    backend_for,
    fit,
    resolve_model,
    truncate,
)
from ctxbudget.cli.main import main
from ctxbudget.fitting import ADAPTERS
from ctxbudget.models.registry import known_model_ids

RUSSIAN = ("Всегда запускайте тесты перед коммитом. Никогда не храните секреты в репозитории; используйте "
           "переменные окружения. Пишите короткие функции и понятные имена.")


def russian_rules(n: int = 12) -> list[MemoryRule]:
    return [MemoryRule(id=f"r{i}", category="behavior", name=f"Правило {i}", rule=RUSSIAN,
                       authority="absolute" if i == 0 else "default", scope=[]) for i in range(n)]


def cl100k(text: str) -> int:
    return TokenizerFactory.get_openai_backend("cl100k_base").count(text)


def test_fit_for_gpt_4_counts_with_cl100k() -> None:
    """The reported case: Russian text, gpt-4, a budget everything fits in."""
    result = fit(russian_rules(), "gpt-4", 100_000)
    assert result.provenance["tokenizer_id"].startswith("tiktoken:cl100k_base@")
    assert result.tokens == cl100k(result.text)
    o200k = TokenizerFactory.get_openai_backend("o200k_base").count(result.text)
    assert result.tokens > o200k  # the two differ on this text, so the old answer cannot pass
    assert result.tool == "codex"


def test_a_claude_3_model_is_counted_with_the_claude_3_generation() -> None:
    result = fit(russian_rules(3), "claude-3-opus-20240229", 100_000)
    assert result.provenance["tokenizer_id"].startswith("ctok:claude-3@")
    assert result.tokens == TokenizerFactory.get_claude_backend("3").count(result.text)


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> dict:  # type: ignore[type-arg]
    assert main(list(argv)) in (0, 1)
    return json.loads(capsys.readouterr().out)  # type: ignore[no-any-return]


@pytest.mark.parametrize("model_id", known_model_ids())
def test_every_entry_point_counts_a_model_with_its_registry_tokenizer(
    model_id: str, capsys: pytest.CaptureFixture[str], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR)  # p50k_base models warn that their vocabulary is not installed
    spec = resolve_model(model_id)
    expected = backend_for(model_id)
    tokenizer_id = expected.tokenizer_id
    text = RUSSIAN + " Some English, code() {return 42;} and 12345 numbers."
    rules = russian_rules(4)
    file = tmp_path / "AGENTS.md"
    file.write_text(text, encoding="utf-8")
    found: dict[str, str] = {}

    found["façade"] = TokenCounter.count_tokens_detailed(text, model_id).tokenizer_id
    assert TokenCounter.count_tokens(text, model_id) == expected.count(text)
    assert TokenCounter.count_tokens_with_model(text, model_id) == expected.count(text)
    found["Counter.for_model"] = Counter.for_model(model_id).backend.tokenizer_id
    found["count"] = _cli(capsys, "count", str(file), "-m", model_id, "--json")["models"][0]["tokenizer_id"]
    found["check"] = _cli(capsys, "check", str(file), "--tool", model_id, "--json")["tools"][0]["provenance"][
        "tokenizer_id"]
    result = fit(rules, model_id, 5000)
    found["fit"] = result.provenance["tokenizer_id"]
    assert result.tokens == expected.count(result.text)
    assert result.tool == spec.agent
    adapter = ADAPTERS[spec.agent](counter=Counter.for_model(model_id))
    found["formatter"] = adapter.format_rules(rules, 5000).metadata["tokenizer_id"]
    formatted = FormatManager().format_for_tool(model_id, rules, 5000)
    found["FormatManager"] = formatted.metadata["tokenizer_id"]
    assert formatted.token_count == expected.count(formatted.content)
    allocation = TokenBudgetManager().allocate_budget(rules, 5000, model_id)
    found["TokenBudgetManager"] = allocation.allocation_stats["tokenizer_id"]
    if spec.provider == "anthropic":
        claude = ClaudeBudgetManager(model=model_id).allocate_budget(rules)
        found["ClaudeBudgetManager"] = claude.base_allocation.allocation_stats["tokenizer_id"]
    cut = truncate(text, 10, model_id)
    assert cut.tokens == expected.count(cut.text) <= 10
    assert found == dict.fromkeys(found, tokenizer_id)


def test_tool_names_render_for_their_agent_and_follow_the_claude_model(monkeypatch: pytest.MonkeyPatch) -> None:
    assert {name: resolve_model(name).agent for name in ("claude", "codex", "gpt", "openai", "gemini", "palm")} == {
        "claude": "claude", "codex": "codex", "gpt": "codex", "openai": "codex", "gemini": "gemini",
        "palm": "gemini"}
    monkeypatch.setenv("CLAUDE_MODEL", "claude-3-5-sonnet-20241022")
    assert resolve_model("claude").encoding == "claude-3"
    assert fit(russian_rules(2), "claude", 10_000).provenance["tokenizer_id"].startswith("ctok:claude-3@")
    result = ClaudeBudgetManager().allocate_budget(russian_rules(2))  # DEFAULT follows the model in use too
    assert result.base_allocation.allocation_stats["tokenizer_id"].startswith("ctok:claude-3@")


def test_model_mappings_is_a_view_whose_every_change_takes_effect() -> None:
    """Review finding: a dict subclass, so ``|=`` and ``popitem`` bypassed the route reset."""
    text = "Привет, мир! Tokenizers differ on Cyrillic text."
    mappings = MODEL_MAPPINGS
    assert mappings["codex"] == "o200k_base" and "CODEX" in mappings
    assert not isinstance(mappings, dict)
    TokenCounter.count_tokens(text, "codex")  # route learned, hot path ready
    mappings |= {"codex": "cl100k_base"}
    assert TokenCounter.count_tokens(text, "codex") == cl100k(text)
    assert Counter.for_model("codex").backend.tokenizer_id.startswith("tiktoken:cl100k_base@")
    assert resolve_model("codex").agent == "codex"  # the tool keeps its format and budget
    mappings.update(gpt="gpt-4")
    assert TokenCounter.count_tokens(text, "gpt") == cl100k(text)
    mappings["mytool"] = "claude-3-haiku"
    assert resolve_model("MyTool").budget_key == "mytool" and resolve_model("mytool").agent == "claude"
    popped = dict(mappings.popitem() for _ in range(len(mappings)))  # popitem empties it, one change at a time
    assert len(mappings) == 0 and popped["mytool"] == "claude-3-haiku"
    assert TokenCounter.count_tokens(text, "mytool") == len(text) // 4  # unknown: len // 4
    with pytest.raises(UnknownModelError, match="did you mean"):
        resolve_model("gpt")  # no tool of that name any more, and no model id either
    mappings.update({k: v for k, v in popped.items() if k != "mytool"})
    assert TokenCounter.count_tokens(text, "gpt") == cl100k(text)  # restored
    with pytest.raises(UnknownModelError, match="not-a-tokenizer"):
        mappings["codex"] = "not-a-tokenizer"
    assert mappings["codex"] == "cl100k_base"  # a refused change changes nothing
    del mappings["codex"]
    assert "codex" not in mappings
    assert mappings | {"x": "y"} == {**dict(mappings), "x": "y"}


def test_model_mappings_copies_are_plain_dicts_that_change_nothing() -> None:
    """Review finding: copy.deepcopy(MODEL_MAPPINGS) returned the live view, so deleting from the 'copy'
    removed a tool for the whole process; .copy() did not exist."""
    import copy

    for duplicate in (MODEL_MAPPINGS.copy(), copy.copy(MODEL_MAPPINGS), copy.deepcopy(MODEL_MAPPINGS)):
        assert type(duplicate) is dict and duplicate["palm"] == "gemini"
        del duplicate["palm"]
        assert "palm" in MODEL_MAPPINGS


def test_a_retargeted_tool_keeps_its_model_and_window() -> None:
    """Review finding: codex retargeted to cl100k kept gpt-5-codex's id but took gpt-4's 8k window."""
    before = resolve_model("codex")
    MODEL_MAPPINGS["codex"] = "cl100k_base"
    after = resolve_model("codex")
    assert (after.canonical_id, after.context_window, after.encoding) == (before.canonical_id,
                                                                          before.context_window, "cl100k_base")
    MODEL_MAPPINGS["newtool"] = "cl100k_base"  # no model of its own: the encoding's representative, gpt-4
    assert (resolve_model("newtool").canonical_id, resolve_model("newtool").context_window) == ("gpt-4", 8_192)
