"""Markdown instruction files: units read with a CommonMark parser, written back byte for byte, trimmed to fit."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
from markdown_it import MarkdownIt
from mdit_py_plugins.front_matter import front_matter_plugin

from ctxbudget import TokenCounter, fit, load_rules, parse_markdown
from ctxbudget.fitting import footer_line
from ctxbudget.rules.loaders import load_document
from ctxbudget.rules.markdown import MarkdownDocument, MarkdownError, split_lines

ROOT = Path(__file__).resolve().parent.parent
#: instruction files written for these tests (what each covers: FEATURES.txt there), and the long bundled example
CORPUS = sorted([*(Path(__file__).resolve().parent / "fixtures" / "instructions").glob("*.md"),
                 ROOT / "examples" / "monorepo" / "CLAUDE.md"])
BUNDLED = sorted((ROOT / "examples" / "instructions").glob("*.md"))
FOOTER = re.compile(r"<!-- ctxbudget: (\d+) of (\d+) units? left out to fit [\d,]+ tokens for \S+ -->")


def read(path: Path) -> str:
    with path.open(encoding="utf-8", newline="") as fh:  # CRLF stays CRLF
        return fh.read()


def document(path: Path) -> MarkdownDocument:
    loaded = load_document(path)
    assert isinstance(loaded, MarkdownDocument)
    return loaded


def test_the_corpus_covers_what_it_claims() -> None:
    texts = {p.name: read(p) for p in CORPUS}
    assert len(texts) >= 20
    assert sum("\r\n" in t for t in texts.values()) >= 2
    assert any(t.startswith("\ufeff") for t in texts.values())
    assert any(not t.endswith("\n") for t in texts.values())
    assert any(t.startswith("---\n") for t in texts.values())  # front matter
    joined = "".join(texts.values())
    for needle in ("```python", "```bash", "```go", "~~~", "````", "| --- |" if "| --- |" in joined else "|:--",
                   "<!-- absolute -->", "<!-- priority:", "](#", "\t- ", "Ж" if "Ж" in joined else "ы"):
        assert needle in joined, needle


@pytest.mark.guarantee(53)
@pytest.mark.parametrize("path", CORPUS + BUNDLED, ids=lambda p: p.name)
@pytest.mark.parametrize("model", ["gpt-5-codex", "claude", "gemini-2.5-pro"])
def test_a_budget_larger_than_the_file_returns_it_unchanged(path: Path, model: str) -> None:
    text = read(path)
    result = fit(document(path), model, 1_000_000)
    assert result.text == text
    assert result.skipped == [] and result.over_budget is False
    assert result.tokens == TokenCounter.count_tokens(text, model)


@pytest.mark.guarantee(53)
@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.name)
def test_trimmed_files_are_whole_units_in_file_order_under_their_headings(path: Path) -> None:
    doc = document(path)
    full = TokenCounter.count_tokens(doc.text, "gpt-5-codex")
    for budget in (full // 2, full // 4):
        result = fit(doc, "gpt-5-codex", budget)
        assert result.tokens == TokenCounter.count_tokens(result.text, "gpt-5-codex")
        assert result.tokens <= budget or result.over_budget
        body, footer = result.text.rstrip("\r\n").rsplit(doc.newline, 1)
        match = FOOTER.fullmatch(footer)
        if result.metadata["footer"]:
            assert match is not None and int(match.group(1)) == len(result.skipped) > 0
        else:  # a budget below even the frame and footer: the footer gave way
            assert match is None and FOOTER.search(result.text) is None
            body = result.text
        at = 0
        for rule in result.included:  # allocation order is not file order: look each unit up from its line
            assert doc.unit_text(doc.rules.index(rule)) in body
        kept = sorted(doc.rules.index(r) for r in result.included)
        for k in kept:
            unit = doc.unit_text(k)
            found = body.find(unit, at)
            assert found >= 0, f"unit {k + 1} missing or out of order"
            at = found + len(unit)
        assert every_heading_has_content(body)
        assert all(r in result.included for r in doc.rules if r.is_absolute) or result.over_budget


def every_heading_has_content(text: str) -> bool:
    """Re-parsed, no heading is followed only by headings of the same or a higher level (or nothing)."""
    parser = MarkdownIt("commonmark").enable("table").use(front_matter_plugin)
    blocks = [t for t in parser.parse(text.lstrip("\ufeff")) if t.level == 0 and t.map]
    for n, token in enumerate(blocks):
        if token.type != "heading_open":
            continue
        level = int(token.tag[1])
        for after in blocks[n + 1:]:
            if after.type == "heading_open" and int(after.tag[1]) <= level:
                return False
            if after.type != "heading_open":
                break
        else:
            return False
    return True


# --- the reproductions of the issue ------------------------------------------------------------------------

def test_a_code_block_after_a_paragraph_belongs_to_it_and_survives_the_cli(tmp_path: Path,
                                                                          capsys: pytest.CaptureFixture[str]) -> None:
    """`printf 'Run:\\n\\n```bash\\nmake test\\n```\\n' > a.md; ctxbudget fit a.md --render` lost `make test`."""
    from ctxbudget.cli.main import main

    path = tmp_path / "a.md"
    path.write_text("Run:\n\n```bash\nmake test\n```\n", encoding="utf-8")
    assert main(["fit", str(path), "--render"]) == 0
    assert capsys.readouterr().out == "Run:\n\n```bash\nmake test\n```\n"
    (rule,) = load_rules(path)
    assert rule.metadata is not None and (rule.metadata["kind"], rule.metadata["atomic"]) == ("paragraph+code", True)


COMMANDS = """# CLAUDE.md

