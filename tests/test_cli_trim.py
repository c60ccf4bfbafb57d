"""``ctxbudget trim`` without a terminal: the suggestion (or a saved session) applied, the table and the budget
line printed, -o written; exit 0 within budget, 1 over, 2 for bad input."""

from __future__ import annotations

import io
import re
import subprocess
import sys
from pathlib import Path

import pytest

from ctxbudget import Counter, InteractiveTrimmer, load_document
from ctxbudget.cli.main import main

ROOT = Path(__file__).resolve().parent.parent
MONOREPO = ROOT / "examples" / "monorepo" / "CLAUDE.md"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def cells(table: list[str]) -> list[list[str]]:
    """The rows of a printed table, cut where its dashed line under the header has gaps."""
    spans = [m.span() for m in re.finditer(r"-+", table[1])]
    return [[line[a:b].strip() for a, b in spans] for line in table[2:]]


def expected(budget: int, model: str = "codex") -> InteractiveTrimmer:
    return InteractiveTrimmer.for_source(load_document(MONOREPO, name="CLAUDE"), model, budget)


def test_prints_the_table_and_the_budget_line(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "trim", str(MONOREPO), "--tool", "codex", "--budget", "2000")
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0].split() == ["#", "state", "tokens", "authority", "priority", "category", "by", "id", "name"]
    trimmer = expected(2000)
    text, viz = trimmer.measure_preview()
    rows = cells(lines[:-1])
    assert [r[7] for r in rows] == [d.rule.id for d in trimmer.get_rule_displays()]
    assert sum(1 for r in rows if r[1] == "left out") == viz.excluded_count > 0
    assert rows[0][:8] == ["1", "protected", "22", "absolute", "95", "behavior", "auto", "claude-29"]
    assert lines[-1] == (f"codex: {viz.used_tokens:,} / 2,000 tokens ({viz.utilization_pct:.1f}%) · "
                         f"{viz.included_count} of 77 units kept, 13 protected · {viz.remaining_tokens:,} to spare "
                         f"({trimmer.layout.provenance()['tokenizer_id']})")  # type: ignore[union-attr]
    assert viz.used_tokens == Counter.for_model("codex").count(text) <= 2000


def test_sort_orders_the_rows(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "trim", str(MONOREPO), "--tool", "codex", "--budget", "2000", "--sort", "tokens")
    assert code == 0
    assert [int(r[2].replace(",", "")) for r in cells(out.splitlines()[:-1])] == sorted(
        (s.token_cost for s in expected(2000).scores_by_id.values()), reverse=True)


def test_writes_the_output_atomically_and_refuses_an_input(capsys: pytest.CaptureFixture[str],
                                                           tmp_path: Path) -> None:
    out = tmp_path / "AGENTS.md"
    code, stdout, _ = run(capsys, "trim", str(MONOREPO), "--tool", "codex", "--budget", "1500", "-o", str(out))
    assert code == 0 and stdout.splitlines()[-1].endswith(f"; wrote {out}")
    assert out.read_text(encoding="utf-8") == expected(1500).preview()
    source = tmp_path / "CLAUDE.md"
    source.write_bytes(MONOREPO.read_bytes())
    code, _, err = run(capsys, "trim", str(source), "--tool", "codex", "--budget", "1500", "-o", str(source))
    assert code == 2 and err == f"ctxbudget: error: -o {source} is an input file; add --in-place to overwrite it\n"
    assert source.read_bytes() == MONOREPO.read_bytes()
    code, _, _ = run(capsys, "trim", str(source), "--tool", "codex", "--budget", "1500", "--in-place")
    assert code == 0 and source.read_text(encoding="utf-8") == out.read_text(encoding="utf-8")


def test_dash_o_writes_the_text_to_stdout_and_the_table_to_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "trim", str(MONOREPO), "--tool", "codex", "--budget", "1500", "-o", "-")
    assert code == 0 and out == expected(1500).preview()
    assert err.splitlines()[-1].startswith("codex: ")


