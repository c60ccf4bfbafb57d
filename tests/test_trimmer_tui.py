"""The trimmer's screen, driven headlessly with Textual's pilot: keys, the live budget bar, protected units,
sorting, filtering, sessions, the file written on exit, and a tokenizer that is slow to answer."""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from pathlib import Path

import pytest

pytest.importorskip("textual", reason="the screen needs the tui extra (textual)")

from textual.widgets import DataTable

from ctxbudget import Counter, InteractiveTrimmer, TokenCounter, load_document
from ctxbudget.rules.markdown import MarkdownDocument
from ctxbudget.tokenizers.base import TokenizerType
from ctxbudget.trimmer.tui import TrimApp

ROOT = Path(__file__).resolve().parent.parent
MONOREPO = ROOT / "examples" / "monorepo" / "CLAUDE.md"
CORPUS = Path(__file__).resolve().parent / "fixtures" / "instructions"
SIZE = (160, 40)
PROTECTED = "Cannot exclude protected rule: {} (absolute authority rules are always included)"


def document(path: Path = MONOREPO) -> MarkdownDocument:
    loaded = load_document(path, name="claude")
    assert isinstance(loaded, MarkdownDocument)
    return loaded


def bar_numbers(app: TrimApp) -> tuple[int, int]:
    match = re.search(r"codex: ([\d,]+) / ([\d,]+) tokens", app.budget_text())
    assert match is not None, app.budget_text()
    return int(match.group(1).replace(",", "")), int(match.group(2).replace(",", ""))


def table_ids(app: TrimApp) -> list[str]:
    table = app.query_one(DataTable)
    return [str(row.key.value) for row in table.ordered_rows]


def tokens(text: str) -> int:
    return Counter.for_model("codex").count(text)


async def settle(app: TrimApp, pilot: object) -> None:
    await app.workers.wait_for_complete()
    await pilot.pause()  # type: ignore[attr-defined]


def move_to(app: TrimApp, rule_id: str) -> None:
    app.query_one(DataTable).move_cursor(row=table_ids(app).index(rule_id))


@pytest.mark.asyncio
async def test_starts_from_the_suggestion_and_the_bar_counts_the_preview() -> None:
    doc = document()
    app = TrimApp(doc, "codex", 2000)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        expected = InteractiveTrimmer.for_source(doc, "codex", 2000)
        assert app.trimmer is not None and app.trimmer.selection == expected.selection
        assert app.preview_text == expected.preview()
        used, budget = bar_numbers(app)
        assert (used, budget) == (tokens(app.preview_text), 2000)
        assert used <= budget and "to spare" in app.budget_text()
        assert table_ids(app) == [d.rule.id for d in expected.get_rule_displays("priority")]
        assert app.query_one(DataTable).cursor_row == 0


@pytest.mark.asyncio
async def test_space_toggles_a_unit_and_the_bar_follows() -> None:
    app = TrimApp(document(), "codex", 2000)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert app.trimmer is not None
        kept = next(d.rule.id for d in app.displays() if d.included and not d.protected)
        before = bar_numbers(app)[0]
        move_to(app, kept)
        await pilot.press("space")
        await settle(app, pilot)
        assert app.trimmer.selection[kept] is False
        assert app.trimmer.decisions[kept].decision_type == "manual"
        assert bar_numbers(app)[0] == tokens(app.preview_text) < before
        assert str(app.query_one(DataTable).get_row(kept)[1]) == "left out"
        await pilot.press("enter")  # enter toggles too
        await settle(app, pilot)
        assert app.trimmer.selection[kept] is True and bar_numbers(app)[0] == before


@pytest.mark.asyncio
async def test_a_protected_unit_cannot_be_left_out_and_the_screen_says_why() -> None:
    app = TrimApp(document(), "codex", 2000)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert app.trimmer is not None
        protected = next(d.rule.id for d in app.displays() if d.protected)
        move_to(app, protected)
        await pilot.pause()
        assert str(app.query_one(DataTable).border_subtitle).endswith(
            "protected (absolute authority: always included)")
        text = app.preview_text
        await pilot.press("space")
        await settle(app, pilot)
        assert app.status_text == PROTECTED.format(protected)
        assert app.trimmer.selection[protected] is True and app.preview_text == text
        assert str(app.query_one(DataTable).get_row(protected)[1]) == "protected"
        await pilot.press("x")  # leave out everything that may go
        await settle(app, pilot)
        assert {r.id for r in app.trimmer.get_selected_rules()} == app.trimmer.protected_rules


@pytest.mark.asyncio
async def test_all_none_and_back_to_the_suggestion() -> None:
    doc = document()
    app = TrimApp(doc, "codex", 2000)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert app.trimmer is not None
        suggested = app.trimmer.selection
        await pilot.press("a")
        await settle(app, pilot)
        assert app.preview_text == doc.text  # every unit: the file itself
        used, _ = bar_numbers(app)
        assert used == tokens(doc.text) > 2000
        assert f"OVER BUDGET by {used - 2000:,}" in app.budget_text()
        spans = app.query_one("#budget").content.spans  # type: ignore[attr-defined]
        assert any("red" in str(span.style) for span in spans)
        await pilot.press("x")
        await settle(app, pilot)
        assert bar_numbers(app)[0] == tokens(app.preview_text)
        await pilot.press("r")
        await settle(app, pilot)
        assert app.trimmer.selection == suggested and app.status_text == "back to the suggestion"


