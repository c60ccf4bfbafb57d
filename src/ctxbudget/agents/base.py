"""The result records every agent simulation returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True, slots=True)
class LoadedFile:
    """One instruction file the agent reads at launch.

    ``text`` is what the file itself contributes after comment stripping, cuts and import handling. Claude Code
    shows an imported file as a section of its own, so its text is not part of the importer's; Gemini CLI inlines
    imports, so an imported file's text is also contained in its importer's (``note`` says so). For totals use
    ``AgentLoad.text``.
    """

    path: Path
    scope: str  # "managed", "user", "project", "local", "rules", "import"
    text: str
    raw_bytes: int
    imported_by: Path | None = None
    depth: int = 0  # import hops from the file the agent found on its own
    truncated: bool = False
    note: str | None = None

    def to_dict(self) -> dict[str, object]:
        return {"path": str(self.path), "scope": self.scope, "text": self.text, "raw_bytes": self.raw_bytes,
                "imported_by": None if self.imported_by is None else str(self.imported_by), "depth": self.depth,
                "truncated": self.truncated, "note": self.note}


@dataclass(frozen=True, slots=True)
class NotLoaded:
    """A file the agent finds but does not put into the context at launch, and why."""

    path: Path
    scope: str
    reason: str

    def to_dict(self) -> dict[str, object]:
        return {"path": str(self.path), "scope": self.scope, "reason": self.reason}


@dataclass(frozen=True, slots=True)
class AgentLoad:
    """What one agent loads when started in ``cwd``: the files in load order and the exact injected text."""

    agent: str
    simulated_version: str
    cwd: Path
    files: tuple[LoadedFile, ...]
    text: str
    warnings: tuple[str, ...] = ()
    not_loaded: tuple[NotLoaded, ...] = ()

    def to_dict(self) -> dict[str, object]:
        return {"agent": self.agent, "simulated_version": self.simulated_version, "cwd": str(self.cwd),
                "files": [f.to_dict() for f in self.files], "text": self.text, "warnings": list(self.warnings),
                "not_loaded": [n.to_dict() for n in self.not_loaded]}


@dataclass(slots=True)
class Findings:
    """The warnings and skipped files a simulation collects on its way."""

    warnings: list[str] = field(default_factory=list)
    skipped: list[NotLoaded] = field(default_factory=list)

    def warn(self, message: str) -> None:
        self.warnings.append(message)

    def skip(self, path: Path, scope: str, reason: str) -> None:
        self.skipped.append(NotLoaded(path, scope, reason))

    def result(self, agent: str, version: str, cwd: Path, files: list[LoadedFile], text: str) -> AgentLoad:
        return AgentLoad(agent, version, cwd, tuple(files), text, tuple(self.warnings), tuple(self.skipped))
