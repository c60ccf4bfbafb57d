"""Walking the paths a command is given: every text file, as git would see the tree.

* **Text or not** is decided by content, not by suffix: a NUL byte in the first 8 KiB makes a file binary
  (skipped, counted in the report); a file that is not valid UTF-8 is reported and skipped
  (``errors="skip"``, the default), read with U+FFFD for the bad bytes (``"replace"``), or stops the command
  (``"fail"``).
* **Ignored**: ``.git`` is never walked; ``.gitignore`` and ``.ctxbudgetignore`` files are honoured at every
  level, a deeper file's rules over a shallower one's, negations included, with git's rule that nothing
  inside an ignored directory comes back (``pathspec``'s gitignore matcher). ``no_ignore`` turns them off.
  ``include``/``exclude`` are gitignore-style globs relative to the path given: with ``include``, only the
  files it matches. A file named on the command line is always read.
* **Links and errors**: symbolic links to directories are not followed (so a link loop cannot trap the walk);
  links to files are read. A directory or file that cannot be read is one line in the report, and the walk
  goes on.

Files come out one at a time, in sorted order per directory, so memory holds one file, not the tree.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pathspec

from ..files import marker_root

IGNORE_FILES = (".gitignore", ".ctxbudgetignore")
SNIFF_BYTES = 8192
ERRORS = ("skip", "replace", "fail")


class WalkError(Exception):
    """A file that stops the walk (``errors="fail"``); the message names it."""


@dataclass
class WalkReport:
    """What the walk read and what it left out, for the command's summary."""

    files: int = 0
    binary: list[str] = field(default_factory=list)
    not_utf8: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)  # one message each
    ignored: int = 0

    def summary(self) -> str:
        """One line: what was skipped ("" when nothing was)."""
        parts = [f"{len(self.binary)} binary"] if self.binary else []
        if self.not_utf8:
            parts.append(f"{len(self.not_utf8)} not UTF-8 (--errors replace reads them)")
        if self.replaced:
            parts.append(f"{len(self.replaced)} read with U+FFFD for invalid UTF-8")
        if self.unreadable:
            parts.append(f"{len(self.unreadable)} unreadable")
        return ("skipped: " + ", ".join(parts)) if parts else ""


def _posix(relative: str) -> str:
    return relative if os.sep == "/" else relative.replace(os.sep, "/")


class _Rules:
    """The ignore files that apply in one directory: each spec with its base directory (absolute, ending in
    a separator, so that a path below it is ``base + relative``)."""

    def __init__(self, specs: Sequence[tuple[str, pathspec.GitIgnoreSpec]] = ()) -> None:
        self.specs = list(specs)

    def below(self, directory: str) -> _Rules:
        """These rules plus the ignore files of ``directory`` (an absolute path)."""
        found = []
        for name in IGNORE_FILES:
            try:
                with open(os.path.join(directory, name), encoding="utf-8", errors="replace") as f:
                    lines = f.read().splitlines()
            except OSError:
                continue
            found.append((os.path.join(directory, ""), pathspec.GitIgnoreSpec.from_lines(lines)))
        return _Rules(self.specs + found) if found else self

    def ignored(self, absolute: str, is_dir: bool) -> bool:
        """Whether ``absolute`` (a path below every base) is ignored."""
        for base, spec in reversed(self.specs):  # the deepest file that has a say decides
            result = spec.check_file(_posix(absolute[len(base):]) + ("/" if is_dir else ""))
            if result.include is not None:
                return bool(result.include)
        return False


@dataclass
class _Walk:
    """What stays the same while one directory tree is walked."""

    report: WalkReport
    wanted: pathspec.GitIgnoreSpec | None
    unwanted: pathspec.GitIgnoreSpec | None
    no_ignore: bool
    errors: str