@pytest.mark.asyncio
async def test_s_cycles_the_sort_orders() -> None:
    app = TrimApp(document(), "codex", 2000)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert app.trimmer is not None
        for order in ("name", "tokens", "category", "priority"):
            await pilot.press("s")
            await pilot.pause()
            assert app.sort_by == order
            assert table_ids(app) == [d.rule.id for d in app.trimmer.get_rule_displays(order)]
        names = [str(app.query_one(DataTable).get_row(i)[8]) for i in table_ids(app)]
        assert len(names) == 77


@pytest.mark.asyncio
async def test_slash_filters_and_typing_in_the_filter_does_not_trigger_keys() -> None:
    app = TrimApp(document(), "codex", 2000)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert app.trimmer is not None
        selection = app.trimmer.selection
        await pilot.press("slash", *"terraform")  # 'a', 'r', 'o' would be keys outside the filter
        await pilot.pause()
        shown = table_ids(app)
        matching = [r.id for r in app.trimmer.get_selected_rules() + app.trimmer.get_excluded_rules()
                    if "terraform" in (r.name + r.rule + r.id).casefold()]
        assert sorted(shown) == sorted(matching) and 0 < len(shown) < 77
        assert app.trimmer.selection == selection
        await pilot.press("enter")  # back to the table, the filter stays
        free = next(rule_id for rule_id in shown if rule_id not in app.trimmer.protected_rules)
        move_to(app, free)
        await pilot.press("space")
        await settle(app, pilot)
        assert app.trimmer.selection[free] is not selection[free] and table_ids(app) == shown
        await pilot.press("slash", "escape")  # escape in the filter clears it
        await pilot.pause()
        assert len(table_ids(app)) == 77 and app.filter_text == ""


@pytest.mark.asyncio
async def test_a_saved_session_reloads_to_the_same_state(tmp_path: Path) -> None:
    session = tmp_path / "trim.json"
    doc = document()
    app = TrimApp(doc, "codex", 2000, session=session)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert app.trimmer is not None
        for rule_id in [d.rule.id for d in app.displays() if not d.protected][:3]:
            move_to(app, rule_id)
            await pilot.press("space")
        await settle(app, pilot)
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert app.status_text == f"saved the session to {session}"
        saved, preview, bar = app.trimmer.selection, app.preview_text, app.budget_text()
        await pilot.press("a")  # change everything, then load it back
        await settle(app, pilot)
        await pilot.press("ctrl+l")
        await settle(app, pilot)
        assert app.trimmer.selection == saved and app.preview_text == preview
    again = TrimApp(doc, "codex", 2000, session=session)
    async with again.run_test(size=SIZE) as pilot:
        await settle(again, pilot)
        assert again.trimmer is not None
        assert again.trimmer.selection == saved
        assert again.preview_text == preview and again.budget_text() == bar
        assert again.status_text == f"loaded {session}: 77 decisions"


@pytest.mark.asyncio
async def test_w_writes_the_preview_byte_for_byte_and_it_fits(tmp_path: Path) -> None:
    doc = document(CORPUS / "platform-handbook-long-AGENTS.md")
    budget = tokens(doc.text) // 3
    out = tmp_path / "AGENTS.md"
    app = TrimApp(doc, "codex", budget, output=out, output_mode=0o644)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        shown = bar_numbers(app)[0]
        await pilot.press("w")
        await pilot.pause()
    outcome = app.return_value
    assert outcome is not None and outcome.written == out and outcome.text == app.preview_text
    assert out.read_bytes() == app.preview_text.encode("utf-8")
    assert tokens(out.read_text(encoding="utf-8")) == shown <= budget
    assert out.stat().st_mode & 0o777 == 0o644


@pytest.mark.asyncio
async def test_q_quits_without_writing(tmp_path: Path) -> None:
    out = tmp_path / "AGENTS.md"
    app = TrimApp(document(), "codex", 2000, output=out)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("q")
        await pilot.pause()
    assert app.return_value is not None and app.return_value.text is None
    assert not out.exists()


class GatedBackend:
    """A tokenizer that counts only as fast as the test lets it: each call waits for one permit."""

    tokenizer_id = "stub:gated@1"
    tokenizer_type = TokenizerType.TRANSFORMERS
    exact = True

    def __init__(self) -> None:
        self.permits = threading.Semaphore(0)
        self.calls = 0

    def _wait(self) -> None:
        assert self.permits.acquire(timeout=30), "the test never let the tokenizer go on"
        self.calls += 1

    def count(self, text: str) -> int:
        self._wait()
        return max(1, len(text.split()))

    def count_batch(self, texts: Sequence[str]) -> list[int]:
        self._wait()
        return [max(1, len(t.split())) for t in texts]


@pytest.mark.asyncio
async def test_a_slow_tokenizer_never_blocks_the_screen_counts_fill_in() -> None:
    backend = GatedBackend()
    TokenCounter.register_backend("codex", backend)
    doc = document()
    app = TrimApp(doc, "codex", 800)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        table = app.query_one(DataTable)
        assert table.row_count == 77 and str(table.get_row("claude-1")[2]) == "…"
        await pilot.press("space", "s", "down")  # the screen answers while nothing is counted
        await pilot.pause()
        assert app.trimmer is None and app.status_text.startswith("still counting")
        backend.permits.release()  # one batch: the first rows get their tokens
        for _ in range(200):
            await pilot.pause(0.01)
            if len(app.costs) == 8:
                break
        assert len(app.costs) == 8 and str(table.get_row("claude-1")[2]) != "…"
        assert str(table.get_row("claude-77")[2]) == "…"
        backend.permits.release(10_000)
        await settle(app, pilot)
        assert app.trimmer is not None and len(app.costs) == 77
        assert bar_numbers(app)[0] == len(app.preview_text.split())  # counted by the gated tokenizer
        assert bar_numbers(app)[0] <= 800
