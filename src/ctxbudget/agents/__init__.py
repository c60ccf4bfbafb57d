"""What each coding agent loads at startup: which instruction files, in which order, and the exact text it injects.

A pure simulation over the filesystem (no tokenizer, no network); docs/agents.md describes the rules and the
agent versions they were taken from.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path

from . import claude_code, codex, gemini_cli
from ._fs import resolve_dir
from .base import AgentLoad, LoadedFile, NotLoaded

__all__ = ["AGENTS", "SIMULATED_VERSIONS", "AgentLoad", "LoadedFile", "NotLoaded", "simulate"]

AGENTS = ("claude", "codex", "gemini")

_Simulation = Callable[..., AgentLoad]
_SIMULATIONS: dict[str, _Simulation] = {"claude": claude_code.simulate, "codex": codex.simulate,
                                        "gemini": gemini_cli.simulate}
SIMULATED_VERSIONS = {"claude": claude_code.SIMULATED_VERSION, "codex": codex.SIMULATED_VERSION,
                      "gemini": gemini_cli.SIMULATED_VERSION}


def simulate(agent: str, cwd: str | os.PathLike[str], *, home: str | os.PathLike[str] | None = None,
             env: Mapping[str, str] | None = None, include_user: bool = True,
             settings: Mapping[str, object] | None = None) -> AgentLoad:
    """Simulate ``agent`` started in ``cwd``.

    ``home`` defaults to the user's home directory and ``env`` to ``os.environ`` (read for CODEX_HOME,
    CLAUDE_CONFIG_DIR and GEMINI_CLI_HOME). ``include_user=False`` leaves out the user-level files (the Codex
    home's AGENTS.md, ~/.claude, ~/.gemini). ``settings`` overrides the agent's own configuration: for Codex
    ``config.toml`` keys (``project_doc_max_bytes``, ``project_doc_fallback_filenames``, ``project_root_markers``),
    for Gemini CLI the shape of ``settings.json`` (``{"context": {"fileName": [...]}}``), for Claude Code
    ``managed_path``, the managed policy CLAUDE.md to read instead of the platform's.
    """
    try:
        run = _SIMULATIONS[agent]
    except KeyError:
        raise ValueError(f"unknown agent {agent!r}; expected one of {', '.join(AGENTS)}") from None
    return run(resolve_dir(cwd), home=Path(home) if home is not None else Path.home(),
               env=os.environ if env is None else env, include_user=include_user, settings=settings or {})