def test_stdin_is_read_and_over_budget_exits_1(capsys: pytest.CaptureFixture[str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(MONOREPO.read_text(encoding="utf-8")))
    code, out, _ = run(capsys, "trim", "-", "--tool", "codex", "--budget", "100")
    assert code == 1
    over = expected(100).get_budget_visualization()
    assert out.splitlines()[-1].startswith(
        f"codex: {over.used_tokens:,} / 100 tokens") and f"OVER BUDGET by {over.used_tokens - 100:,}" in out


def test_a_saved_session_is_applied(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    trimmer = expected(2000)
    trimmer.include_all()
    for rule in trimmer.rules[10:40]:
        if not rule.is_absolute:
            trimmer.exclude_rule(rule.id)
    session = tmp_path / "s.json"
    trimmer.save_session(session)
    out = tmp_path / "AGENTS.md"
    code, stdout, err = run(capsys, "trim", str(MONOREPO), "--tool", "codex", "--budget", "2000", "--session",
                            str(session), "-o", str(out))
    viz = trimmer.get_budget_visualization()
    assert code == (1 if viz.over_budget else 0) and err == ""
    assert out.read_text(encoding="utf-8") == trimmer.preview()
    assert f"{viz.used_tokens:,} / 2,000 tokens" in stdout.splitlines()[-1]
    code, _, err = run(capsys, "trim", str(MONOREPO), "--tool", "codex", "--budget", "3000", "--session",
                       str(session))
    assert err == f"ctxbudget: {session}: made for another budget; the budget is 3,000\n"


def test_bad_input_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    base = ["trim", str(MONOREPO), "--tool", "codex", "--budget", "2000"]
    assert run(capsys, *base, "--session", str(tmp_path / "none.json"))[1:] == (
        "", f"ctxbudget: error: session file not found: {tmp_path / 'none.json'}\n")
    (tmp_path / "bad.json").write_text("{", encoding="utf-8")
    code, _, err = run(capsys, *base, "--session", str(tmp_path / "bad.json"))
    assert code == 2 and err == f"ctxbudget: error: {tmp_path / 'bad.json'}:1: not a trim session: invalid JSON: " \
                                "Expecting property name enclosed in double quotes\n"
    code, _, err = run(capsys, "trim", str(MONOREPO), "--model", "no-such-model-9")
    assert code == 2 and len(err.splitlines()) == 1 and err.startswith("ctxbudget: error: ")
    code, _, err = run(capsys, "trim", str(ROOT / "examples" / "rules.yaml"), "--layout", "markdown")
    assert (code, err) == (2, "ctxbudget: error: --layout markdown needs Markdown instruction files as input\n")
    code, _, err = run(capsys, "trim", str(ROOT / "examples" / "rules.yaml"), "--in-place")
    assert code == 2 and "--in-place rewrites an instruction file as itself" in err


def test_rules_files_get_the_generated_layout(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "trim", str(ROOT / "examples" / "rules.yaml"), "--tool", "codex", "-o", "-")
    assert code == 0 and out.startswith("PROJECT CONTEXT RULES\n")


def test_help_has_an_example_and_the_text_run_never_imports_textual() -> None:
    code = ("import sys; from ctxbudget.cli.main import main; "
            f"rc = main(['trim', {str(MONOREPO)!r}, '--tool', 'codex', '--budget', '2000', '--no-tui']); "
            "print(rc, 'textual' in sys.modules, file=sys.stderr)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stderr.split() == ["0", "False"]
    help_text = subprocess.run([sys.executable, "-m", "ctxbudget", "trim", "--help"], capture_output=True,
                               text=True, timeout=120).stdout
    assert "example: ctxbudget trim CLAUDE.md --tool codex --budget 8000 -o AGENTS.md" in help_text.splitlines()
    assert "``" not in help_text
