"""Property test: generated instruction files, random budgets — what ``fit`` writes is always a faithful trim."""

from __future__ import annotations

import re
from collections import Counter as Multiset
from collections.abc import Iterable

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt
from mdit_py_plugins.front_matter import front_matter_plugin

from ctxbudget import MarkdownDocument, TokenCounter, fit, parse_markdown

WORDS = st.sampled_from(["run", "tests", "never", "push", "main", "use", "tabs", "the", "API", "café", "данные",
                         "`make lint`", "**bold**", "[docs](https://example.com)", "数据", "→", "keys"])
FOOTER = re.compile(r"<!-- ctxbudget: (\d+) of (\d+) units? left out to fit [\d,]+ tokens for \S+ -->")
MODELS = st.sampled_from(["gpt-5-codex", "gpt-4", "claude", "gemini-2.5-pro"])


def sentence(draw: st.DrawFn, colon: bool = False) -> str:
    words = draw(st.lists(WORDS, min_size=1, max_size=12))
    return " ".join(words) + (":" if colon else draw(st.sampled_from([".", "", "!"])))


@st.composite
def blocks(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["heading", "paragraph", "lead", "list", "fence", "table", "comment", "marker",
                                 "hr", "quote", "nested"]))
    if kind == "heading":
        title = draw(st.sampled_from(["Setup", "Critical rules", "Style", "Never do this", "Agent workflow",
                                      "Notes", "Testing"]))
        return "#" * draw(st.integers(1, 3)) + " " + title
    if kind in ("paragraph", "lead"):
        return sentence(draw, colon=kind == "lead") + ("\n" + sentence(draw) if draw(st.booleans()) else "")
    if kind in ("list", "nested"):
        bullet = draw(st.sampled_from(["-", "*", "1."]))
        items = []
        for _ in range(draw(st.integers(1, 4))):
            item = f"{bullet} {sentence(draw)}"
            if kind == "nested" and draw(st.booleans()):
                item += f"\n   - {sentence(draw)}\n   - {sentence(draw)}"
            if draw(st.integers(0, 5)) == 0:
                item += "\n\n   ```sh\n   make test\n\n   make lint\n   ```"
            items.append(item)
        return "\n".join(items)
    if kind == "fence":
        lang = draw(st.sampled_from(["bash", "python", "", "go"]))
        body = "\n".join(draw(st.lists(st.sampled_from(["x = 1", "# comment", "", "// not a rule", "- item"]),
                                       min_size=1, max_size=5)))
        return f"```{lang}\n{body}\n```"
    if kind == "table":
        return "| a | b |\n|---|:-:|\n| " + sentence(draw) + " | 2 |"
    if kind == "comment":
        return "<!-- TODO: " + sentence(draw) + " -->"
    if kind == "marker":
        return draw(st.sampled_from(["<!-- absolute -->", "<!-- default -->", "<!-- priority: 90 -->",
                                     "<!-- priority: 10 -->"]))
    if kind == "quote":
        return "> " + sentence(draw)
    return "---"


@st.composite
def documents(draw: st.DrawFn) -> str:
    parts = draw(st.lists(blocks(), min_size=1, max_size=14))
    text = ""
    for part in parts:  # blocks as people separate them: mostly a blank line, sometimes none
        text += part + draw(st.sampled_from(["\n\n", "\n\n", "\n\n\n", "\n"]))
    if draw(st.booleans()):
        text = text.rstrip("\n") + "\n"
    if draw(st.integers(0, 3)) == 0:
        text = text.replace("\n", "\r\n")
    return text


def parse(text: str) -> list:  # type: ignore[type-arg]
    """As ctxbudget reads it: a file that starts with ``---`` opens YAML front matter."""
    return MarkdownIt("commonmark").enable("table").use(front_matter_plugin).parse(text)


def fences(text: str) -> Multiset[str]:
    return Multiset(t.content for t in parse(text) if t.type == "fence")


def block_texts(doc: MarkdownDocument, indexes: Iterable[int]) -> list[str]:
    return ["".join(doc.lines[doc.blocks[i].start:doc.blocks[i].end]) for i in sorted(indexes)]


@pytest.mark.guarantee(56)
# found in CI: with the paragraph after it left out, "run run run run:" leads into the list on re-reading
@example(text="# Setup\r\n\r\n# Setup\r\n\r\nrun run run run:\r\n\r\nrun:\r\n\r\n```bash\r\nx = 1\r\n```\r\n\r\n"
              "run.\r\nrun.\r\n\r\n- run.\r\n\r\n# Setup\r\n\r\n# Setup\r\n\r\n# Critical rules\r\n\r\n"
              "```bash\r\nx = 1\r\n```\r\n\r\n", budget=69, model="claude")
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents(), st.integers(0, 600), MODELS)
def test_fit_writes_a_faithful_trim(text: str, budget: int, model: str) -> None:
    doc = parse_markdown(text, "CLAUDE")
    result = fit(doc, model, budget)
    out = result.text
    # the count is the target tokenizer's, and the text fits unless the absolute units alone do not
    assert result.tokens == TokenCounter.count_tokens(out, model)
    absolute = [r for r in doc.rules if r.is_absolute]
    if result.tokens > budget:  # only what cannot be left out: absolute units, or a text without units
        assert result.over_budget and (absolute or not result.included)
    # every absolute unit is kept (the overflow is reported instead)
    assert all(r in result.included for r in absolute)
    # whole input units, in input order
    kept = sorted(doc.rules.index(r) for r in result.included)
    at = 0
    for k in kept:
        unit = doc.unit_text(k)
        found = out.find(unit, at)
        assert found >= 0
        at = found + len(unit)
    # code blocks are never split: every fence written is one of the input's, whole
    assert not fences(out) - fences(text)
    # the footer counts exactly the units left out
    match = FOOTER.search(out)
    if result.skipped and result.metadata["footer"]:
        assert match is not None and int(match.group(1)) == len(result.skipped)
    else:
        assert match is None
    # keeping everything is the identity
    if not result.skipped:
        assert out == text
    # read again, the trimmed text is the kept units and their leads: none split or run into another's text.
    # What a block is may change with its new neighbours — a paragraph may now own the code block after it, or
    # lead into the list after it (its text is then context, not a unit) — but every kept text comes back whole.
    body = FOOTER.sub("", out).rstrip("\r\n") + doc.newline if kept else FOOTER.sub("", out)
    again = parse_markdown(body, "CLAUDE")
    read = block_texts(again, [i for i, b in enumerate(again.blocks) if b.kind in ("unit", "lead")])
    n = 0
    for k in kept:
        unit = doc.unit_text(k).rstrip("\r\n")
        while n < len(read) and unit not in read[n]:
            n += 1
        assert n < len(read), f"kept unit {k + 1} does not come back whole: {unit!r}"
    written = {doc.unit_blocks[k] for k in kept} | {
        p for k in kept for p in doc.blocks[doc.unit_blocks[k]].parents if doc.blocks[p].kind == "lead"}
    assert "".join(read).split() == "".join(block_texts(doc, written)).split()
    # no heading is written without something under it (a trimmed text; an untrimmed one is the input)
    if not result.skipped:
        return
    written = [t for t in parse(out) if t.level == 0 and t.map]
    for n, token in enumerate(written):
        if token.type == "heading_open":
            rest = written[n + 1:]
            assert rest, "a heading ends the text"
            level = int(token.tag[1])
            following = next((t for t in rest if t.type != "heading_open" or int(t.tag[1]) <= level), None)
            assert following is not None and following.type != "heading_open", "a heading with nothing under it"
