"""The verbs beside count: tree, truncate, usage, completion, and the help every command shows — each driven
through the real entry point in a subprocess."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ctxbudget import SQLiteUsageStore, TokenizerFactory, TokenUsageTracker, backend_for
from ctxbudget.cli.main import COMMANDS
from repos import cli, make_repo

ROOT = Path(__file__).resolve().parent.parent


def tokens(text: str) -> int:
    return TokenizerFactory.get_openai_backend("o200k_base").count(text)


def isolated(tmp_path: Path) -> dict[str, str]:
    """XDG directories of the test's own, so no run reads or writes the user's cache or usage log."""
    return {"XDG_CACHE_HOME": str(tmp_path / "xdg-cache"), "XDG_DATA_HOME": str(tmp_path / "xdg-data"),
            "XDG_CONFIG_HOME": str(tmp_path / "xdg-config"), "CTXBUDGET_CACHE": ""}


# --- tree -------------------------------------------------------------------------------------------------------

def test_tree_totals_equal_count_over_the_same_files(tmp_path: Path) -> None:
    root = make_repo(tmp_path / "repo")
    env = isolated(tmp_path)
    tree = cli("tree", str(root), "-m", "gpt-4o", "-m", "claude", "--json", env=env)
    count = cli("count", str(root), "-m", "gpt-4o", "-m", "claude", "--json", env=env)
    assert tree.returncode == 0 and count.returncode == 0, tree.stderr + count.stderr
    t, c = json.loads(tree.stdout), json.loads(count.stdout)
    assert t["total"] == c["total"] and t["files"] == len(c["files"]) == 9
    (top,) = t["tree"]
    assert top["tokens"] == c["total"] and top["type"] == "directory"

    def files(node: dict) -> dict[str, dict[str, int]]:
        if node["type"] == "file":
            return {node["path"]: node["tokens"]}
        found: dict[str, dict[str, int]] = {}
        for child in node["children"]:
            found |= files(child)
        return found

    assert files(top) == {f["path"]: f["counts"] for f in c["files"]}
    src = next(ch for ch in top["children"] if ch["name"] == "src")
    assert src["files"] == 3
    assert src["tokens"]["gpt-4o"] == sum(tokens((root / "src" / n).read_text()) for n in
                                          (".gitignore", "app.py", "generated_keep.py"))
    assert "skipped: 1 binary, 1 not UTF-8" in tree.stderr  # the walk's report, as count gives it


def test_tree_drawing_depth_min_tokens_and_sort(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    for name, words in {"a/deep/x.md": 300, "a/y.md": 5, "b.md": 50, "c/z.md": 120}.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("word " * words, encoding="utf-8")
    env = isolated(tmp_path)
    out = cli("tree", str(root), "-m", "gpt-4o", env=env)
    assert out.returncode == 0, out.stderr
    lines = [ln.rstrip() for ln in out.stdout.splitlines()]
    n = {name: tokens((root / name).read_text()) for name in ("a/deep/x.md", "a/y.md", "b.md", "c/z.md")}
    assert [ln.split()[:-1] for ln in lines[2:10]] == [
        [f"{root}/"], ["├──", "a/"], ["│", "├──", "deep/"], ["│", "│", "└──", "x.md"], ["│", "└──", "y.md"],
        ["├──", "b.md"], ["└──", "c/"], ["└──", "z.md"]]
    assert lines[2].split()[-1] == f"{sum(n.values()):,}"
    assert lines[1].startswith("---") and lines[10].startswith("4 files")
    shallow = cli("tree", str(root), "-m", "gpt-4o", "--depth", "1", "--min-tokens", "100", "--sort", "tokens",
                  env=env)
    names = [ln.split()[-2] for ln in shallow.stdout.splitlines()[3:-1]]
    assert names == ["a/", "c/"]  # b.md (50) hidden, a/ (305) before c/ (120), nothing below depth 1
    assert shallow.stdout.splitlines()[2].split()[-1] == f"{sum(n.values()):,}"  # the hidden still count


def test_tree_refuses_stdin_and_bad_numbers(tmp_path: Path) -> None:
    assert cli("tree", "-", env=isolated(tmp_path)).returncode == 2
    bad = cli("tree", str(tmp_path), "--depth", "-1", env=isolated(tmp_path))
    assert bad.returncode == 2 and bad.stderr.startswith("ctxbudget: error: --min-tokens and --depth")


# --- truncate ---------------------------------------------------------------------------------------------------

def test_truncate_keeps_the_longest_start_and_says_so(tmp_path: Path) -> None:
    text = "Déjà vu: naïve café — emoji 😀😀 and €uros, again and again. " * 20
    path = tmp_path / "in.txt"
    path.write_text(text, encoding="utf-8")
    done = cli("truncate", "-t", "17", "-m", "gpt-4o", str(path), env=isolated(tmp_path))
    assert done.returncode == 0
    kept = done.stdout
    assert text.startswith(kept) and tokens(kept) <= 17 < tokens(text[: len(kept) + 1])
    assert done.stderr == (f"ctxbudget: cut to {tokens(kept)} of {tokens(text):,} tokens for gpt-4o (exact); "
                           "kept the start\n")
    tail = cli("truncate", "-t", "9", "--tail", "-m", "gpt-4o", input=text, env=isolated(tmp_path))
    assert text.endswith(tail.stdout) and tokens(tail.stdout) <= 9 < tokens(text[len(text) - len(tail.stdout) - 1:])
    assert "kept the end" in tail.stderr


def test_truncate_never_splits_a_character_for_a_reconstructed_tokenizer(tmp_path: Path) -> None:
    text = "😀" * 40 + "ü" * 40
    done = cli("truncate", "-t", "10", "-m", "claude", input=text, env=isolated(tmp_path))
    assert done.returncode == 0 and done.stdout and text.startswith(done.stdout)
    claude = backend_for("claude")
    assert claude.count(done.stdout) <= 10 < claude.count(text[: len(done.stdout) + 1])


def test_truncate_passes_a_text_that_fits_through_unchanged(tmp_path: Path) -> None:
    text = "line one\r\nline two\n\n"  # bytes out as they came in: no newline translation
    done = subprocess.run([sys.executable, "-m", "ctxbudget", "truncate", "-t", "1000", "-m", "gpt-4o"],
                          input=text.encode(), capture_output=True, timeout=60)
    assert (done.returncode, done.stdout, done.stderr) == (0, text.encode(), b"")


def test_stdin_that_is_not_utf8_is_refused_not_mangled(tmp_path: Path) -> None:
    """Review finding: truncate wrote such stdin back as encoded surrogates, neither the input nor UTF-8."""
    for argv in (["truncate", "-t", "5"], ["count", "-m", "gpt-4o", "--no-cache"]):
        done = subprocess.run([sys.executable, "-m", "ctxbudget", *argv], input=b"\xff\xfe bad", capture_output=True,
                              timeout=60, env={**os.environ, **isolated(tmp_path), "CTXBUDGET_CACHE": "memory"})
        assert (done.returncode, done.stdout) == (2, b"")
        assert done.stderr == b"ctxbudget: error: stdin: not UTF-8 text (invalid start byte at byte 0)\n"


@pytest.mark.parametrize(("args", "message"), [
    (("-t", "0"), "-t/--max-tokens must be >= 1"),
    (("-t", "5", "-m", "no-such-model"), "Unknown model or tool: 'no-such-model'"),
    (("-t", "5", "DIR"), "is a directory"),
    (("-t", "5", "MISSING"), "no such file"),
])
def test_truncate_errors_are_one_line(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    argv = [str(tmp_path) if a == "DIR" else str(tmp_path / "nope") if a == "MISSING" else a for a in args]
    done = cli("truncate", *argv, input="x", env=isolated(tmp_path))
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and message in done.stderr


# --- usage ------------------------------------------------------------------------------------------------------

def record_usage(db: Path) -> None:
    with SQLiteUsageStore(db) as store:
        for session in ("s1", "s2"):
            tracker = TokenUsageTracker(session, store=store)
            tracker.track_operation("claude", "context_injection", 150_000)
            tracker.track_operation("claude", "rule_retrieval", 30_000)
            tracker.track_operation("codex", "context_injection", 1_000)


def test_usage_reads_the_default_log_the_library_writes(tmp_path: Path) -> None:
    env = isolated(tmp_path)
    db = Path(env["XDG_DATA_HOME"]) / "ctxbudget" / "usage.sqlite3"
    empty = cli("usage", env=env)
    assert empty.returncode == 0 and empty.stdout.startswith("no usage recorded in ")
    assert not db.exists()  # reporting does not create the log
    record_usage(db)
    data = json.loads(cli("usage", "--json", env=env).stdout)
    assert data["db"] == str(db) and data["operations"] == 6
    claude = data["tools"][0]
    assert (claude["tool"], claude["tokens"], claude["sessions"], claude["tokens_per_session"]) == (
        "claude", 360_000, 2, 180_000)
    assert claude["budget_used_pct"] == round(100 * 180_000 / claude["budget"], 1)
    assert [o["operation"] for o in data["operations_by_type"]] == ["context_injection", "rule_retrieval"]
    assert [(s["session_id"], s["tokens"]) for s in data["sessions"]] == [("s1", 181_000), ("s2", 181_000)]
    text = cli("usage", env=env).stdout
    assert "6 operations in 2 sessions" in text and "over by" in text and "█" in text


def test_usage_since_filters_by_instant(tmp_path: Path) -> None:
    db = tmp_path / "usage.sqlite3"
    record_usage(db)
    env = isolated(tmp_path)
    assert json.loads(cli("usage", "--db", str(db), "--since", "1h", "--json", env=env).stdout)["operations"] == 6
    future = cli("usage", "--db", str(db), "--since", "2999-01-01T00:00+02:00", env=env)
    assert future.returncode == 0 and "no usage recorded since 2998-12-31 22:00 UTC" in future.stdout
    bad = cli("usage", "--db", str(db), "--since", "yesterday", env=env)
    assert bad.returncode == 2 and "--since 'yesterday'" in bad.stderr
    missing = cli("usage", "--db", str(tmp_path / "none.sqlite3"), env=env)
    assert missing.returncode == 2 and "no usage log at" in missing.stderr


# --- completion and help ----------------------------------------------------------------------------------------

@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_bash_completion_completes_commands_and_options(tmp_path: Path) -> None:
    script = tmp_path / "ctxbudget.bash"
    done = cli("completion", "bash", env=isolated(tmp_path))
    assert done.returncode == 0
    script.write_text(done.stdout, encoding="utf-8")

    def complete(*words: str) -> list[str]:
        words_list = " ".join(f"'{w}'" for w in ("ctxbudget", *words))
        probe = (f"source {script}; COMP_WORDS=({words_list}); COMP_CWORD={len(words)}; COMP_LINE=\"ctxbudget\";"
                 " _shtab_ctxbudget; printf '%s\\n' \"${COMPREPLY[@]}\"")
        return subprocess.run(["bash", "-c", probe], capture_output=True, text=True, check=True).stdout.split()

    assert set(complete("")) >= set(COMMANDS)
    assert complete("tr") == ["tree", "trim", "truncate"]
    assert "--min-tokens" in complete("tree", "--m")


def test_every_command_has_help_with_an_example_and_no_markup(tmp_path: Path) -> None:
    for command in COMMANDS:
        done = cli(command, "--help", env=isolated(tmp_path))
        assert done.returncode == 0, command
        examples = [ln for ln in done.stdout.splitlines() if ln.startswith("example: ")]
        assert examples and f"ctxbudget {command} " in examples[0], command
        assert "``" not in done.stdout, command


# --- agents and check: what each agent loads ------------------------------------------------------------------

def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def project(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A repository with every agent's files, an import and a broken one, and a home with user memory."""
    root = write(tmp_path / "repo", {
        ".git/HEAD": "ref: refs/heads/main\n",
        "CLAUDE.md": "# Project\n\n- Run `make test`.\n- Style: @docs/style.md\n- Also @docs/missing.md\n",
        "docs/style.md": "Short lines, no tabs.\n",
        "AGENTS.md": "Codex: run make test before every commit.\n",
        "GEMINI.md": "Gemini: answer in English.\n",
    })
    home = write(tmp_path / "home", {".claude/CLAUDE.md": "I like terse answers.\n"})
    return root, {**isolated(tmp_path), "HOME": str(home), "CODEX_HOME": "", "GEMINI_CLI_HOME": "",
                  "CLAUDE_CONFIG_DIR": ""}


