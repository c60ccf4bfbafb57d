"""Which config file applies, and the keys in it that the counting side reads: ``cache:``, ``count_policy:``
and ``count_api:`` (what the budget config, the count cache and the count-tokens APIs share).

The file: in the current directory or the nearest parent, the first of ``ctxbudget.yaml``,
``ctxbudget.toml``, ``pyproject.toml`` (only with a ``[tool.ctxbudget]`` table) and ``.ctxbudget.yaml``;
else ``$XDG_CONFIG_HOME/ctxbudget/config.yaml``. Besides ``token_budgets`` (``config``), it may name the
persistent count cache: ``cache: sqlite`` (YAML), ``cache = "sqlite"`` (TOML, or under
``[tool.ctxbudget]`` in ``pyproject.toml``). ``count_policy:`` says which models are counted by their
provider's count-tokens API (a string such as ``claude=api,gemini=api-else-offline``, or a mapping of the same);
``count_api:`` holds the API settings (``docs/remote.md``).
"""

from __future__ import annotations

import logging
import os
import tomllib
from collections.abc import Mapping
from functools import lru_cache
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


def _config_data(path: Path | None) -> dict[str, Any]:
    """The top-level mapping of a config file; {} for none, or for a file that does not parse (the budget
    loader reports its syntax error with the line)."""
    if path is None:
        return {}
    try:
        stat = path.stat()
    except OSError:
        return {}
    return _parse(str(path), stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=8)
def _parse(path_name: str, _mtime_ns: int, _size: int) -> dict[str, Any]:
    # keyed by the file's mtime and size: the cache key, the count policy and the API settings read it once
    path = Path(path_name)
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
        logger.debug("no counting keys read from %s: %s", path, exc)
        return {}
    return data if isinstance(data, dict) else {}


def cache_spec(path: Path | None) -> str | None:
    """The ``cache:`` key of a config file, if it has one; a file that does not parse has none here (the budget
    loader reports its syntax error with the line). A ``cache:`` that is not a string is a ``ConfigError``."""
    spec = _config_data(path).get("cache")
    if spec is not None and not isinstance(spec, str):
        raise ConfigError(f"{path}: cache: must be a string such as sqlite or redis://host:6379/0, "
                          f"got {type(spec).__name__}")
    return spec


def count_policy_spec(path: Path | None) -> str | dict[str, str] | None:
    """The ``count_policy:`` key of a config file, if it has one: a string, or a mapping of names to policies
    (checked by ``remote.policy.parse_policy``). Anything else is a ``ConfigError``."""
    spec = _config_data(path).get("count_policy")
    if spec is None or isinstance(spec, str):
        return spec
    if isinstance(spec, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in spec.items()):
        return spec
    raise ConfigError(f"{path}: count_policy: must be a string such as claude=api, or a mapping of model or "
                      f"provider names to offline/api/api-else-offline, got {type(spec).__name__}")


def count_api_settings(path: Path | None) -> dict[str, Any]:
    """The ``count_api:`` mapping of a config file ({} without one; checked by ``remote.settings``)."""
    settings = _config_data(path).get("count_api")
    if settings is None:
        return {}
    if not isinstance(settings, dict):
        raise ConfigError(f"{path}: count_api: must be a mapping, got {type(settings).__name__}")
    return settings
