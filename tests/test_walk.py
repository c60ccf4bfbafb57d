"""Walking a repository as git sees it, through the real entry point in a subprocess."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from ctxbudget.cli.walk import WalkReport, walk
from repos import cli, make_repo


def counted(result: subprocess.CompletedProcess[str], root: Path) -> list[str]:
    data = json.loads(result.stdout)
    return sorted(str(Path(f["path"]).relative_to(root)) for f in data["files"])


def test_the_walk_sees_what_git_sees(tmp_path: Path) -> None:
    root = make_repo(tmp_path / "repo")
    result = cli("count", str(root), "-m", "gpt-4o", "--json", "--no-cache")
    assert result.returncode == 0, result.stderr
    # .py files are text; *.log ignored but keep.log negated back; .venv/ and build/ pruned; src's own ignore
    # file drops generated_x.py and re-includes generated_keep.py; docs/drafts/ gone via .ctxbudgetignore;
    # .git never walked; the symlink back to the top not followed; logo.png and latin1.txt skipped
    assert counted(result, root) == [".gitignore", "AGENTS.md", "README.md", "docs/.ctxbudgetignore", "docs/guide.txt",
                                     "keep.log", "src/.gitignore", "src/app.py", "src/generated_keep.py"]
    assert "skipped: 1 binary, 1 not UTF-8" in result.stderr


def test_include_exclude_no_ignore_and_errors(tmp_path: Path) -> None:
    root = make_repo(tmp_path / "repo")
    only_py = cli("count", str(root), "-m", "gpt-4o", "--json", "--no-cache", "--include", "*.py")
    assert counted(only_py, root) == ["src/app.py", "src/generated_keep.py"]
    no_docs = cli("count", str(root), "-m", "gpt-4o", "--json", "--no-cache", "--exclude", "docs/", "--exclude",
                  "*.log")
    assert not [f for f in counted(no_docs, root) if f.startswith("docs") or f.endswith(".log")]
    everything = counted(cli("count", str(root), "-m", "gpt-4o", "--json", "--no-cache", "--no-ignore"), root)
    assert {"debug.log", ".venv/lib/site.py", "build/out.js", "docs/drafts/wip.md", "src/generated_x.py"} <= set(
        everything)
    assert not [f for f in everything if f.startswith(".git/")]
    replaced = cli("count", str(root / "latin1.txt"), "-m", "gpt-4o", "--no-cache", "--errors", "replace")
    assert replaced.returncode == 0 and "read with U+FFFD" in replaced.stderr
    failed = cli("count", str(root), "-m", "gpt-4o", "--no-cache", "--errors", "fail")
    assert failed.returncode == 2 and "latin1.txt: not UTF-8 text" in failed.stderr


def test_a_directory_of_one_bad_file_is_not_refused_as_a_whole(tmp_path: Path) -> None:
    (tmp_path / "good.md").write_text("fine\n", encoding="utf-8")
    (tmp_path / "bad.md").write_bytes(b"\xff\xfe broken")
    result = cli("count", str(tmp_path), "-m", "gpt-4o", "--json", "--no-cache")
    assert result.returncode == 0 and counted(result, tmp_path) == ["good.md"]
    assert "1 not UTF-8" in result.stderr


@pytest.mark.skipif(shutil.which("setpriv") is None, reason="setpriv (util-linux) drops root's file capabilities")
def test_unreadable_files_and_directories_are_one_line_each(tmp_path: Path) -> None:
    root = make_repo(tmp_path / "repo")
    (root / "secret").mkdir()
    (root / "secret" / "a.md").write_text("hidden\n", encoding="utf-8")
    (root / "locked.md").write_text("locked\n", encoding="utf-8")
    os.chmod(root / "secret", 0)
    os.chmod(root / "locked.md", 0)
    try:
        result = cli("count", str(root), "-m", "gpt-4o", "--json", "--no-cache", user=True)
    finally:
        os.chmod(root / "secret", 0o755)
        os.chmod(root / "locked.md", 0o644)
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    assert f"ctxbudget: {root / 'secret'}: cannot list: Permission denied" in lines
    assert f"ctxbudget: {root / 'locked.md'}: Permission denied" in lines
    assert "README.md" in counted(result, root)


def test_walking_is_a_stream_in_sorted_order(tmp_path: Path) -> None:
    for name in ("b.md", "a.md", "c/z.md", "c/a.md"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(name, encoding="utf-8")
    report = WalkReport()
    stream = walk([str(tmp_path)], report)
    first = next(stream)
    assert first == (str(tmp_path / "a.md"), "a.md") and report.files == 1  # nothing read ahead
    assert [Path(p).relative_to(tmp_path).as_posix() for p, _ in stream] == ["b.md", "c/a.md", "c/z.md"]


def test_ignore_files_above_the_walked_folder_apply_inside_a_git_tree(tmp_path: Path) -> None:
    root = make_repo(tmp_path / "repo")
    result = cli("count", str(root / "src"), "-m", "gpt-4o", "--json", "--no-cache")
    assert counted(result, root / "src") == [".gitignore", "app.py", "generated_keep.py"]


def test_relative_paths_walk_like_absolute_ones(tmp_path: Path) -> None:
    """`ctxbudget count examples/instructions` (the README's demo) failed: relative paths against the absolute
    directories of the ignore files."""
    root = make_repo(tmp_path / "repo")
    absolute = counted(cli("count", str(root / "src"), "-m", "gpt-4o", "--json", "--no-cache"), root / "src")
    result = cli("count", "src", "-m", "gpt-4o", "--json", "--no-cache", cwd=root)
    assert result.returncode == 0, result.stderr
    assert counted(result, Path("src")) == absolute
    result = cli("count", ".", "-m", "gpt-4o", "--json", "--no-cache", cwd=root / "src")
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(("spelling", "expected"), [
    (".", "README.md"), ("./", "README.md"), ("src/..", "src/../README.md"), ("./src/", "src/app.py"),
    ("src", "src/app.py"),
])
def test_paths_are_reported_as_path_spells_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, spelling: str,
                                                expected: str) -> None:
    """Review finding: walking "." reported "./README.md" (and "./logo.png" among the binary files) where the
    paths had always been spelled as Path(".") / "README.md" is: "README.md"."""
    root = make_repo(tmp_path / "repo")
    result = cli("count", spelling, "-m", "gpt-4o", "--json", "--no-cache", cwd=root)
    assert result.returncode == 0, result.stderr
    paths = [f["path"] for f in json.loads(result.stdout)["files"]]
    assert expected in paths
    assert not [p for p in paths if p.startswith("./")]
    monkeypatch.chdir(root)
    report = WalkReport()
    assert [p for p, _ in walk([spelling], report)] == paths
    if spelling in (".", "./"):
        assert (report.binary, report.not_utf8) == (["logo.png"], ["latin1.txt"])