def test_agents_lists_each_agents_files_in_load_order_with_their_costs(tmp_path: Path) -> None:
    root, env = project(tmp_path)
    done = cli("agents", str(root), "--json", env=env)
    assert done.returncode == 0, done.stderr
    agents = {a["agent"]: a for a in json.loads(done.stdout)["agents"]}
    assert list(agents) == ["claude", "codex", "gemini"]
    claude = agents["claude"]
    assert [(Path(f["path"]).name, f["scope"]) for f in claude["files"]] == [
        ("CLAUDE.md", "user"), ("CLAUDE.md", "project"), ("style.md", "import")]
    assert any("missing.md" in w for w in claude["warnings"])  # Claude skips it silently; we say so
    codex = agents["codex"]
    assert [Path(f["path"]).name for f in codex["files"]] == ["AGENTS.md"]
    body = (root / "AGENTS.md").read_text(encoding="utf-8")
    assert codex["text"] == f"# AGENTS.md instructions for {root.resolve()}\n\n<INSTRUCTIONS>\n{body}\n</INSTRUCTIONS>"
    assert codex["tokens"] == tokens(codex["text"]) and codex["files"][0]["tokens"] == tokens(body)
    assert codex["provenance"]["kind"] == "exact" and "Codex CLI" in codex["simulated_version"]
    assert [Path(f["path"]).name for f in agents["gemini"]["files"]] == ["GEMINI.md"]
    assert f"--- Context from: {root.resolve() / 'GEMINI.md'} ---" in agents["gemini"]["text"]
    for agent in agents.values():
        assert agent["utilization"] == round(100 * agent["tokens"] / agent["budget"], 1)
    no_user = json.loads(cli("agents", str(root), "--json", "--no-user", "--agent", "claude", env=env).stdout)
    assert [f["scope"] for f in no_user["agents"][0]["files"]] == ["project", "import"]


