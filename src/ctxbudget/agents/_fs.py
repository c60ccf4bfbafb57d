"""Helpers the three loader simulations share: file checks, decoding, trimming, settings values."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from ctxbudget.errors import ConfigError

#: what JavaScript's String.prototype.trim removes (Claude Code and Gemini CLI are Node programs); unlike
#: Python's str.strip it includes U+FEFF, so a byte-order mark never survives, and it leaves U+001C–U+001F
JS_WHITESPACE = "\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a" \
    "\u2028\u2029\u202f\u205f\u3000\ufeff"
#: what Rust's str::trim removes (Codex): the Unicode White_Space property, which has U+0085 but not U+FEFF
RUST_WHITESPACE = "\t\n\v\f\r \u0085\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009" \
    "\u200a\u2028\u2029\u202f\u205f\u3000"


def lossy(data: bytes) -> str:
    """Decode as Rust's from_utf8_lossy and Node's utf-8 reader do: each maximal invalid subpart -> one U+FFFD."""
    return data.decode("utf-8", "replace")


def is_valid_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def describe(exc: OSError) -> str:
    return exc.strerror or str(exc)


def is_file(path: Path) -> bool:
    """A regular file, through symlinks; a broken or looping link is no file."""
    try:
        return path.is_file()
    except OSError:
        return False


def identity(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_dev, st.st_ino


def dirs_down_to(cwd: Path, top: Path | None) -> list[Path]:
    """top, the directories below it, ..., cwd; from the filesystem root when top is None."""
    chain = [cwd]
    for parent in cwd.parents:
        if chain[-1] == top:
            break
        chain.append(parent)
    return chain[::-1]


def resolve_dir(cwd: str | os.PathLike[str]) -> Path:
    """The physical directory, as a process started there sees it (getcwd resolves symlinks)."""
    path = Path(os.path.realpath(cwd))
    if not path.is_dir():
        raise NotADirectoryError(f"not a directory: {cwd}")
    return path


def unique(names: Iterable[str]) -> list[str]:
    """First occurrences, in order, without empty names."""
    return list(dict.fromkeys(name for name in names if name))


def checked_list(value: object, key: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ConfigError(f"{key}: expected a list of strings, got {value!r}")
    return value


def checked_count(value: object, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"{key}: expected a non-negative integer, got {value!r}")
    return value
