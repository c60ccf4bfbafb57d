"""``ctxbudget fit`` on instruction files: stdin, -o / --in-place, the unit summary, --json, layouts."""

from __future__ import annotations

import io
import json
import os
import stat
from pathlib import Path

import pytest

from ctxbudget import TokenCounter
from ctxbudget.cli.main import main

ROOT = Path(__file__).resolve().parent.parent
CORPUS = Path(__file__).resolve().parent / "fixtures" / "instructions"
DJANGO = CORPUS / "django-CLAUDE.md"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_fit_dash_reads_stdin(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """`fit -` did not read stdin."""
    text = "# T\n\n- Never push to main.\n- Run `make test` first.\n"
    monkeypatch.setattr("sys.stdin", io.StringIO(text))
    code, out, err = run(capsys, "fit", "-", "--render", "-m", "gpt-5-codex")
    assert (code, out) == (0, text)
    assert "stdin-1" in err and err.splitlines()[-1].startswith("codex: ")
    monkeypatch.setattr("sys.stdin", io.StringIO("rules:\n  - {rule: Use tabs, category: preference, "
                                                 "authority: default}\n"))
    code, out, _ = run(capsys, "fit", "-", "--stdin-format", "yaml", "--render", "--tool", "codex")
    assert code == 0 and out.startswith("PROJECT CONTEXT RULES\n") and "Use tabs" in out


def test_output_file_is_written_atomically_and_an_input_is_never_overwritten_by_accident(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    source = tmp_path / "CLAUDE.md"
    source.write_bytes(DJANGO.read_bytes())
    out_file = tmp_path / "AGENTS.md"
    code, out, err = run(capsys, "fit", str(source), "-m", "gpt-5-codex", "--budget", "800", "-o", str(out_file))
    assert code == 0 and out == ""
    written = out_file.read_text(encoding="utf-8")
    assert TokenCounter.count_tokens(written, "gpt-5-codex") <= 800
    assert f"wrote {out_file}" in err.splitlines()[-1]
    assert stat.S_IMODE(out_file.stat().st_mode) == 0o666 & ~_umask()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]

    code, _, err = run(capsys, "fit", str(source), "--budget", "800", "-o", str(source))
    assert code == 2 and "is an input file; add --in-place" in err
    assert source.read_bytes() == DJANGO.read_bytes()

    os.chmod(source, 0o640)
    code, _, _ = run(capsys, "fit", str(source), "-m", "gpt-5-codex", "--budget", "800", "--in-place")
    assert code == 0
    assert source.read_text(encoding="utf-8") == written
    assert stat.S_IMODE(source.stat().st_mode) == 0o640  # an existing file keeps its mode

    code, _, err = run(capsys, "fit", str(source), "--budget", "800", "-o", str(tmp_path / "no" / "x.md"))
    assert code == 2 and "does not exist" in err


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_the_summary_lists_units_with_their_costs_and_json_carries_the_same(
    capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "fit", str(DJANGO), "-m", "gpt-5-codex", "--budget", "700", "--render")
    assert code == 0
    lines = err.splitlines()
    assert lines[0].split() == ["status", "tokens", "authority", "priority", "line", "id", "name"]
    statuses = [line.split()[0] for line in lines[2:-1]]
    code, data_out, _ = run(capsys, "fit", str(DJANGO), "-m", "gpt-5-codex", "--budget", "700", "--json")
    data = json.loads(data_out)
    assert data["text"] == out and data["layout"] == "markdown"
    assert [u["status"].split()[0] for u in data["units"]] == statuses
    left_out = [u for u in data["units"] if u["status"] == "left out"]
    assert len(left_out) == len(data["skipped"]) > 0
    assert f"<!-- ctxbudget: {len(left_out)} of {len(data['units'])} units left out" in out
    assert all(isinstance(u["tokens"], int) and u["tokens"] > 0 for u in data["units"])
    assert lines[-1].startswith(f"codex: {data['tokens']:,} / 700 tokens, {len(data['included'])} kept, "
                                f"0 shortened, {len(left_out)} left out")
    code, _, quiet = run(capsys, "fit", str(DJANGO), "--budget", "700", "--render", "-q")
    assert len(quiet.splitlines()) == 1


def test_layout_choice(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "fit", str(DJANGO), "--tool", "codex", "--budget", "4000", "--layout", "generated",
                       "--render", "-q")
    assert code == 0 and out.startswith("PROJECT CONTEXT RULES\n")
    code, _, err = run(capsys, "fit", str(ROOT / "examples" / "rules.yaml"), "--layout", "markdown")
    assert code == 2 and "needs Markdown instruction files" in err
    # a rules file and an instruction file together: the generated layout
    code, out, _ = run(capsys, "fit", str(ROOT / "examples" / "rules.yaml"), str(DJANGO), "--tool", "gemini",
                       "--budget", "3000", "--render", "-q")
    assert code == 0 and out.startswith("You are an AI assistant")


def test_two_instruction_files_are_trimmed_one_after_the_other(capsys: pytest.CaptureFixture[str]) -> None:
    first, second = ROOT / "examples" / "instructions" / "CLAUDE.md", ROOT / "examples" / "instructions" / "AGENTS.md"
    code, out, _ = run(capsys, "fit", str(first), str(second), "--budget", "100000", "--render", "-q")
    assert code == 0
    assert out == first.read_text(encoding="utf-8") + "\n" + second.read_text(encoding="utf-8")


def test_a_budget_below_the_absolute_units_exits_1_and_says_why(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "fit", str(DJANGO), "-m", "gpt-5-codex", "--budget", "20", "--render", "-q")
    assert code == 1
    assert "OVER BUDGET" in err and "the absolute rules alone do not fit" in err
    assert "Never edit an applied migration" in out