def walk(paths: Sequence[str], report: WalkReport, *, include: Sequence[str] = (), exclude: Sequence[str] = (),
         no_ignore: bool = False, errors: str = "skip") -> Iterator[tuple[str, str]]:
    """``(path, text)`` for every text file under ``paths`` (module docstring); ``report`` fills as it goes."""
    if errors not in ERRORS:
        raise ValueError(f"errors must be one of {', '.join(ERRORS)}, got {errors!r}")
    wanted = pathspec.GitIgnoreSpec.from_lines(include) if include else None
    unwanted = pathspec.GitIgnoreSpec.from_lines(exclude) if exclude else None
    for raw in paths:
        root = str(Path(raw))  # the spelling paths are reported in: "./docs/" is "docs"
        if os.path.isdir(root):
            absolute = os.path.abspath(root)  # not resolved: the ignore files sit on the path as given
            rules = _Rules() if no_ignore else _rules_above(absolute)
            job = _Walk(report, wanted, unwanted, no_ignore, errors)
            yield from _walk_dir(job, root, absolute, "", rules)
        else:
            text = _read(root, report, errors)
            if text is not None:
                yield raw, text


def _rules_above(absolute: str) -> _Rules:
    """The ignore files of the enclosing git work tree, from its top down to the parent of ``absolute``."""
    chain = [Path(absolute), *Path(absolute).parents]
    top = marker_root(chain[0], (".git",))
    if top is None:
        return _Rules()
    rules = _Rules()
    for directory in reversed(chain[1:chain.index(top) + 1]):
        rules = rules.below(str(directory))
    return rules


def _walk_dir(job: _Walk, directory: str, absolute: str, relative: str, rules: _Rules) -> Iterator[tuple[str, str]]:
    """The files below ``directory`` (as reported; ``absolute`` is the same directory, ``relative`` its path
    from the walk's root with a trailing ``/``, "" for the root)."""
    report = job.report
    if not job.no_ignore:
        rules = rules.below(absolute)
    try:
        with os.scandir(directory) as listing:
            entries = sorted(listing, key=lambda e: e.name)
    except OSError as exc:
        report.unreadable.append(f"{directory}: cannot list: {exc.strerror or exc}")
        return
    for entry in entries:
        path = entry.name if directory == "." else entry.path  # "a.md", as Path(".") / "a.md" spells it
        try:
            is_dir = entry.is_dir(follow_symlinks=False)
            is_file = entry.is_file(follow_symlinks=True)
        except OSError as exc:
            report.unreadable.append(f"{path}: {exc.strerror or exc}")
            continue
        if is_dir and entry.name == ".git":
            continue
        if not is_dir and not is_file:
            continue  # a link to a directory (not followed), a socket, a broken link
        name = relative + entry.name
        entry_absolute = os.path.join(absolute, entry.name)
        if not job.no_ignore and rules.ignored(entry_absolute, is_dir):
            report.ignored += 1
            continue
        if job.unwanted is not None and job.unwanted.match_file(name + ("/" if is_dir else "")):
            report.ignored += 1
            continue
        if is_dir:
            yield from _walk_dir(job, path, entry_absolute, name + "/", rules)
            continue
        if job.wanted is not None and not job.wanted.match_file(name):
            report.ignored += 1
            continue
        text = _read(path, report, job.errors)
        if text is not None:
            yield path, text


def _read(path: str, report: WalkReport, errors: str) -> str | None:
    try:
        with open(path, "rb", buffering=0) as f:  # unbuffered: one read of the whole file, no buffer object
            data = f.read()
    except OSError as exc:
        report.unreadable.append(f"{path}: {exc.strerror or exc}")
        return None
    if b"\0" in data[:SNIFF_BYTES]:
        report.binary.append(path)
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        if errors == "fail":
            raise WalkError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
        if errors == "skip":
            report.not_utf8.append(path)
            return None
        report.replaced.append(path)
        text = data.decode("utf-8", errors="replace")
    report.files += 1
    return text
