"""The trimmer's screen (Textual): the units, the live budget, and the text that would be written.

The rows appear at once; token counts fill in as a worker thread gets them (a slow tokenizer never holds up the
screen), then the suggestion is applied (or a saved session) and the keys work. After each change the preview
is rendered at once (rendering is cheap) and counted in the background; the budget bar shows that count of that
text, the exact number, red when over budget. ``w`` writes the preview to the output file atomically and
quits; ``q`` quits without writing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.widgets import DataTable, Footer, Input, Static, TextArea

from ..budget.prioritizer import PrioritizationStrategy, RulePrioritizer
from ..files import atomic_write_text
from ..rules.markdown import MarkdownDocument
from ..rules.model import MemoryRule
from ..rules.model import rule_cost_text as cost_text
from .engine import SORT_ORDERS, InteractiveTrimmer
from .layout import TextLayout, source_rules
from .model import BudgetVisualization, RuleDisplay
from .view import COLUMNS, NUMERIC, PROTECTED_WHY, budget_line, filtered, priority_text, row

#: rules counted per message from the worker: rows fill in steadily without a message per rule
_CHUNK = 8
_BAR_WIDTH = 24


@dataclass(frozen=True)
class TrimOutcome:
    """How the screen ended: the text of the selection when ``w`` was pressed (None for ``q``), and where it
    was written (None: nowhere — the caller prints it when asked to)."""

    trimmer: InteractiveTrimmer | None
    text: str | None
    written: Path | None


class TrimApp(App[TrimOutcome]):
    TITLE = "ctxbudget trim"
    CSS = """
    #budget { height: 1; padding: 0 1; }
    #main { height: 1fr; }
    #rules { width: 3fr; border: round $primary; }
    #preview { width: 2fr; border: round $secondary; }
    #filter { display: none; height: 3; }
    #filter.shown { display: block; }
    #status { height: 1; padding: 0 1; background: $boost; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("space", "toggle_rule", "Toggle"),
        Binding("a", "include_all", "All"),
        Binding("x", "exclude_all", "None"),
        Binding("r", "reset", "Suggested"),
        Binding("s", "sort", "Sort"),
        Binding("slash", "filter", "Filter"),
        Binding("escape", "close_filter", "Close filter", show=False),
        Binding("ctrl+s", "save", "Save session"),
        Binding("ctrl+l", "load", "Load session"),
        Binding("w", "write", "Write & quit"),
        Binding("q", "quit_unwritten", "Quit"),
    ]

    def __init__(self, source: Sequence[MemoryRule] | MarkdownDocument | Sequence[MarkdownDocument], model: str,
                 budget: int, *, strategy: PrioritizationStrategy | str | None = None, layout: str | None = None,
                 session: Path | None = None, output: Path | None = None, output_mode: int | None = None,
                 sort_by: str = "priority") -> None:
        super().__init__()
        if sort_by not in SORT_ORDERS:
            raise ValueError(f"sort_by must be one of {', '.join(SORT_ORDERS)}, got {sort_by!r}")
        self.source, self.model, self.budget = source, model, budget
        self.strategy, self.layout_name = strategy, layout
        self.session_path, self.output, self.output_mode = session, output, output_mode
        self.sort_by = sort_by
        self.filter_text = ""
        self.rules = source_rules(source)
        self.costs: dict[str, int] = {}
        self.trimmer: InteractiveTrimmer | None = None
        self.preview_text = ""
        #: the count shown in the bar, and the text it is the count of
        self.measured: tuple[str, BudgetVisualization] | None = None
        self.status_text = ""

    # --- layout -------------------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Static("counting…", id="budget")
        yield Input(placeholder="filter: id, name or text (Enter or Esc to close)", id="filter")
        with Horizontal(id="main"):
            yield DataTable(id="rules", cursor_type="row", zebra_stripes=True)
            yield TextArea("", id="preview", read_only=True, soft_wrap=True, show_cursor=False)
        yield Static("", id="status")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#rules", DataTable)
        for name in COLUMNS:
            table.add_column(name, key=name)
        for n, rule in enumerate(self.rules, 1):
            table.add_row(*self._pending_row(n, rule), key=rule.id)
        table.focus()
        self._say(f"counting {len(self.rules)} units for {self.model}…")
        self.run_worker(self._prepare, thread=True, group="prepare")

    # --- the worker: counts, suggestion, session -------------------------------------------------------
    def _prepare(self) -> None:
        text_layout = TextLayout(self.source, self.model, layout=self.layout_name)
        for start in range(0, len(self.rules), _CHUNK):
            chunk = self.rules[start:start + _CHUNK]
            counts = text_layout.counter.count_batch([cost_text(r) for r in chunk])
            self.call_from_thread(self._costs_arrived, {r.id: n for r, n in zip(chunk, counts, strict=True)})
        # the prioritizer costs the rules with the same counter and cache: these are cache hits now
        trimmer = InteractiveTrimmer(text_layout.rules, self.budget, self.model, RulePrioritizer(), self.strategy,
                                     auto_apply_suggestions=True, layout=text_layout)
        note = ""
        if self.session_path is not None and self.session_path.exists():
            note = self._load_into(trimmer, self.session_path)
        text, viz = trimmer.measure_preview()
        self.call_from_thread(self._trimmer_ready, trimmer, text, viz, note)

    def _costs_arrived(self, costs: dict[str, int]) -> None:
        self.costs.update(costs)
        table = self.query_one("#rules", DataTable)
        for rule_id, n in costs.items():
            table.update_cell(rule_id, "tokens", Text(f"{n:,}", justify="right"))
        self._say(f"counted {len(self.costs)} of {len(self.rules)} units for {self.model}…")

    def _trimmer_ready(self, trimmer: InteractiveTrimmer, text: str, viz: BudgetVisualization, note: str) -> None:
        self.trimmer = trimmer
        self._show_preview(text)
        self._show_budget(text, viz)
        self._rebuild()
        self.query_one("#rules", DataTable).move_cursor(row=0)
        suggested = trimmer.get_comparison()["auto_suggestions"]
        self._say(note or f"suggested: {suggested['included_count']} of {len(self.rules)} units, "
                          f"{suggested['tokens_used']:,} tokens — space toggles, w writes")

    # --- the table ------------------------------------------------------------------------------------------
    def _pending_row(self, n: int, rule: MemoryRule) -> list[Text]:
        return [Text(str(n), justify="right"), Text("…", style="dim"), Text("…", style="dim", justify="right"),
                Text(rule.authority.value), Text(priority_text(rule), justify="right"), Text(rule.category.value),
                Text(""), Text(rule.id), Text(rule.name)]

    def _cells(self, display: RuleDisplay) -> list[Text]:
        cells = row(display, name_width=200)
        style = "bold" if display.protected else ("" if display.included else "dim")
        return [Text(c, style=style, justify="right" if i in NUMERIC else "left") for i, c in enumerate(cells)]

    def displays(self) -> list[RuleDisplay]:
        """The rows on the screen, in their order (sorted, filtered)."""
        if self.trimmer is None:
            return []
        return filtered(self.trimmer.get_rule_displays(self.sort_by), self.filter_text)

    def _rebuild(self) -> None:
        if self.trimmer is None:  # the rows stay in file order until the ranking is there
            return
        table = self.query_one("#rules", DataTable)
        current = self._cursor_id()
        table.clear()
        shown = self.displays()
        for display in shown:
            table.add_row(*self._cells(display), key=display.rule.id)
        ids = [d.rule.id for d in shown]
        if current in ids:
            table.move_cursor(row=ids.index(current))
        where = f"sort: {self.sort_by}"
        if self.filter_text:
            where += f" · filter: {self.filter_text!r} ({len(shown)} shown)"
        table.border_title = where

    def _refresh_rows(self) -> None:
        table = self.query_one("#rules", DataTable)
        for display in self.displays():
            for column, cell in zip(COLUMNS, self._cells(display), strict=True):
                if column != "#":
                    table.update_cell(display.rule.id, column, cell, update_width=True)

    def _cursor_id(self) -> str | None:
        table = self.query_one("#rules", DataTable)
        if not table.row_count:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return str(key) if key is not None else None

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        rule_id = event.row_key.value
        rule = next((r for r in self.rules if r.id == rule_id), None)
        if rule is None or self.trimmer is None:
            return
        meta = rule.metadata or {}
        where = f"line {meta['line']} · " if meta.get("line") else ""
        section = f"{meta['section']} · " if meta.get("section") else ""
        why = f" — protected ({PROTECTED_WHY})" if rule_id in self.trimmer.protected_rules else ""
        self.query_one("#rules", DataTable).border_subtitle = f"{rule.id} · {where}{section}{rule.name}{why}"

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_toggle_rule()

    # --- the budget and the preview -----------------------------------------------------------------------
    def _changed(self) -> None:
        """After a change: rows and preview now, the count in the background."""
        assert self.trimmer is not None
        self._refresh_rows()
        self._show_preview(self.trimmer.preview())
        self.query_one("#budget", Static).update(Text(f"counting… (last: {self._bar_words()})", style="dim"))
        self.run_worker(self._measure, thread=True, group="measure", exclusive=True)

    def _show_preview(self, text: str) -> None:
        self.preview_text = text
        preview = self.query_one("#preview", TextArea)
        preview.load_text(text)
        target = f"-o {self.output}" if self.output is not None else "the output"
        preview.border_title = f"what {target} gets · {text.count(chr(10)):,} lines"

    def _measure(self) -> None:
        assert self.trimmer is not None
        text, viz = self.trimmer.measure_preview()
        self.call_from_thread(self._show_budget, text, viz)

    def _show_budget(self, text: str, viz: BudgetVisualization) -> None:
        if text != self.preview_text:  # a later change is being counted
            return
        self.measured = (text, viz)
        filled = min(_BAR_WIDTH, round(_BAR_WIDTH * viz.used_tokens / viz.total_budget)) if viz.total_budget else (
            _BAR_WIDTH if viz.used_tokens else 0)
        color = "red" if viz.over_budget else ("yellow" if viz.utilization_pct > 90 else "green")
        bar = Text("█" * filled, style=color) + Text("░" * (_BAR_WIDTH - filled), style="dim")
        words = Text(" " + budget_line(viz, self.model), style="bold red" if viz.over_budget else "")
        self.query_one("#budget", Static).update(bar + words)

    def _bar_words(self) -> str:
        return "—" if self.measured is None else f"{self.measured[1].used_tokens:,}"

    def budget_text(self) -> str:
        """The bar's words, as on the screen."""
        return str(self.query_one("#budget", Static).content)

    def _say(self, message: str) -> None:
        self.status_text = message
        self.query_one("#status", Static).update(Text(message))

    def _need_trimmer(self) -> InteractiveTrimmer | None:
        if self.trimmer is None:
            self._say("still counting — the keys work once the suggestion is there")
        return self.trimmer

    # --- actions ----------------------------------------------------------------------------------------------
    def action_toggle_rule(self) -> None:
        trimmer, rule_id = self._need_trimmer(), self._cursor_id()
        if trimmer is None or rule_id is None:
            return
        try:
            included = trimmer.toggle_rule(rule_id)
        except ValueError as exc:
            self._say(str(exc))
            self.notify(str(exc), title="protected", severity="warning")
            return
        self._changed()
        self._say(f"{rule_id}: {'kept' if included else 'left out'}")

    def action_include_all(self) -> None:
        if (trimmer := self._need_trimmer()) is not None:
            trimmer.include_all()
            self._changed()
            self._say("every unit kept")

    def action_exclude_all(self) -> None:
        if (trimmer := self._need_trimmer()) is not None:
            n = trimmer.exclude_all_non_protected()
            self._changed()
            self._say(f"{n} units left out; the {len(trimmer.protected_rules)} protected ones stay")

    def action_reset(self) -> None:
        if (trimmer := self._need_trimmer()) is not None:
            trimmer.reset_to_auto_suggestions()
            self._changed()
            self._say("back to the suggestion")

    def action_sort(self) -> None:
        if self._need_trimmer() is None:
            return
        self.sort_by = SORT_ORDERS[(SORT_ORDERS.index(self.sort_by) + 1) % len(SORT_ORDERS)]
        self._rebuild()
        self._say(f"sorted by {self.sort_by}")

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.add_class("shown")
        box.focus()

    def action_close_filter(self) -> None:
        box = self.query_one("#filter", Input)
        if box.has_focus:
            box.value = ""
        box.remove_class("shown")
        self.query_one("#rules", DataTable).focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        self.filter_text = event.value
        self._rebuild()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.query_one("#filter", Input).remove_class("shown")
        self.query_one("#rules", DataTable).focus()

    def action_save(self) -> None:
        if (trimmer := self._need_trimmer()) is None or self.session_path is None:
            return
        try:
            trimmer.save_session(self.session_path)
        except OSError as exc:
            self._say(f"cannot save {self.session_path}: {exc.strerror or exc}")
            return
        self._say(f"saved the session to {self.session_path}")

    def action_load(self) -> None:
        if (trimmer := self._need_trimmer()) is None or self.session_path is None:
            return
        note = self._load_into(trimmer, self.session_path)
        self._changed()
        self._say(note)

    @staticmethod
    def _load_into(trimmer: InteractiveTrimmer, path: Path) -> str:
        try:
            report = trimmer.load_session(path)
        except (OSError, ValueError) as exc:
            return f"cannot load the session: {exc}"
        note = f"loaded {path}: {report['applied']} decisions"
        if report["ignored_unknown"]:
            note += f"; ignored {len(report['ignored_unknown'])} unknown ids ({', '.join(report['ignored_unknown'])})"
        if report["ignored_protected"]:
            note += f"; kept {len(report['ignored_protected'])} protected units it left out"
        if report["budget_mismatch"]:
            note += "; it was made for another budget"
        return note

    def action_write(self) -> None:
        if (trimmer := self._need_trimmer()) is None:
            return
        text = trimmer.preview()
        if self.output is not None:
            try:
                atomic_write_text(self.output, text, mode=self.output_mode)
            except OSError as exc:
                self._say(f"cannot write {self.output}: {exc.strerror or exc}")
                return
        self.exit(TrimOutcome(trimmer, text, self.output))

    def action_quit_unwritten(self) -> None:
        self.exit(TrimOutcome(self.trimmer, None, None))