## Overview

This is a Bun + TypeScript monorepo for the storefront and its admin app. Read this before you change anything.

## Commands

```bash
bun install
bun test --coverage      // runs every package's tests
bun run lint
```

## Style

- Prefer small, pure functions; avoid classes unless a framework asks for one.
- Name files in kebab-case; React components in PascalCase.
"""


def test_a_commands_block_under_a_heading_is_kept_whole_when_it_fits() -> None:
    """A `## Commands` block with `bun test …` vanished even at a 5,000 budget."""
    result = fit(parse_markdown(COMMANDS, "CLAUDE"), "claude", 5000)
    assert result.text == COMMANDS
    tight = fit(parse_markdown(COMMANDS, "CLAUDE"), "gpt-5-codex", 70)
    if "bun test" in tight.text:  # kept: whole, with the line after its `//` comment
        assert "bun test --coverage      // runs every package's tests\nbun run lint\n```" in tight.text


@pytest.mark.guarantee(54)
def test_fenced_code_is_never_flattened_or_cut() -> None:
    """On one real CLAUDE.md 61 of 106 code lines were lost: here every fence of the corpus is kept whole."""
    for path in CORPUS:
        doc = document(path)
        fences = [t.content for t in MarkdownIt("commonmark").parse(doc.text) if t.type == "fence"]
        kept_all = doc.render(doc.rules)
        assert [t.content for t in MarkdownIt("commonmark").parse(kept_all) if t.type == "fence"] == fences
        code = [r for r in doc.rules if "```" in r.rule or "~~~" in r.rule]
        assert all(r.metadata and r.metadata["atomic"] for r in code), path.name


LIST_CONTEXT = """## Layout

Where things live:

- `src/` holds the library; `tests/` the suite, and runnable samples go in
`examples/`.
- Docs are in `docs/`:
  - `docs/api.md` for the API,
  - `docs/cli.md` for the command line.

## Contents

