"""The CLI: counts, fit, config; exit codes 0/1/2; one-line errors; --json schemas."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import tiktoken

from ctxbudget import TokenizerFactory
from ctxbudget.cli.main import main

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def o200k(text: str) -> int:
    return TokenizerFactory.get_openai_backend("o200k_base").count(text)


def test_count_single_file_single_model_prints_the_number(capsys: pytest.CaptureFixture[str]) -> None:
    path = EXAMPLES / "instructions" / "AGENTS.md"
    code, out, err = run(capsys, "count", str(path), "-m", "gpt-4o")
    assert (code, out, err) == (0, f"{o200k(path.read_text(encoding='utf-8'))}\n", "")


def test_count_table_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    folder = EXAMPLES / "instructions"
    code, out, _ = run(capsys, "count", str(folder), "-m", "codex", "-m", "claude")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["file", "codex", "claude", "(recon.)"]
    assert [ln.split()[0] for ln in lines[2:6]] == [str(folder / n) for n in ("AGENTS.md", "CLAUDE.md", "GEMINI.md")] \
        + ["total"]
    code, out, _ = run(capsys, "count", str(folder), "-m", "codex", "--json")
    data = json.loads(out)
    assert set(data) == {"models", "files", "total", "max_tokens", "over_limit"}
    assert data["models"] == [{"model": "codex", "tokenizer_id": data["models"][0]["tokenizer_id"],
                               "tokenizer_type": "tiktoken", "exact": True, "kind": "exact"}]
    expected = {str(p): o200k(p.read_text(encoding="utf-8")) for p in sorted(folder.glob("*.md"))}
    assert {f["path"]: f["counts"]["codex"] for f in data["files"]} == expected
    assert data["total"] == {"codex": sum(expected.values())}


def test_count_reads_stdin(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import io

    monkeypatch.setattr(sys, "stdin", io.StringIO("one two three four five six seven eight nine ten"))
    assert run(capsys, "count", "-m", "codex", "--estimate") == (0, "13\n", "")


def test_count_max_tokens_gate(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "a.md"
    path.write_text("hello world", encoding="utf-8")
    assert run(capsys, "count", str(path), "-m", "codex", "--max-tokens", "2")[0] == 0
    assert run(capsys, "count", str(path), "-m", "codex", "--max-tokens", "1")[0] == 1


@pytest.mark.parametrize(("argv", "message"), [
    (["count", "-m", "no-such-model", "README.md"], "Unknown model or tool: 'no-such-model'"),
    (["count", "missing-file.md"], "no such file: missing-file.md"),
    (["count", "--max-tokens", "x"], "argument --max-tokens: invalid int value: 'x'"),
    (["fit", "missing.yaml"], "missing.yaml"),
    (["fit", "examples/rules.yaml", "--strategy", "random"], "argument --strategy: invalid choice"),
    (["config", "show", "--config", "nope.yaml"], "config file not found: nope.yaml"),
    (["frobnicate"], "invalid choice: 'frobnicate'"),
])
def test_usage_errors_exit_2_with_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, argv: list[str], message: str
) -> None:
    monkeypatch.chdir(ROOT)
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("ctxbudget: error: ")
    assert message in err


def test_unknown_model_allowed_with_estimate(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "x.txt"
    path.write_text("x" * 40, encoding="utf-8")
    assert run(capsys, "count", str(path), "-m", "mystery-9", "--estimate") == (0, "10\n", "")


def test_a_lone_file_that_is_not_text_is_a_usage_error(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "bin.md"
    path.write_bytes(b"\xff\xfe\x00")
    code, _, err = run(capsys, "count", str(path))
    assert code == 2 and "no text files" in err and "1 binary" in err
    path.write_bytes("café".encode("latin-1"))
    code, _, err = run(capsys, "count", str(path))
    assert code == 2 and "1 not UTF-8" in err


def test_fit_render_fits_and_reports(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "fit", str(EXAMPLES / "rules.yaml"), "--tool", "codex", "--budget", "400", "--render")
    assert code == 0
    assert out.startswith("PROJECT CONTEXT RULES\n")
    assert o200k(out) <= 400
    assert err.splitlines()[-1].startswith(f"codex: {o200k(out):,} / 400 tokens")
    assert err.splitlines()[0].split() == ["status", "tokens", "authority", "priority", "line", "id", "name"]


def test_fit_json_schema_and_over_budget_exit(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "fit", str(EXAMPLES / "rules.yaml"), "--tool", "gemini", "--budget", "50", "--json")
    data = json.loads(out)
    assert code == 1
    assert set(data) == {"tool", "layout", "budget", "tokens", "over_budget", "included", "skipped", "shortened",
                         "units", "provenance", "allocation", "text"}
    assert (data["tool"], data["layout"], data["budget"], data["over_budget"]) == ("gemini", "generated", 50, True)
    assert sorted(data["included"]) == ["no-secrets", "reversible-migrations", "tests-first"]
    assert len(data["skipped"]) == 13


def test_fit_budget_from_config(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    config = tmp_path / "ctxbudget.yaml"
    config.write_text("token_budgets:\n  tools:\n    codex: {default: 1500, max: 8000, min: 1000}\n",
                      encoding="utf-8")  # no operation budgets: the tool default applies
    code, out, _ = run(capsys, "fit", str(EXAMPLES / "rules.yaml"), "--tool", "codex", "--config", str(config),
                       "--json")
    assert code == 0
    assert json.loads(out)["budget"] == 1500
    code, _, err = run(capsys, "fit", str(EXAMPLES / "rules.yaml"), "--tool", "codex", "--config", str(config),
                       "--budget", "50")
    assert code == 2 and "outside the configured limits" in err


def test_config_show_and_validate(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("token_budgets:\n  global: {default: 60000, max: 200000, min: 1000}\n", encoding="utf-8")
    code, out, _ = run(capsys, "config", "show", "--config", str(config), "--json")
    data = json.loads(out)
    assert (code, data["source"], data["token_budgets"]["global"]["default"]) == (0, str(config), 60000)
    assert run(capsys, "config", "validate", "--config", str(config)) == (0, f"{config}: valid\n", "")
    config.write_text("token_budgets:\n  global: {default: 'lots'}\n", encoding="utf-8")
    code, out, err = run(capsys, "config", "validate", "--config", str(config))
    assert (code, out) == (2, "")
    assert "token_budgets.global.default" in err


def test_entry_point_exit_codes_and_no_traceback(tmp_path: Path) -> None:
    exe = Path(sys.executable).parent / "ctxbudget"
    ok = subprocess.run([str(exe), "count", "-m", "codex", "--estimate"], input="a b c", capture_output=True,
                        text=True, check=False)
    assert (ok.returncode, ok.stdout) == (0, "3\n")
    bad = subprocess.run([str(exe), "count", str(tmp_path / "nope")], capture_output=True, text=True, check=False)
    assert bad.returncode == 2
    assert "Traceback" not in bad.stderr
    assert bad.stderr.strip() == f"ctxbudget: error: no such file: {tmp_path / 'nope'}"


def test_check_gate_exits_1_on_critical_and_warns_on_stderr(capsys: pytest.CaptureFixture[str],
                                                            tmp_path: Path) -> None:
    folder = EXAMPLES / "instructions"
    # Codex started there loads its AGENTS.md alone (CLAUDE.md and GEMINI.md are other agents' files), wrapped
    agents_md = (folder / "AGENTS.md").read_text(encoding="utf-8")
    used = o200k(f"# AGENTS.md instructions for {folder.resolve()}\n\n<INSTRUCTIONS>\n{agents_md}\n</INSTRUCTIONS>")
    config = tmp_path / "c.yaml"
    config.write_text("token_budgets:\n  tools:\n    codex: {default: 1000, min: 100, max: 8000, "
                      f"operations: {{context_injection: {used + 5}}}}}\n", encoding="utf-8")
    code, out, err = run(capsys, "check", str(folder), "--tool", "codex", "--config", str(config))
    pct = used / (used + 5) * 100
    assert code == 1
    assert out.splitlines()[2].split() == ["codex", "1", f"{used:,}", f"{used + 5:,}", f"{pct:.1f}%", "critical"]
    assert err.splitlines() == [  # one line, at the highest level reached
        f"CRITICAL: codex at {pct:.1f}% of its context_injection budget ({used:,} / {used + 5:,} tokens, 5 left)"]
    code, out, err = run(capsys, "check", str(folder), "--tool", "codex", "--config", str(config), "--json")
    data = json.loads(out)
    assert (code, data["exit_code"], err) == (1, 1, "")
    assert [w["level"] for w in data["warnings"]] == ["info", "warning", "critical"]
    assert data["tools"] == [{"tool": "codex", "model": "gpt-5-codex", "budget_key": "codex", "tokens": used,
                              "budget": used + 5, "utilization": round(pct, 1), "level": "critical",
                              "files": [str((folder / "AGENTS.md").resolve())],
                              "provenance": {"tokenizer_id": f"tiktoken:o200k_base@{tiktoken.__version__}",
                                             "tokenizer_type": "tiktoken", "exact": True, "kind": "exact"}}]


def test_check_passes_with_default_budgets(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
                                           tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no project config: built-in defaults
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    code, out, err = run(capsys, "check", str(EXAMPLES / "instructions"))
    assert (code, err) == (0, "")
    assert [line.split()[0] for line in out.splitlines()[2:]] == ["claude", "codex", "gemini"]
    assert [line.split()[3] for line in out.splitlines()[2:]] == ["50,000", "2,000", "16,000"]


BROKEN_CONFIGS = {
    "ctxbudget.yaml": ("token_budgets:\n  tools:\n    codex: {default: 1000\n  global: {}\n",
                       ":4:9: invalid YAML at token_budgets.tools.codex: expected ',' or '}', but got ':'"),
    "ctxbudget.toml": ("[token_budgets.tools.codex]\ndefault = 1000\nmax = \n",
                       ":3:7: invalid TOML at token_budgets.tools.codex.max: Invalid value"),
}
COMMANDS = {
    "check": ["check", str(EXAMPLES / "instructions" / "AGENTS.md")],
    "fit": ["fit", str(EXAMPLES / "rules.yaml")],
    "config show": ["config", "show"],
    "config validate": ["config", "validate"],
}


@pytest.mark.parametrize("name", BROKEN_CONFIGS)
@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("discovered", [False, True], ids=["--config", "discovered"])
def test_a_broken_config_is_one_line_naming_the_file_and_exit_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    name: str, command: str, discovered: bool,
) -> None:
    """Review finding: a YAML syntax error was a 75-line traceback and exit 1 (check's CRITICAL code), and a
    TOML syntax error one line that did not name the file."""
    text, expected = BROKEN_CONFIGS[name]
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    argv = COMMANDS[command]
    if discovered:
        monkeypatch.chdir(tmp_path)
    else:
        argv = [*argv, "--config", str(path)]
    code, out, err = run(capsys, *argv)
    assert (code, out) == (2, "")
    assert err.count("\n") == 1 and "Traceback" not in err
    shown = path.resolve() if discovered else path
    assert err.startswith(f"ctxbudget: error: {shown}{expected}")


def test_version_and_python_dash_m() -> None:
    import ctxbudget

    for argv in ([sys.executable, "-m", "ctxbudget", "--version"], [sys.executable, "-m", "ctxbudget.cli.main",
                                                                   "--version"]):
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        assert (done.returncode, done.stdout) == (0, f"ctxbudget {ctxbudget.__version__}\n"), done.stderr
    done = subprocess.run([sys.executable, "-m", "ctxbudget", "count", "-", "-m", "gpt-4o"], input="hello world",
                          capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout) == (0, "2\n")


def test_check_prints_one_line_per_agent_at_its_highest_level(capsys: pytest.CaptureFixture[str],
                                                               tmp_path: Path) -> None:
    """At >= 95 % it printed INFO, WARNING and CRITICAL together, "[INFO] INFO - ..." and "-4,768 remaining"."""
    big = tmp_path / "AGENTS.md"
    big.write_text("word " * 3000, encoding="utf-8")
    code, _, err = run(capsys, "check", str(big), "--tool", "codex", "--tool", "claude")
    assert code == 1
    lines = err.splitlines()
    assert lines == ["CRITICAL: codex at 150.0% of its context_injection budget (3,001 / 2,000 tokens, over by 1,001)"]
    assert "remaining" not in err and "[" not in err


def test_max_tokens_says_why(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """--max-tokens exceeded exited 1 with nothing on stderr."""
    for n, words in (("a", 50), ("b", 80)):
        (tmp_path / f"{n}.md").write_text("word " * words, encoding="utf-8")
    code, _, err = run(capsys, "count", str(tmp_path), "-m", "gpt-4o", "--max-tokens", "60")
    assert code == 1
    assert err == f"ctxbudget: over --max-tokens 60: {tmp_path / 'b.md'} is 81 tokens for gpt-4o\n"
    code, out, err = run(capsys, "count", str(tmp_path), "-m", "gpt-4o", "--max-tokens", "100", "--json")
    assert code == 1 and json.loads(out)["over_limit"] is True and "the total is 132 tokens" in err


def test_config_validate_rejects_an_unknown_tool(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("token_budgets:\n  tools:\n    codex: {default: 1500}\n    codx: {default: 1500}\n",
                      encoding="utf-8")
    code, _, err = run(capsys, "config", "validate", "--config", str(config))
    assert code == 2
    assert err == (f"ctxbudget: error: {config}:4: token_budgets.tools.codx: unknown tool; "
                   "known: claude, codex, gemini\n")


def test_help_shows_no_rest_markup(capsys: pytest.CaptureFixture[str]) -> None:
    for command in ("count", "fit", "check", "config", "cache"):
        assert run(capsys, command, "--help")[0] == 0
        assert "``" not in capsys.readouterr().out


def test_a_terminal_stdin_gets_a_hint() -> None:
    import pty

    leader, follower = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "ctxbudget", "count", "-m", "gpt-4o", "--no-cache"],
                            stdin=follower, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    os.close(follower)
    os.write(leader, b"hello world\n\x04")
    out, err = proc.communicate(timeout=60)
    os.close(leader)
    assert out == b"3\n"
    assert b"reading from the terminal; end with Ctrl-D" in err