def test_agents_text_is_the_exact_injected_text_and_the_table_names_the_version(tmp_path: Path) -> None:
    root, env = project(tmp_path)
    text = cli("agents", str(root), "--agent", "codex", "--text", env=env)
    data = json.loads(cli("agents", str(root), "--agent", "codex", "--json", env=env).stdout)
    assert text.returncode == 0 and text.stdout == data["agents"][0]["text"]
    table = cli("agents", str(root), env=env).stdout
    assert "codex: Codex CLI" in table and "claude: Claude Code" in table and "gemini: Gemini CLI" in table
    assert "warning: " in table and "docs/missing.md" in table
    assert "injected: " in table and "-token context_injection budget" in table


@pytest.mark.parametrize(("args", "message"), [
    (("FILE",), "not a directory"),
    (("DIR", "--text"), "--text prints one agent's text"),
    (("DIR", "--agent", "cursor"), "invalid choice: 'cursor'"),
])
def test_agents_errors(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    (tmp_path / "f.md").write_text("x", encoding="utf-8")
    argv = [str(tmp_path / "f.md") if a == "FILE" else str(tmp_path) if a == "DIR" else a for a in args]
    done = cli("agents", *argv, env=isolated(tmp_path))
    assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr


def test_check_charges_agents_md_to_codex_only(tmp_path: Path) -> None:
    root = write(tmp_path / "repo", {".git/HEAD": "x\n", "AGENTS.md": "word " * 200})
    env = isolated(tmp_path)
    data = json.loads(cli("check", str(root), "--json", env=env).stdout)
    charged = {t["tool"]: (t["tokens"], [Path(f).name for f in t["files"]]) for t in data["tools"]}
    body = (root / "AGENTS.md").read_text(encoding="utf-8")
    wrapped = f"# AGENTS.md instructions for {root.resolve()}\n\n<INSTRUCTIONS>\n{body}\n</INSTRUCTIONS>"
    assert charged == {"claude": (0, []), "codex": (tokens(wrapped), ["AGENTS.md"]), "gemini": (0, [])}
    write(root, {"CLAUDE.md": "Claude only.\n"})
    data = json.loads(cli("check", str(root), "--json", env=env).stdout)
    assert [Path(f).name for f in data["tools"][0]["files"]] == ["CLAUDE.md"] and data["tools"][0]["tokens"] > 0
    assert [t["tokens"] for t in data["tools"][1:]] == [tokens(wrapped), 0]


def test_check_reports_the_codex_cut_and_charges_what_codex_keeps(tmp_path: Path) -> None:
    root = write(tmp_path / "repo", {".git/HEAD": "x\n", "AGENTS.md": "word " * 8000})  # 40,000 bytes > 32 KiB
    done = cli("check", str(root), "--tool", "codex", "--json", env=isolated(tmp_path))
    assert done.returncode == 1  # 32 KiB of words is far over the 2,000-token default
    codex = json.loads(done.stdout)["tools"][0]
    kept = ("word " * 8000)[:32 * 1024]
    wrapped = f"# AGENTS.md instructions for {root.resolve()}\n\n<INSTRUCTIONS>\n{kept}\n</INSTRUCTIONS>"
    assert codex["tokens"] == tokens(wrapped)
    assert "ctxbudget: codex: " in done.stderr and "32" in done.stderr


@pytest.mark.skipif(shutil.which("setpriv") is None, reason="setpriv (util-linux) drops root's file capabilities")
def test_an_unreadable_instruction_file_is_a_warning_not_a_failure(tmp_path: Path) -> None:
    root, env = project(tmp_path)
    locked = root / "AGENTS.md"
    locked.chmod(0)
    try:
        done = cli("agents", str(root), "--json", "--no-user", env=env, user=True)
    finally:
        locked.chmod(0o644)
    assert done.returncode == 0, done.stderr
    agents = {a["agent"]: a for a in json.loads(done.stdout)["agents"]}
    assert agents["codex"]["files"] == [] and any(str(locked) in w for w in agents["codex"]["warnings"])
    assert [Path(f["path"]).name for f in agents["claude"]["files"]] == ["CLAUDE.md", "style.md"]
