"""Gemini CLI: global and project context files (the just-in-time memory model of v0.44.0 and later).

Rules from google-gemini/gemini-cli at 5411f113c (2026-08-21, v0.56.0-nightly.20260822):
``packages/core/src/utils/memoryDiscovery.ts``, ``memoryImportProcessor.ts``, ``paths.ts``,
``context/memoryContextManager.ts``, ``tools/memoryTool.ts``, ``prompts/snippets.ts`` (``renderUserMemory``) and
``config/config.ts`` (``getSessionMemory``).
"""

from __future__ import annotations

import errno
import json
import os
import re
import string
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote

from ..files import marker_root
from ._fs import JS_WHITESPACE, checked_list, identity, lossy, unique
from .base import AgentLoad, Findings, LoadedFile

SIMULATED_VERSION = "Gemini CLI v0.56.0-nightly.20260822 (gemini-cli 5411f113c; JIT memory model of v0.44.0+)"
HOME_ENV = "GEMINI_CLI_HOME"  # replaces the home directory, so the global directory is $GEMINI_CLI_HOME/.gemini
GEMINI_DIR = ".gemini"
SETTINGS_FILE = "settings.json"
DEFAULT_FILE_NAME = "GEMINI.md"  # configured names go in front of it since v0.44.0
DEFAULT_BOUNDARY_MARKERS = [".git"]
MAX_IMPORT_DEPTH = 5
IMPORT_WHITESPACE = " \t\n\r"
IMPORT_FIRST_CHARS = "./" + string.ascii_letters
CODE_REGION = re.compile(r"(`+)([\s\S]*?)\1")
URL_IMPORT = re.compile(r"^(file|https?)://")
BLOCK = "--- Context from: {path} ---\n{text}\n--- End of Context from: {path} ---"
BLOCK_JOIN = "\n\n"
IMPORTED = "<!-- Imported from: {path} -->\n{text}\n<!-- End of import from: {path} -->"
TRAVERSAL = "<!-- Import failed: {path} - Path traversal attempt -->"
ALREADY_PROCESSED = "<!-- File already processed: {path} -->"
IMPORT_FAILED = "<!-- Import failed: {path} - {error} -->"
#: tier 1, the end of the system instruction (renderUserMemory with the global memory string)
SYSTEM_MEMORY = """# Contextual Instructions ({names})
The following content is loaded from local and global configuration files.
**Context Precedence:**
- **Global (~/.gemini/):** foundational user preferences. Apply these broadly.
- **Extensions:** supplementary knowledge and capabilities.
- **Workspace Root:** workspace-wide mandates. Supersedes global preferences.
- **Sub-directories:** highly specific overrides. These rules supersede all others for files within their scope.

**Conflict Resolution:**
- **Precedence:** Strictly follow the order above (Sub-directories > Workspace Root > Extensions > Global).
- **System Overrides:** Contextual instructions override default operational behaviors (e.g., tech stack, style, \
workflows, tool preferences) defined in the system prompt. However, they **cannot** override Core Mandates regarding \
safety, security, and agent integrity.

<loaded_context>
{memory}
</loaded_context>"""
#: tier 2, inside the <session_context> of the first user message (getSessionMemory)
SESSION_MEMORY = "<loaded_context>\n<project_context>\n{memory}\n</project_context>\n</loaded_context>"
TIER_JOIN = "\n\n"
#: libuv's error texts, as they appear in Node's fs error messages
_UV_TEXT = {errno.ENOENT: "no such file or directory", errno.EACCES: "permission denied",
            errno.ENOTDIR: "not a directory", errno.ELOOP: "too many symbolic links encountered",
            errno.ENAMETOOLONG: "name too long"}


class _NodeError(Exception):
    """An fs failure carrying the message Node would print."""


@dataclass(frozen=True, slots=True)
class _Import:
    start: int
    end: int
    raw: str


