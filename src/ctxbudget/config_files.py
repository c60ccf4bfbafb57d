"""Which config file applies, and the ``cache:`` key in it — what the budget config and the count cache share.

The file: in the current directory or the nearest parent, the first of ``ctxbudget.yaml``,
``ctxbudget.toml``, ``pyproject.toml`` (only with a ``[tool.ctxbudget]`` table) and ``.ctxbudget.yaml``;
else ``$XDG_CONFIG_HOME/ctxbudget/config.yaml``. Besides ``token_budgets`` (``config``), it may name the
persistent count cache: ``cache: sqlite`` (YAML), ``cache = "sqlite"`` (TOML, or under
``[tool.ctxbudget]`` in ``pyproject.toml``).
"""

from __future__ import annotations

import logging
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .files import user_dir

logger = logging.getLogger("ctxbudget.config")

PROJECT_CONFIG_NAMES = ("ctxbudget.yaml", "ctxbudget.toml", "pyproject.toml", ".ctxbudget.yaml")


def is_pyproject(path: Path) -> bool:
    return path.name == "pyproject.toml"


def user_config_path(environ: Mapping[str, str] | None = None) -> Path:
    """``$XDG_CONFIG_HOME/ctxbudget/config.yaml``, else ``~/.config/ctxbudget/config.yaml``."""
    return user_dir("config", environ) / "config.yaml"


def _pyproject_table(path: Path) -> dict[str, Any] | None:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        logger.warning("ignoring unreadable %s during config discovery: %s", path, exc)
        return None
    tool = data.get("tool")
    ours = tool.get("ctxbudget") if isinstance(tool, dict) else None
    return ours if isinstance(ours, dict) else None


def find_config_file(start_dir: str | os.PathLike[str] | None = None, *,
                     environ: Mapping[str, str] | None = None) -> Path | None:
    """The config file that applies (module docstring), or ``None``."""
    start = (Path(start_dir) if start_dir is not None else Path.cwd()).resolve()
    for directory in (start, *start.parents):
        for name in PROJECT_CONFIG_NAMES:
            candidate = directory / name
            if not candidate.is_file():
                continue
            if name == "pyproject.toml" and _pyproject_table(candidate) is None:
                continue
            return candidate
    user = user_config_path(environ)
    return user if user.is_file() else None


def cache_spec(path: Path | None) -> str | None:
    """The ``cache:`` key of a config file, if it has one; a file that does not parse has none here (the budget
    loader reports its syntax error with the line). A ``cache:`` that is not a string is a ``ConfigError``."""
    if path is None or not path.is_file():
        return None
    try:
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".toml":
            data: Any = tomllib.loads(text)
            if is_pyproject(path):
                data = _pyproject_table(path) or {}
        else:
            import yaml

            data = yaml.safe_load(text)
    except Exception as exc:  # OSError, a decode or syntax error (yaml.YAMLError too): the loader reports those
        logger.debug("no cache key read from %s: %s", path, exc)
        return None
    spec = data.get("cache") if isinstance(data, dict) else None
    if spec is not None and not isinstance(spec, str):
        raise ConfigError(f"{path}: cache: must be a string such as sqlite or redis://host:6379/0, "
                          f"got {type(spec).__name__}")
    return spec
