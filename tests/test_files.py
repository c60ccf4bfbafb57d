"""Where ctxbudget keeps files and how it writes them: XDG directories created 0700, atomic writes that
fsync the file and its directory, new files 0600, and no temporary file left behind by a killed writer."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from ctxbudget import TokenizerFactory
from ctxbudget.files import atomic_write_text, private_dir, user_dir
from ctxbudget.tokenizers import openai as openai_mod


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_user_dirs_follow_xdg_and_ignore_relative_values(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for var in ("XDG_CACHE_HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME"):
        monkeypatch.delenv(var, raising=False)
    assert user_dir("cache") == tmp_path / "home" / ".cache" / "ctxbudget"
    assert user_dir("config") == tmp_path / "home" / ".config" / "ctxbudget"
    assert user_dir("data") == tmp_path / "home" / ".local" / "share" / "ctxbudget"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("XDG_DATA_HOME", "relative/dir")  # not absolute: ignored, as the specification says
    assert user_dir("cache") == tmp_path / "xdg" / "ctxbudget"
    assert user_dir("data") == tmp_path / "home" / ".local" / "share" / "ctxbudget"


def test_the_vocabulary_cache_creates_a_missing_xdg_cache_home_private(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Review finding: a missing XDG_CACHE_HOME was created 0755."""
    monkeypatch.delenv("CTXBUDGET_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "missing" / "cache"))
    TokenizerFactory.clear_cache()  # forgets the parsed tables, so the next load writes the cache file
    TokenizerFactory.get_tiktoken_encoding("cl100k_base")
    saved = tmp_path / "missing" / "cache" / "ctxbudget"
    digest = openai_mod.ENCODINGS["cl100k_base"].sha256[:16]
    assert [p.name for p in saved.iterdir()] == [f"cl100k_base-{digest}.marshal"]
    assert (mode(tmp_path / "missing"), mode(tmp_path / "missing" / "cache"), mode(saved)) == (0o700,) * 3
    assert mode(next(saved.iterdir())) == 0o600


def test_private_dir_leaves_existing_directories_alone(tmp_path: Path) -> None:
    (tmp_path / "shared").mkdir(mode=0o755)
    os.chmod(tmp_path / "shared", 0o755)
    private_dir(tmp_path / "shared" / "a" / "b")
    assert (mode(tmp_path / "shared"), mode(tmp_path / "shared" / "a"), mode(tmp_path / "shared" / "a" / "b")) == (
        0o755, 0o700, 0o700)


def test_new_files_are_private_and_existing_ones_keep_their_mode(tmp_path: Path) -> None:
    """Review finding: saved files were created 0644."""
    fresh = tmp_path / "new.json"
    atomic_write_text(fresh, "{}\n")
    assert mode(fresh) == 0o600
    shared = tmp_path / "shared.yaml"
    shared.write_text("old\n", encoding="utf-8")
    os.chmod(shared, 0o644)
    atomic_write_text(shared, "new\n")
    assert (shared.read_text(encoding="utf-8"), mode(shared)) == ("new\n", 0o644)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new.json", "shared.yaml"]


def test_the_file_and_its_directory_are_fsynced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Review finding: the directory was not fsynced, so a crash could lose the rename."""
    synced: list[str] = []
    real = os.fsync

    def fsync(fd: int) -> None:
        synced.append("directory" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file")
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    atomic_write_text(tmp_path / "x.txt", "data")
    assert synced == ["file", "directory"]


def test_a_killed_writer_leaves_the_old_file_and_its_temporary_file_is_swept(tmp_path: Path) -> None:
    """Review finding: a writer killed mid-write left an orphan .tmp file forever."""
    target = tmp_path / "usage.json"
    target.write_text("old\n", encoding="utf-8")
    writer = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import os, time
        from ctxbudget import files
        real = os.fsync
        files.os.fsync = lambda fd: time.sleep(60)  # hold the write open until we are killed
        files.atomic_write_text({str(target)!r}, "new\\n" * 1000)
    """)])
    try:
        deadline = time.monotonic() + 30
        while not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]:
            assert time.monotonic() < deadline, "the writer never started"
            time.sleep(0.01)
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait()
    orphans = [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    assert len(orphans) == 1 and orphans[0].startswith(f".usage.json.{writer.pid}.")
    assert target.read_text(encoding="utf-8") == "old\n"
    live = tmp_path / f".usage.json.{os.getppid()}.0badcafe.tmp"  # a writer that is still running: kept
    live.write_text("partial", encoding="utf-8")
    atomic_write_text(target, "newer\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([live.name, "usage.json"])
    assert target.read_text(encoding="utf-8") == "newer\n"


def test_saving_the_user_config_creates_its_directories_private(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Review finding: save_to_file(user_config_path()) created a missing XDG_CONFIG_HOME 0755."""
    from ctxbudget import BudgetConfigManager
    from ctxbudget.config_files import user_config_path

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg" / "config"))
    target = user_config_path()
    BudgetConfigManager().save_to_file(target)
    assert target == tmp_path / "xdg" / "config" / "ctxbudget" / "config.yaml"
    dirs = [tmp_path / "xdg", tmp_path / "xdg" / "config", tmp_path / "xdg" / "config" / "ctxbudget"]
    assert [mode(d) for d in dirs] == [0o700] * 3
    assert mode(target) == 0o600
