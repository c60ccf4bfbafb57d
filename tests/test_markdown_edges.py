"""Instruction files as people write them, at their edges: each case a review found, kept as a test."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from ctxbudget import TokenCounter, fit, load_rules, parse_markdown
from ctxbudget.cli.main import main
from ctxbudget.rules.markdown import MarkdownError

ROOT = Path(__file__).resolve().parent.parent


def units_of(text: str) -> list[str]:
    doc = parse_markdown(text, "X")
    return [doc.unit_text(k) for k in range(len(doc.rules))]


def refit_is_identity(text: str) -> None:
    """A trimmed text read again is the kept units, and fitting it with room to spare changes nothing."""
    body = re.sub(r"\n*<!-- ctxbudget: .*-->\n\Z", "\n", text)
    assert fit(parse_markdown(body, "Y"), "gpt-5-codex", 100_000).text == body


@pytest.mark.parametrize("text", ["", "\n\n", "   \n"])
def test_an_empty_or_blank_file_comes_back_unchanged(text: str, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    assert fit(parse_markdown(text, "E"), "claude", 100).text == text
    path = tmp_path / "e.md"
    path.write_text(text, encoding="utf-8")
    assert main(["fit", str(path), "--render", "-q"]) == 0
    assert capsys.readouterr().out == text


def test_an_empty_list_item_is_a_unit_of_its_own_text() -> None:
    doc = parse_markdown("# Notes\n\n- \n- real\n", "X")
    assert [r.rule for r in doc.rules] == ["-", "real"]
    assert doc.render(doc.rules) == "# Notes\n\n- \n- real\n"


def test_a_dropped_first_item_does_not_glue_the_rest_to_the_lead() -> None:
    text = ("Before you push:\n1. " + "Read the whole contributing guide, every section of it, twice. " * 3
            + "\n2. Run make lint.\n3. Run make test.\n")
    doc = parse_markdown(text, "X")
    out = doc.render(doc.rules[1:])
    assert out == "Before you push:\n\n2. Run make lint.\n3. Run make test.\n"
    assert [t.type for t in MarkdownIt("commonmark").parse(out) if t.level == 0 and t.type.endswith("_open")] == [
        "paragraph_open", "ordered_list_open"]
    refit_is_identity(out)


def test_paragraphs_around_a_dropped_comment_stay_two_paragraphs() -> None:
    text = "Use tabs.\n<!-- " + "a long note " * 20 + "-->\nUse spaces in YAML.\n"
    doc = parse_markdown(text, "X")
    assert [(r.metadata or {})["kind"] for r in doc.rules] == ["paragraph", "html", "paragraph"]
    out = doc.render([doc.rules[0], doc.rules[2]])
    assert out == "Use tabs.\n\nUse spaces in YAML.\n"
    assert units_of(out) == ["Use tabs.\n", "Use spaces in YAML.\n"]


def test_an_html_element_across_blocks_is_one_unit() -> None:
    text = "# T\n\n<details>\n<summary>More</summary>\n\n- hidden item\n\n</details>\n\nAfter.\n"
    doc = parse_markdown(text, "X")
    assert [(r.metadata or {})["kind"] for r in doc.rules] == ["html", "paragraph"]
    assert doc.unit_text(0) == "<details>\n<summary>More</summary>\n\n- hidden item\n\n</details>\n"
    assert doc.render([doc.rules[1]]) == "# T\n\nAfter.\n"


def test_fitting_a_trimmed_file_again_replaces_its_footer() -> None:
    doc = parse_markdown((ROOT / "examples" / "monorepo" / "CLAUDE.md").read_text(encoding="utf-8"), "CLAUDE")
    first = fit(doc, "gpt-5-codex", 2000)
    again = parse_markdown(first.text, "CLAUDE")
    assert len(again.rules) == len(first.included)  # the old footer is not a unit
    second = fit(again, "gpt-5-codex", 1500)
    assert second.text.count("<!-- ctxbudget:") == 1
    assert f"{len(second.skipped)} of {len(again.rules)} units left out to fit 1,500 tokens" in second.text
    assert fit(again, "gpt-5-codex", 100_000).text == first.text  # untrimmed, it stays as it was


def test_in_place_refuses_to_turn_a_rules_file_into_generated_text(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_bytes((ROOT / "examples" / "rules.yaml").read_bytes())
    assert main(["fit", str(rules), "--in-place"]) == 2
    assert "would replace it with other text" in capsys.readouterr().err
    assert rules.read_bytes() == (ROOT / "examples" / "rules.yaml").read_bytes()


def test_output_through_a_symlink_and_to_stdout(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "in.md"
    source.write_text("# T\n\n- one\n- two\n", encoding="utf-8")
    link = tmp_path / "link.md"
    link.symlink_to(source)
    assert main(["fit", str(source), "--budget", "8", "-m", "gpt-5-codex", "-o", str(link), "--in-place", "-q"]) == 0
    assert link.is_symlink() and source.read_text(encoding="utf-8").startswith("# T\n\n- one\n")
    capsys.readouterr()
    assert main(["fit", str(source), "-o", "-", "-q"]) == 0
    assert capsys.readouterr().out == source.read_text(encoding="utf-8")
    assert not (Path.cwd() / "-").exists()


def test_two_files_with_one_name_are_fitted_together(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for folder in ("api", "web"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "CLAUDE.md").write_text(f"# {folder}\n\n- {folder} rule\n", encoding="utf-8")
    code = main(["fit", str(tmp_path / "api" / "CLAUDE.md"), str(tmp_path / "web" / "CLAUDE.md"), "--json"])
    assert code == 0
    ids = re.findall(r'"id": "([^"]+)"', capsys.readouterr().out)
    assert len(ids) == len(set(ids)) == 2 and all("claude" in i for i in ids)


def test_a_budget_below_the_footer_still_keeps_what_fits_without_it() -> None:
    text = "Use tabs.\n\n<!-- " + "a long note " * 20 + "-->\n\nUse spaces in YAML.\n"
    doc = parse_markdown(text, "X")
    result = fit(doc, "gpt-5-codex", 12)
    assert result.tokens <= 12 and result.metadata["footer"] is False
    assert [r.rule for r in result.included] == ["Use tabs.", "Use spaces in YAML."]
    assert result.text == "Use tabs.\n\nUse spaces in YAML.\n"


def test_compression_uses_the_room_it_makes_and_claims_only_what_it_changed() -> None:
    prose = "\n\n".join(f"Rule {n}: keep module {n} small. It does one job. Split it past 300 lines. "
                        "Write its tests first. Review it twice." for n in range(3))
    doc = parse_markdown(prose + "\n", "X")
    squeezed = fit(doc, "gpt-5-codex", 70, compression="intelligent")
    assert squeezed.tokens <= 70
    assert 70 - squeezed.tokens <= 12  # the slack is spent: shortened units grow back while they fit
    monorepo = parse_markdown((ROOT / "examples" / "monorepo" / "CLAUDE.md").read_text(encoding="utf-8"), "C")
    for layout in ("markdown", "generated"):
        plain = fit(monorepo, "gpt-5-codex", 2000, layout=layout)
        simple = fit(monorepo, "gpt-5-codex", 2000, layout=layout, compression="simple")
        assert simple.text == plain.text and simple.shortened == []  # nothing to drop: nothing claimed


def test_unit_costs_are_the_cost_of_their_text() -> None:
    doc = parse_markdown("# T\n\n- Never push to main.\n- Run `make test` before a PR.\n", "X")
    result = fit(doc, "gpt-5-codex", 100_000)
    for unit, rule in zip(result.units(), doc.rules, strict=True):
        assert unit["tokens"] == TokenCounter.count_tokens(rule.rule, "gpt-5-codex")


def test_a_thematic_break_is_carried_but_is_not_rule_text() -> None:
    doc = parse_markdown("- Run make.\n\n---\n\n## Next\n\n- other\n", "X")
    assert doc.rules[0].rule == "Run make."
    claude = fit(doc, "claude", 100_000, layout="generated").text
    assert "- Run make.\n" in claude and "---\n" not in claude.split("## DEFAULT")[1].split("---\n\n*")[0]


def test_generated_layouts_keep_indented_code_nesting_and_write_code_without_a_made_up_name() -> None:
    text = ("- Install the hooks:\n\n      pre-commit install\n\n- Build:\n  - `make build`\n  - `make test`\n\n"
            "```bash\nmake release\n```\n")
    doc = parse_markdown(text, "X")
    claude = fit(doc, "claude", 100_000, layout="generated").text
    assert "- Install the hooks:\n\n      pre-commit install\n" in claude  # 4 past the bullet's content
    gemini = fit(doc, "gemini", 100_000, layout="generated").text
    assert "2. Build:\n   - `make build`\n   - `make test`\n" in gemini
    assert "3.\n   ```bash\n   make release\n   ```\n" in gemini
    assert "bash: make release" not in claude + gemini
    assert not [line for line in (claude + gemini).splitlines() if line != line.rstrip()]


@pytest.mark.parametrize("marker", ["<!-- priority: very high -->", "<!-- priority: 90 (security) -->"])
def test_a_priority_that_is_not_a_number_is_an_error(marker: str) -> None:
    with pytest.raises(MarkdownError, match=r"^X.md:1: priority"):
        parse_markdown(f"{marker}\n- a\n", "X", file="X.md")


def test_the_footer_never_lands_inside_a_fence_the_file_leaves_open() -> None:
    text = "- " + "a rule that is long enough to be left out " * 4 + "\n\n```bash\nmake test\n"
    doc = parse_markdown(text, "X")
    out = doc.render([doc.rules[1]], "<!-- footer -->")
    assert out == "```bash\nmake test\n```\n\n<!-- footer -->\n"
    assert [t.type for t in MarkdownIt("commonmark").parse(out)] == ["fence", "html_block"]


def test_over_budget_says_what_does_not_fit(capsys: pytest.CaptureFixture[str]) -> None:
    rules = str(ROOT / "examples" / "rules.yaml")
    assert load_rules(rules)
    code = main(["fit", rules, "--tool", "codex", "--budget", "2", "--render", "-q"])
    assert code == 1
    assert "the absolute rules alone do not fit" in capsys.readouterr().err
