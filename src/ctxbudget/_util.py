"""Small helpers shared by several modules."""

from __future__ import annotations

import os
from pathlib import Path


def require_str(text: object, what: str = "text") -> str:
    """Return ``text`` if it is a ``str``; otherwise raise ``TypeError`` naming its type."""
    if type(text) is str or isinstance(text, str):
        return text
    raise TypeError(f"{what} must be str, not {type(text).__name__}")


def utilization_pct(used: float, limit: float) -> float:
    """``used/limit*100`` (may exceed 100); a zero limit reads 0.0 when nothing is used, else 100.0."""
    if limit > 0:
        return used / limit * 100.0
    return 0.0 if used == 0 else 100.0


def _mode_for(target: Path) -> int:
    """Keep an existing file's permissions; a new file gets the usual 0666 minus the umask (mkstemp's 0600
    would otherwise make every saved config private)."""
    try:
        return target.stat().st_mode & 0o7777
    except FileNotFoundError:
        return 0o666 & ~_umask()


def _umask() -> int:
    """The process umask, read without changing it (os.umask would, briefly, for every thread)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o022


def atomic_write_text(path: str | os.PathLike[str], data: str) -> None:
    """Write ``data`` as UTF-8 so that ``path`` holds either the old or the complete new content."""
    import tempfile  # ~9 ms of import time that read-only commands never need

    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        os.fchmod(fd, _mode_for(target))
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