- [Layout](#layout)
- [Testing](#testing)

## Testing

Run everything with `make test`.
"""


def test_list_items_keep_their_sentence_nesting_and_lead_and_a_toc_is_one_unit() -> None:
    """Every paragraph and item was a rule of its own, headings dropped, "`examples/`." lost its sentence, and
    table-of-contents links became rules."""
    doc = parse_markdown(LIST_CONTEXT, "AGENTS")
    kinds = [(r.metadata or {})["kind"] for r in doc.rules]
    assert kinds == ["item", "item", "toc", "paragraph"]
    assert doc.rules[0].rule == "`src/` holds the library; `tests/` the suite, and runnable samples go in\n`examples/`."
    assert doc.rules[1].rule == ("Docs are in `docs/`:\n- `docs/api.md` for the API,\n"
                                 "- `docs/cli.md` for the command line.")
    assert doc.rules[2].priority == 5.0  # the first to go: its anchors may point at sections left out
    # the lead ("Where things live:") and the heading come with any kept item, and only then
    only_second = doc.render([doc.rules[1]])
    assert only_second == ("## Layout\n\nWhere things live:\n\n- Docs are in `docs/`:\n"
                           "  - `docs/api.md` for the API,\n  - `docs/cli.md` for the command line.\n")
    assert doc.render([doc.rules[3]]) == "## Testing\n\nRun everything with `make test`.\n"


def test_generated_layout_of_markdown_rules_is_clean() -> None:
    """Rendering repeated each rule as "its first six words: the full text", flattened nested lists, printed
    `****Location:** …**` and a `Source: file:AGENTS` line after every rule."""
    text = LIST_CONTEXT + "\n## Secrets\n\n- **Location:** keys live in `/app/keys`, never in the repo.\n"
    doc = parse_markdown(text, "AGENTS")
    claude = fit(doc, "claude", 100_000, layout="generated").text
    assert "- `src/` holds the library" in claude  # no "**name**: " repeating the text
    assert "  - `docs/api.md` for the API," in claude  # nested under its bullet
    assert "- **Location**: keys live in `/app/keys`, never in the repo." in claude
    assert "****" not in claude and "Source:" not in claude and "::" not in claude
    codex = fit(doc, "gpt-5-codex", 100_000, layout="generated").text
    assert "Where things live" not in codex  # a lead is context, not a rule
    assert "[1] (Behavior)\n`src/` holds" in codex


def test_sources_are_shown_when_rules_come_from_several() -> None:
    from ctxbudget import MemoryRule

    def rule(n: int, source: str) -> MemoryRule:
        return MemoryRule(id=f"r{n}", category="behavior", name=f"R{n}", rule=f"Rule {n}.", authority="default",
                          scope=[], source=source)

    assert "Source:" not in fit([rule(1, "team"), rule(2, "team")], "claude", 10_000).text
    text = fit([rule(1, "team"), rule(2, "learned")], "claude", 10_000).text
    assert "  - Source: team" in text and "  - Source: learned" in text


@pytest.mark.guarantee(55)
def test_the_footer_counts_exactly_the_units_left_out() -> None:
    """The footer said 4 where 10 were skipped, 3 where 134 were."""
    for path in CORPUS[:6]:
        doc = document(path)
        for budget in (150, 400, 900):
            result = fit(doc, "gpt-5-codex", budget)
            if result.skipped and result.metadata["footer"]:
                match = FOOTER.search(result.text)
                assert match is not None
                assert (int(match.group(1)), int(match.group(2))) == (len(result.skipped), len(doc.rules))
    rules = load_rules(ROOT / "examples" / "rules.yaml")
    for tool, pattern in (("claude", r"\*(\d+) additional rules skipped"), ("codex", r"--- (\d+) rules omitted"),
                          ("gemini", r"\((\d+) additional guidelines omitted")):
        result = fit(rules, tool, 300)
        match = re.search(pattern, result.text)
        assert match is not None and int(match.group(1)) == len(result.skipped) > 0


@pytest.mark.guarantee(55)
@pytest.mark.parametrize("strategy", ["priority", "round_robin", "equal"])
@pytest.mark.parametrize("layout", ["markdown", "generated"])
def test_the_text_holds_exactly_the_managers_choice(strategy: str, layout: str) -> None:
    """`--strategy round_robin` gave output identical to `priority` although the manager picks differently."""
    from ctxbudget import TokenBudgetManager

    doc = document(next(p for p in CORPUS if p.name == "django-CLAUDE.md"))
    result = fit(doc, "gpt-5-codex", 900, strategy=strategy, layout=layout)
    manager = TokenBudgetManager(allocation_strategy=strategy, overhead_percentage=0.0)
    choice = manager.allocate_budget(doc.rules, result.allocation.total_budget, "gpt-5-codex")
    assert [r.id for r in choice.rules_included] == [r.id for r in result.included]
    if layout == "markdown":
        expected = doc.render(result.included, footer_line(len(result.skipped), len(doc.rules), 900, "gpt-5-codex"))
        assert result.text == expected
    else:
        for rule in doc.rules:
            assert (rule.rule.split("\n")[0] in result.text) == (rule in result.included) or len(
                rule.rule.split("\n")[0]) < 12


def test_strategies_give_different_texts_when_they_choose_differently() -> None:
    doc = document(ROOT / "examples" / "monorepo" / "CLAUDE.md")
    texts = {s: fit(doc, "gpt-5-codex", 2500, strategy=s).text for s in ("priority", "round_robin", "equal")}
    chosen = {s: tuple(r.id for r in fit(doc, "gpt-5-codex", 2500, strategy=s).included) for s in texts}
    for a in texts:
        for b in texts:
            assert (texts[a] == texts[b]) == (set(chosen[a]) == set(chosen[b]))
    assert len(set(texts.values())) >= 2


@pytest.mark.guarantee(54)
def test_compression_shortens_only_where_it_lets_more_fit_and_says_which() -> None:
    """`--compression simple|intelligent` never changed the output."""
    prose = "\n\n".join(
        f"Rule {n}: keep module {n} small. It should do one job. Split it when it grows past three hundred lines. "
        "Write its tests first." for n in range(12))
    doc = parse_markdown(prose + "\n", "CLAUDE")
    plain = fit(doc, "gpt-5-codex", 200)
    squeezed = fit(doc, "gpt-5-codex", 200, compression="intelligent")
    assert squeezed.tokens <= 200
    assert len(squeezed.included) > len(plain.included)
    assert squeezed.shortened and all(r.metadata and r.metadata["shortened"] for r in squeezed.shortened)
    for rule in squeezed.shortened:
        assert rule.rule in squeezed.text and doc.rules[doc.rules.index(
            next(r for r in doc.rules if r.id == rule.id))].rule not in squeezed.text
    roomy = fit(doc, "gpt-5-codex", 100_000, compression="intelligent")
    assert roomy.shortened == [] and roomy.text == doc.text
    code = parse_markdown("Run:\n\n```bash\nmake test. make lint. make docs.\n```\n" * 3, "X")
    assert fit(code, "gpt-5-codex", 40, compression="intelligent").shortened == []  # code is never cut


def test_markers_front_matter_crlf_and_bom() -> None:
    text = ("\ufeff---\r\ndescription: rules\r\n---\r\n# T\r\n\r\n<!-- absolute -->\r\n- keep me\r\n"
            "<!-- priority: 90 -->\r\n- high\r\n- low\r\n\r\n[ref]: https://example.com\r\n")
    doc = parse_markdown(text, "R")
    assert [(r.authority.value, r.priority) for r in doc.rules] == [("absolute", None), ("default", 90.0),
                                                                   ("default", None)]
    assert doc.newline == "\r\n"
    out = doc.render([doc.rules[0]], "<!-- x -->")
    assert out == ("\ufeff---\r\ndescription: rules\r\n---\r\n# T\r\n\r\n<!-- absolute -->\r\n- keep me\r\n\r\n"
                   "[ref]: https://example.com\r\n\r\n<!-- x -->\r\n")
    assert doc.render(doc.rules) == text
    assert split_lines("a\rb\u2028c\x0cd\n") == ["a\r", "b\u2028c\x0cd\n"]


def test_a_marker_before_a_heading_covers_its_section() -> None:
    doc = parse_markdown("<!-- absolute -->\n## Deploys\n\n- one\n- two\n\n## Other\n\n- three\n", "X")
    assert [r.authority.value for r in doc.rules] == ["absolute", "absolute", "default"]
    doc = parse_markdown("## Never do this\n\n- a\n<!-- default -->\n- b\n", "X")
    assert [r.authority.value for r in doc.rules] == ["absolute", "default"]
    title_only = parse_markdown("# Always-on rules for the repo\n\n## Setup\n\n- a\n", "X")
    assert [r.authority.value for r in title_only.rules] == ["default"]  # the title does not make all absolute


def test_a_bad_priority_marker_names_the_file_and_line(tmp_path: Path) -> None:
    from ctxbudget import RulesFileError

    with pytest.raises(MarkdownError, match=r"^X.md:3: priority"):
        parse_markdown("# T\n\n<!-- priority: high -->\n- a\n", "X", file="X.md")
    path = tmp_path / "CLAUDE.md"
    path.write_text("- a\n<!-- priority: 120 -->\n- b\n", encoding="utf-8")
    with pytest.raises(RulesFileError, match=rf"^{re.escape(str(path))}:2: priority"):
        load_rules(path)


def test_a_shortened_item_is_written_after_its_marker_and_name() -> None:
    doc = parse_markdown("- <!-- priority: 60 --> **Tabs:** use tabs. Always.\n- other\n", "X")
    short = dataclasses.replace(doc.rules[0], rule="use tabs.")
    assert doc.render([short]) == "- <!-- priority: 60 --> **Tabs:** use tabs.\n"