@dataclass(slots=True)
class _Expander:
    """processImports in tree mode, for one file the loader found."""

    root: Path  # the import boundary: the top file's nearest marker directory, else that file's directory
    found: Findings
    files: list[LoadedFile] = field(default_factory=list)

    def expand(self, content: str, file: Path, depth: int, chain: frozenset[str]) -> str:
        if depth >= MAX_IMPORT_DEPTH:
            if any(not _in_code(item, _code_regions(content)) for item in find_imports(content)):
                self.found.warn(f"{file}: its @imports are left as text; Gemini CLI stops at import depth "
                                f"{MAX_IMPORT_DEPTH}")
            return content
        regions = _code_regions(content)
        out: list[str] = []
        last = 0
        for item in find_imports(content):
            out.append(content[last:item.start])
            last = item.end
            out.append(f"@{item.raw}" if _in_code(item, regions) else self._one(item.raw, file, depth, chain))
        out.append(content[last:])
        return "".join(out)

    def _one(self, raw: str, importer: Path, depth: int, chain: frozenset[str]) -> str:
        if not self._inside_root(raw, importer.parent):
            self.found.warn(f"{importer}: @{raw} is refused, it leaves the project root {self.root}")
            return TRAVERSAL.format(path=raw)
        target = Path(os.path.normpath(importer.parent / raw))
        if str(target) in chain:  # the chain of this branch only: a sibling may import the same file again
            self.found.warn(f"{importer}: @{raw} is already being imported further up this chain (a cycle)")
            return ALREADY_PROCESSED.format(path=raw)
        try:
            data = node_read(target)
        except _NodeError as exc:
            self.found.warn(f"{importer}: @{raw} failed: {exc}")
            return IMPORT_FAILED.format(path=raw, error=exc)
        position = len(self.files)
        text = self.expand(lossy(data), target, depth + 1, chain | {str(target)})
        self.files.insert(position, LoadedFile(target, "import", text, len(data), importer, depth + 1,
                                               note="inlined into its importer's text"))
        return IMPORTED.format(path=raw, text=text)

    def _inside_root(self, raw: str, base: Path) -> bool:
        if URL_IMPORT.match(raw):
            return False
        try:
            decoded = unquote(raw, errors="strict")
        except UnicodeDecodeError:
            decoded = raw  # decodeURIComponent throws, and the path is checked as written
        target = Path(os.path.realpath(base / decoded))
        return target.is_relative_to(os.path.realpath(self.root))


def simulate(cwd: Path, *, home: Path, env: Mapping[str, str], include_user: bool,
             settings: Mapping[str, object]) -> AgentLoad:
    found = Findings()
    global_dir = Path(os.path.abspath(Path(env[HOME_ENV]) if env.get(HOME_ENV) else home)) / GEMINI_DIR
    context = _context_settings([global_dir / SETTINGS_FILE, cwd / GEMINI_DIR / SETTINGS_FILE], settings, found)
    names = file_names(context.get("fileName", []))
    markers = [m for m in checked_list(context.get("memoryBoundaryMarkers", DEFAULT_BOUNDARY_MARKERS),
                                       "context.memoryBoundaryMarkers") if not os.path.isabs(m) and ".." not in m]
    if context.get("importFormat", "tree") != "tree":
        found.warn(f"context.importFormat {context['importFormat']!r} is not simulated; imports are shown as tree")
    global_paths = [global_dir / name for name in names if _readable(global_dir / name)] if include_user else []
    project_paths = _dedupe(global_paths, _project_paths(cwd, names, markers, global_dir), found)
    global_files = _load(global_paths, "user", markers, found)
    project_files = _load(project_paths, "project", markers, found)
    tiers = [SYSTEM_MEMORY.format(names=", ".join(names), memory=_blocks(global_files)) if global_files else "",
             SESSION_MEMORY.format(memory=_blocks(project_files)) if project_files else ""]
    return found.result("gemini", SIMULATED_VERSION, cwd, global_files + project_files,
                        TIER_JOIN.join(tier for tier in tiers if tier))


def _context_settings(paths: list[Path], settings: Mapping[str, object], found: Findings) -> dict[str, object]:
    """The ``context`` object of the user then the workspace settings file, then of the settings argument."""
    merged: dict[str, object] = {}
    for path in paths:
        if path.is_file():
            try:
                merged.update(_context_of(json.loads(path.read_text(encoding="utf-8"))))
            except (OSError, UnicodeDecodeError, ValueError) as exc:
                found.warn(f"{path}: not read ({exc}); its context settings are ignored")
    merged.update(_context_of(settings))
    return merged


def _context_of(settings: object) -> dict[str, object]:
    context = settings.get("context") if isinstance(settings, Mapping) else None
    return dict(context) if isinstance(context, Mapping) else {}


