"""Where ctxbudget keeps its files, and how it writes them.

* ``user_dir(kind)``: ``$XDG_CACHE_HOME``, ``$XDG_CONFIG_HOME`` or ``$XDG_DATA_HOME`` (an unset or relative
  value means ``~/.cache``, ``~/.config``, ``~/.local/share``), plus ``ctxbudget``.
* ``private_dir(path)``: creates every missing directory on the way as 0700 (the XDG base directory
  included: the specification asks for 0700 there), leaves existing ones as they are.
* ``atomic_write_text`` / ``atomic_write_bytes``: the file holds either its old content or the complete new
  one, whatever happens. The data goes to a temporary file in the same directory, which is flushed and
  fsynced, renamed over the target, and the directory is fsynced so that the rename survives a crash. A new
  file is created 0600 (an existing one keeps its mode), missing parent directories 0700. A writer that is
  killed leaves its temporary file behind; the next write to the same target removes such files once their
  process is gone.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal

UserDirKind = Literal["cache", "config", "data"]

_XDG = {"cache": ("XDG_CACHE_HOME", (".cache",)), "config": ("XDG_CONFIG_HOME", (".config",)),
        "data": ("XDG_DATA_HOME", (".local", "share"))}
#: How a new file is created (the same as the user's SQLite stores and cache files).
NEW_FILE_MODE = 0o600


def user_dir(kind: UserDirKind, environ: Mapping[str, str] | None = None) -> Path:
    """ctxbudget's directory of this kind for the current user (not created)."""
    env = os.environ if environ is None else environ
    variable, fallback = _XDG[kind]
    base = env.get(variable, "")
    root = Path(base) if base and os.path.isabs(base) else Path.home().joinpath(*fallback)
    return root / "ctxbudget"


def private_dir(path: str | os.PathLike[str]) -> Path:
    """``path`` as a directory, creating each missing component with mode 0700."""
    target = Path(path)
    missing: list[Path] = []
    probe = target
    while not probe.exists():
        missing.append(probe)
        if probe.parent == probe:
            break
        probe = probe.parent
    for directory in reversed(missing):
        with contextlib.suppress(FileExistsError):  # another process was faster
            directory.mkdir(mode=0o700)
    return target


_TMP = re.compile(r"\.(?P<name>.+)\.(?P<pid>\d+)\.[0-9a-f]{8}\.tmp")


def _sweep_orphans(directory: Path, name: str) -> None:
    """Remove the temporary files earlier writers of ``name`` left when they were killed."""
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return
    for entry in entries:
        match = _TMP.fullmatch(entry.name)
        if match is None or match.group("name") != name:
            continue
        pid = int(match.group("pid"))
        if pid == os.getpid() or _alive(pid):
            continue
        with contextlib.suppress(OSError):
            os.unlink(entry.path)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def _fsync_directory(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:  # a platform without directory handles: the rename is as durable as it gets
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes, *, mode: int | None = None) -> None:
    """Write ``data`` so that ``path`` holds either the old or the complete new content (see the module
    docstring); ``mode`` overrides the permissions of the result."""
    target = Path(path)
    directory = private_dir(target.parent)
    _sweep_orphans(directory, target.name)
    try:
        keep = target.stat().st_mode & 0o7777
    except FileNotFoundError:
        keep = NEW_FILE_MODE
    tmp = directory / f".{target.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fchmod(fh.fileno(), keep if mode is None else mode)
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_directory(directory)


def plain_file_mode() -> int:
    """The mode a new file of the user's own (an agent file, not ctxbudget's data) gets: 0666 less the umask."""
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


def atomic_write_text(path: str | os.PathLike[str], data: str, *, mode: int | None = None) -> None:
    """``atomic_write_bytes`` of ``data`` as UTF-8 (line endings as given)."""
    atomic_write_bytes(path, data.encode("utf-8"), mode=mode)


def marker_root(start: Path, markers: Sequence[str]) -> Path | None:
    """The first of ``start`` and its ancestors that holds any of ``markers`` (a file or a directory: a worktree's
    ``.git`` is a file), as git and the coding agents find a project's root; None when none does."""
    for directory in (start, *start.parents):
        for marker in markers:
            try:
                if (directory / marker).exists():
                    return directory
            except OSError:  # an unreadable directory on the way up holds no marker we can see
                continue
    return None
