"""OpenAI Codex CLI: the global AGENTS.md, then one project doc per directory from the project root to the cwd.

Rules from openai/codex ``codex-rs/core/src/agents_md.rs`` (``AgentsMdManager``, 9e5f1c37; the single-environment
path of 0cf644af is the same), ``codex-rs/config/src/config_toml.rs`` (00e9f068) and
``codex-rs/core/src/instructions/user_instructions.rs`` (0b2b8c90).
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ..files import marker_root
from ._fs import (
    RUST_WHITESPACE,
    checked_count,
    checked_list,
    describe,
    dirs_down_to,
    is_file,
    is_valid_utf8,
    lossy,
    unique,
)
from .base import AgentLoad, Findings, LoadedFile

SIMULATED_VERSION = ("Codex CLI, codex-rs/core/src/agents_md.rs at 9e5f1c37 (one environment; "
                     "project_doc_max_bytes default 32 KiB)")
HOME_ENV = "CODEX_HOME"
DEFAULT_HOME = ".codex"
CONFIG_FILE = "config.toml"
#: the override wins over AGENTS.md, in the Codex home and in every project directory
DOC_NAMES = ("AGENTS.override.md", "AGENTS.md")
DEFAULT_MAX_BYTES = 32 * 1024  # DEFAULT_PROJECT_DOC_MAX_BYTES
DEFAULT_ROOT_MARKERS = (".git",)
DOC_JOIN = "\n\n"
PROJECT_DOC_SEPARATOR = "\n\n--- project-doc ---\n\n"  # AGENTS_MD_SEPARATOR, between global and project text
WRAPPER = "# AGENTS.md instructions for {cwd}\n\n<INSTRUCTIONS>\n{body}\n</INSTRUCTIONS>"


@dataclass(frozen=True, slots=True)
class _Config:
    max_bytes: int
    fallbacks: list[str]
    markers: list[str]


def simulate(cwd: Path, *, home: Path, env: Mapping[str, str], include_user: bool,
             settings: Mapping[str, object]) -> AgentLoad:
    codex_home = Path(env[HOME_ENV]) if env.get(HOME_ENV) else home / DEFAULT_HOME
    found = Findings()
    config = _config(codex_home / CONFIG_FILE, settings, found)
    user_doc = _global_doc(codex_home, found) if include_user else None
    docs = _project_docs(_doc_paths(cwd, config), config.max_bytes, found)
    body = PROJECT_DOC_SEPARATOR.join(part for part in (user_doc.text if user_doc else "",
                                                        DOC_JOIN.join(doc.text for doc in docs)) if part)
    files = [user_doc, *docs] if user_doc else docs
    return found.result("codex", SIMULATED_VERSION, cwd, files, WRAPPER.format(cwd=cwd, body=body) if body else "")


def _config(path: Path, settings: Mapping[str, object], found: Findings) -> _Config:
    values = {**_config_file(path, found), **settings}
    return _Config(
        checked_count(values.get("project_doc_max_bytes", DEFAULT_MAX_BYTES), "project_doc_max_bytes"),
        checked_list(values.get("project_doc_fallback_filenames", []), "project_doc_fallback_filenames"),
        checked_list(values.get("project_root_markers", list(DEFAULT_ROOT_MARKERS)), "project_root_markers"))


def _config_file(path: Path, found: Findings) -> dict[str, object]:
    if not is_file(path):
        return {}
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        found.warn(f"{path}: not read ({exc}); the simulation uses Codex's defaults")
        return {}


def _decode(path: Path, data: bytes, keep: int, found: Findings) -> str:
    """The first keep bytes, decoded only after the cut: a split multi-byte character becomes one U+FFFD."""
    if not is_valid_utf8(data):  # checked on the file as read, as Codex does before cutting
        found.warn(f"{path}: not valid UTF-8; Codex replaces the bad bytes with U+FFFD")
    return lossy(data[:keep])


def _global_doc(codex_home: Path, found: Findings) -> LoadedFile | None:
    """The first non-empty candidate, stored trimmed; it is outside the project-doc budget."""
    for path in (codex_home / name for name in DOC_NAMES):
        if not is_file(path):
            continue
        try:
            data = path.read_bytes()
        except OSError as exc:
            found.warn(f"{path}: Codex cannot read it ({describe(exc)}) and tries the next name")
            continue
        text = _decode(path, data, len(data), found).strip(RUST_WHITESPACE)
        if text:
            return LoadedFile(path, "user", text, len(data))
        found.skip(path, "user", "empty after trimming; Codex tries the next name")
    return None


def _doc_paths(cwd: Path, config: _Config) -> list[Path]:
    """Root first; per directory the first candidate that is a file (symlinks allowed)."""
    root = marker_root(cwd, config.markers)
    names = unique((*DOC_NAMES, *config.fallbacks))
    paths = []
    for directory in dirs_down_to(cwd, root) if root else [cwd]:
        path = next((directory / name for name in names if is_file(directory / name)), None)
        if path is not None:
            paths.append(path)
    return paths


def _budget(limit: int) -> str:
    return f"{limit // 1024} KiB" if limit % 1024 == 0 else f"{limit} bytes"


def _project_docs(paths: list[Path], limit: int, found: Findings) -> list[LoadedFile]:
    """One byte budget over the raw files: the first file that overflows is cut, every later one dropped."""
    if limit == 0:
        for path in paths:
            found.skip(path, "project", "project_doc_max_bytes = 0 turns project docs off")
        return []
    docs: list[LoadedFile] = []
    remaining = limit
    for index, path in enumerate(paths):
        if remaining == 0:
            for dropped in paths[index:]:
                found.skip(dropped, "project", f"dropped: the {_budget(limit)} project doc budget is used up")
            break
        try:
            data = path.read_bytes()
        except OSError as exc:
            return _read_error(path, exc, paths, found)
        kept = data[:remaining]
        text = _decode(path, data, len(kept), found)
        if not text.strip(RUST_WHITESPACE):
            found.skip(path, "project", "whitespace only; uses no budget")
            continue
        if len(kept) < len(data):
            _warn_cut(path, data, kept, limit, found)
        docs.append(LoadedFile(path, "project", text, len(data), truncated=len(kept) < len(data)))
        remaining -= len(kept)
    return docs


def _warn_cut(path: Path, data: bytes, kept: bytes, limit: int, found: Findings) -> None:
    split = " (the cut splits a UTF-8 character, which becomes U+FFFD)" if is_valid_utf8(data) and not \
        is_valid_utf8(kept) else ""
    found.warn(f"Codex cut {path} at {len(kept)} of {len(data)} bytes ({_budget(limit)} total for project docs)"
               f"{split}; project docs after it are dropped")


def _read_error(path: Path, exc: OSError, paths: list[Path], found: Findings) -> list[LoadedFile]:
    # read_agents_md returns the error and the caller logs it: no project doc at all reaches the model
    found.warn(f"Codex cannot read {path} ({describe(exc)}) and then loads no project doc at all")
    for dropped in paths:
        found.skip(dropped, "project", f"dropped: Codex failed to read {path}")
    return []