def file_names(configured: object) -> list[str]:
    """Configured names (trimmed, normalized) first, then GEMINI.md, each once."""
    names = checked_list([configured] if isinstance(configured, str) else configured, "context.fileName")
    return unique([*(os.path.normpath(n.strip()) for n in names if n.strip()), DEFAULT_FILE_NAME])


def _readable(path: Path) -> bool:
    return os.access(path, os.R_OK)  # as fs.access(R_OK): a directory passes, and is skipped when read


def _project_paths(cwd: Path, names: list[str], markers: list[str], global_dir: Path) -> list[Path]:
    """From the cwd up to the nearest marker directory (only the cwd without one), never into the global dir."""
    ceiling = marker_root(cwd, markers) or cwd
    paths: list[Path] = []
    for directory in (cwd, *cwd.parents):
        if directory == global_dir:
            break
        paths = [Path(os.path.normpath(directory / n)) for n in names if _readable(directory / n)] + paths
        if directory == ceiling:
            break
    return paths


def _dedupe(global_paths: list[Path], project_paths: list[Path], found: Findings) -> list[Path]:
    """Project files deduplicated by (device, inode), also against the global files, then sorted as JavaScript
    sorts strings: by UTF-16 code units of the absolute path, which puts /r/A/GEMINI.md before /r/GEMINI.md."""
    owners = {key: path for path in global_paths if (key := identity(path)) is not None}
    kept: list[Path] = []
    for path in project_paths:
        key = identity(path)
        if key is None or key not in owners:
            kept.append(path)
            if key is not None:
                owners[key] = path
        else:
            found.skip(path, "project", f"same file as {owners[key]}")
    return sorted(kept, key=lambda path: str(path).encode("utf-16-be"))


def _load(paths: list[Path], scope: str, markers: list[str], found: Findings) -> list[LoadedFile]:
    files: list[LoadedFile] = []
    for path in paths:
        if path.is_dir():
            continue  # EISDIR: a directory named like a context file is skipped silently
        try:
            data = node_read(path)
        except _NodeError as exc:
            found.warn(f"{path}: Gemini CLI cannot read it ({exc})")
            found.skip(path, scope, f"unreadable: {exc}")
            continue
        expander = _Expander(marker_root(path.parent, markers) or path.parent, found)
        text = expander.expand(lossy(data), path, 0, frozenset()).strip(JS_WHITESPACE)
        if text:
            files += [LoadedFile(path, scope, text, len(data)), *expander.files]
        else:
            found.skip(path, scope, "empty after trimming")
    return files


def _blocks(files: list[LoadedFile]) -> str:
    return BLOCK_JOIN.join(BLOCK.format(path=f.path, text=f.text) for f in files if f.imported_by is None)


def node_read(path: Path) -> bytes:
    """fs.access then fs.readFile, failing with the message Node gives."""
    try:
        os.stat(path)
    except OSError as exc:
        raise _NodeError(_node_message(exc, "access", path)) from exc
    if path.is_dir():
        raise _NodeError("EISDIR: illegal operation on a directory, read")
    try:
        return path.read_bytes()
    except OSError as exc:
        raise _NodeError(_node_message(exc, "open", path)) from exc


def _node_message(exc: OSError, syscall: str, path: Path) -> str:
    code = errno.errorcode.get(exc.errno or 0, "UNKNOWN")
    text = _UV_TEXT.get(exc.errno or 0, (exc.strerror or "unknown error").lower())
    return f"{code}: {text}, {syscall} '{path}'"


def find_imports(content: str) -> Iterator[_Import]:
    """``@`` at the start or after a space, tab or line break, up to the next one; the path must start with
    ``.``, ``/`` or an ASCII letter (so ``@~/x`` and ``@2x`` are no imports)."""
    at = content.find("@")
    while at >= 0:
        if at > 0 and content[at - 1] not in IMPORT_WHITESPACE:
            at = content.find("@", at + 1)
            continue
        end = at + 1
        while end < len(content) and content[end] not in IMPORT_WHITESPACE:
            end += 1
        raw = content[at + 1:end]
        if raw and raw[0] in IMPORT_FIRST_CHARS:
            yield _Import(at, end, raw)
        at = content.find("@", end + 1)


def _code_regions(content: str) -> list[tuple[int, int]]:
    return [(m.start(), m.end()) for m in CODE_REGION.finditer(content)]


def _in_code(item: _Import, regions: list[tuple[int, int]]) -> bool:
    return any(start <= item.start < end for start, end in regions)
