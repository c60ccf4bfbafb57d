"""Claude Code: managed, user and project memory files, ``.claude/rules``, and their ``@path`` imports.

Claude Code is closed source. The rules follow its memory documentation (code.claude.com/docs/en/memory as of
2026-08-22), its changelog and the anthropics/claude-code issues named below; the request layout is reconstructed
from third-party request captures and is not documented.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ._fs import JS_WHITESPACE, describe, dirs_down_to, is_file, lossy
from .base import AgentLoad, Findings, LoadedFile

SIMULATED_VERSION = ("Claude Code 2.1 (memory docs of 2026-08-22; the request layout is reconstructed from "
                     "request captures)")
MANAGED_PATHS = {"darwin": Path("/Library/Application Support/ClaudeCode/CLAUDE.md"),
                 "win32": Path("C:/Program Files/ClaudeCode/CLAUDE.md")}
MANAGED_PATH_LINUX = Path("/etc/claude-code/CLAUDE.md")
CONFIG_DIR_ENV = "CLAUDE_CONFIG_DIR"
USER_DIR = ".claude"
MEMORY_NAME = "CLAUDE.md"
DOT_MEMORY = Path(".claude", "CLAUDE.md")
LOCAL_NAME = "CLAUDE.local.md"
RULES_DIR = Path(".claude", "rules")
RULE_SUFFIX = ".md"
MAX_FILE_BYTES = 4 * 1024 * 1024  # "loads a CLAUDE.md file of up to 4 MiB in full and skips a larger file"
LARGE_FILE_CHARS = 40_000  # the "Large CLAUDE.md will impact performance" startup warning
MAX_IMPORT_HOPS = 4
ANCESTOR_IMPORT_BUG = "anthropics/claude-code#78697"
#: the per-file label of the request layout; managed and user files share the last one
LABELS = {"project": "project instructions, checked into the codebase",
          "local": "user's private project instructions, not checked in"}
GLOBAL_LABEL = "user's private global instructions for all projects"
PREAMBLE = ("<system-reminder>\nAs you answer the user's questions, you can use the following context:\n# claudeMd\n"
            "Codebase and user instructions are shown below. Be sure to adhere to these instructions. IMPORTANT: "
            "These instructions OVERRIDE any default behavior and you MUST follow them exactly as written.")
SECTION = "Contents of {path} ({label}):\n\n{text}"
CLOSING = ("      IMPORTANT: this context may or may not be relevant to your tasks. You should not respond to this "
           "context unless it is highly relevant to your task.\n</system-reminder>")
SECTION_JOIN = "\n\n"

_FENCE = re.compile(r" {0,3}(`{3,}|~{3,})")
_COMMENT_START = re.compile(r" {0,3}<!--")
_BACKTICKS = re.compile(r"`+")
_IMPORT = re.compile(r"(?<!\S)@((?:~/|/)?[\w.][^\s]*)")
_FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?)^---[ \t]*(?:\r?\n|\Z)", re.S | re.M)
_PATHS_KEY = re.compile(r"^paths[ \t]*:", re.M)


@dataclass(frozen=True, slots=True)
class _Import:
    line: int
    raw: str


@dataclass(frozen=True, slots=True)
class _Source:
    path: Path
    scope: str
    label: str
    expand: bool = True  # False for ancestor files, whose imports Claude Code leaves alone (the open bug)
    rule: bool = False


@dataclass(slots=True)
class _Loader:
    cwd: Path
    home: Path
    found: Findings
    seen: dict[str, Path] = field(default_factory=dict)
    sections: list[tuple[LoadedFile, str]] = field(default_factory=list)

    def load(self, source: _Source) -> None:
        read = self._read(source.path, source.scope)
        if read is None:
            return
        raw, size = read
        text = self._unscoped_rule(source, raw) if source.rule else raw
        if text is None:
            return
        body, imports = scan(text)
        self._add(source.path, source.scope, source.label, body, size, imported_by=None, depth=0)
        if imports and not source.expand:
            self.found.warn(f"{source.path}: Claude Code does not expand @imports in a CLAUDE.md above the launch "
                            f"directory (open bug {ANCESTOR_IMPORT_BUG})")
        elif imports:
            self._follow(source.path, source.label, imports, depth=0)

    def _read(self, path: Path, scope: str) -> tuple[str, int] | None:
        """The decoded text and the size on disk, or None when Claude Code does not load the file."""
        key = os.path.realpath(path)
        if key in self.seen:
            self.found.skip(path, scope, f"same file as {self.seen[key]}, already loaded")
            return None
        try:
            size = path.stat().st_size
            if size > MAX_FILE_BYTES:
                self.found.warn(f"{path}: {size} bytes is over Claude Code's 4 MiB limit; it skips the file")
                self.found.skip(path, scope, "larger than 4 MiB")
                return None
            data = path.read_bytes()
        except OSError as exc:
            self.found.warn(f"{path}: Claude Code cannot read it ({describe(exc)})")
            self.found.skip(path, scope, f"unreadable: {describe(exc)}")
            return None
        self.seen[key] = path
        if b"\0" in data:
            self.found.skip(path, scope, "binary file (Claude Code 2.1.2+ does not include binary files)")
            return None
        return lossy(data), size

    def _unscoped_rule(self, source: _Source, text: str) -> str | None:
        match = _FRONT_MATTER.match(text)
        if match is None:
            return text
        if _PATHS_KEY.search(match.group(1)):
            self.found.skip(source.path, source.scope, "loads when Claude reads a matching file (paths: front matter)")
            return None
        return text[match.end():]

    def _add(self, path: Path, scope: str, label: str, body: str, size: int, *, imported_by: Path | None,
             depth: int, note: str | None = None) -> None:
        text = body.strip(JS_WHITESPACE)
        if not text:
            self.found.skip(path, scope, "empty after removing HTML comments and trimming")
            return
        if len(text) > LARGE_FILE_CHARS:
            self.found.warn(f"{path}: {len(text) / 1000:.1f}k chars > 40.0k; Claude Code warns \"Large CLAUDE.md "
                            "will impact performance\" (since 2.1.169 the threshold scales with the context window)")
        self.sections.append((LoadedFile(path, scope, text, size, imported_by, depth, note=note), label))

    def _follow(self, importer: Path, label: str, imports: list[_Import], depth: int) -> None:
        for item in imports:
            where = f"{importer}:{item.line}"
            if depth == MAX_IMPORT_HOPS:
                self.found.warn(f"{where}: @{item.raw} is not followed; Claude Code follows imports at most "
                                f"{MAX_IMPORT_HOPS} hops deep")
                continue
            target = self._target(item.raw, importer)
            if not is_file(target):
                self.found.warn(f"broken @import {item.raw} in {where}: no file at {target} (Claude Code skips it "
                                "silently)")
                continue
            if os.path.realpath(target) in self.seen:
                continue  # each file enters the context once, which also ends import cycles
            read = self._read(target, "import")
            if read is None:
                continue
            note = self._external_note(target, label, where, item.raw)
            body, nested = scan(read[0])
            self._add(target, "import", label, body, read[1], imported_by=importer, depth=depth + 1, note=note)
            self._follow(target, label, nested, depth + 1)

    def _target(self, raw: str, importer: Path) -> Path:
        if raw.startswith("~/"):
            return self.home / raw[2:]
        return Path(os.path.normpath(importer.parent / raw))

    def _external_note(self, target: Path, label: str, where: str, raw: str) -> str | None:
        """Project files that import from outside the working directory need a one-time approval; managed and user
        files (the global label) do not."""
        if label == GLOBAL_LABEL or Path(os.path.realpath(target)).is_relative_to(self.cwd):
            return None
        self.found.warn(f"{where}: @{raw} is outside the working directory; Claude Code asks once before loading "
                        "such imports (simulated as approved)")
        return "external import: needs the one-time approval"

    def text(self) -> str:
        if not self.sections:
            return ""
        sections = [SECTION.format(path=loaded.path, label=label, text=loaded.text) for loaded, label in self.sections]
        return SECTION_JOIN.join([PREAMBLE, *sections, CLOSING])


def simulate(cwd: Path, *, home: Path, env: Mapping[str, str], include_user: bool,
             settings: Mapping[str, object]) -> AgentLoad:
    loader = _Loader(cwd, home, Findings())
    for source in _sources(cwd, home, env, include_user, settings):
        if is_file(source.path):
            loader.load(source)
    files = [loaded for loaded, _ in loader.sections]
    return loader.found.result("claude", SIMULATED_VERSION, cwd, files, loader.text())


def _sources(cwd: Path, home: Path, env: Mapping[str, str], include_user: bool,
             settings: Mapping[str, object]) -> Iterator[_Source]:
    """Every candidate in load order: broadest first, so a later file appears later in the context."""
    managed = settings.get("managed_path", MANAGED_PATHS.get(sys.platform, MANAGED_PATH_LINUX))
    yield _Source(Path(str(managed)), "managed", GLOBAL_LABEL)
    if include_user:
        user_dir = Path(env[CONFIG_DIR_ENV]) if env.get(CONFIG_DIR_ENV) else home / USER_DIR
        yield _Source(user_dir / MEMORY_NAME, "user", GLOBAL_LABEL)
        for rule in rule_files(user_dir / "rules"):
            yield _Source(rule, "rules", GLOBAL_LABEL, rule=True)
    for directory in dirs_down_to(cwd, None):
        here = directory == cwd
        yield _Source(directory / MEMORY_NAME, "project", LABELS["project"], expand=here)
        yield _Source(directory / DOT_MEMORY, "project", LABELS["project"], expand=here)
        if here:
            for rule in rule_files(directory / RULES_DIR):
                yield _Source(rule, "rules", LABELS["project"], rule=True)
        yield _Source(directory / LOCAL_NAME, "local", LABELS["local"], expand=here)


def rule_files(rules_dir: Path) -> list[Path]:
    """Every ``*.md`` below rules_dir, depth first with each directory's entries sorted by name; symlinks are
    followed, a directory already walked (a link loop) is not walked again."""
    found: list[Path] = []
    walked: set[str] = set()

    def walk(directory: Path) -> None:
        walked.add(os.path.realpath(directory))
        try:
            names = sorted(entry.name for entry in os.scandir(directory))
        except OSError:
            return
        for name in names:
            path = directory / name
            if path.is_dir() and os.path.realpath(path) not in walked:
                walk(path)
            elif name.endswith(RULE_SUFFIX) and is_file(path):
                found.append(path)

    if rules_dir.is_dir():
        walk(rules_dir)
    return found


def scan(text: str) -> tuple[str, list[_Import]]:
    """The text without block-level HTML comments, and its ``@path`` imports outside code spans and fences."""
    kept: list[str] = []
    imports: list[_Import] = []
    fence: str | None = None
    in_comment = False
    for number, line in enumerate(text.splitlines(keepends=True), 1):
        if in_comment:
            end = line.find("-->")
            if end < 0:
                continue
            in_comment, line = False, line[end + 3:]
        elif fence is not None:
            fence = None if _closes(line, fence) else fence
            kept.append(line)
            continue
        elif (opening := _FENCE.match(line)) is not None:
            fence = opening.group(1)
            kept.append(line)
            continue
        elif _COMMENT_START.match(line):
            start = line.index("<!--")
            end = line.find("-->", start + 4)
            in_comment = end < 0
            line = "" if in_comment else line[end + 3:]
        if line.strip():
            kept.append(line)
            imports += [_Import(number, m.group(1)) for m in _IMPORT.finditer(_mask_code_spans(line))]
    return "".join(kept), imports


def _closes(line: str, fence: str) -> bool:
    stripped = line.strip()
    return stripped.startswith(fence) and set(stripped) == {fence[0]}


def _mask_code_spans(line: str) -> str:
    """Code spans (a backtick run up to the next run of the same length) replaced by NULs, so nothing inside
    them counts and the character before an ``@`` after them is not whitespace."""
    runs = list(_BACKTICKS.finditer(line))
    masked = line
    index = 0
    while index < len(runs):
        opening = runs[index]
        closing = next((j for j in range(index + 1, len(runs)) if len(runs[j].group()) == len(opening.group())), None)
        if closing is None:
            index += 1
            continue
        start, end = opening.start(), runs[closing].end()
        masked = masked[:start] + "\0" * (end - start) + masked[end:]
        index = closing + 1
    return masked
