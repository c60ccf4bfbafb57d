"""Budget configuration: global → tool → operation token budgets, from YAML or TOML, validated.

File formats (the same structure in both):

* YAML (``*.yaml``/``*.yml`` and any other suffix): a top-level ``token_budgets:`` mapping with ``global`` and
  ``tools``.
* TOML (``*.toml``): a top-level ``[token_budgets]`` table (``[token_budgets.global]``,
  ``[token_budgets.tools.claude]``, ``[token_budgets.tools.claude.operations]``); TOML has no null, so an
  unset ``max`` is simply left out.
* ``pyproject.toml``: the ``[tool.ctxbudget.token_budgets]`` table (read only; never written).

Keys of ``global`` and of each tool: ``default`` (int, default 50000), ``max`` (int or null, default null),
``min`` (int, default 1000), ``enabled`` (bool, default true), ``metadata`` (mapping, optional); tools also
``operations`` (``{operation_type: int}``, null = ``{}``). ``tools: null`` means no tools. Anything else — an
unknown key, a wrong type (``true`` is not an int, ``50000.0`` is not an int), a budget outside its level's
min/max — raises ``ConfigError`` naming the file, the line and the key path, e.g.
``ctxbudget.yaml:7: token_budgets.tools.codex.default: ...``. A file that fails validation changes nothing.
Tool names are case-insensitive (stored lower-case, like ``TokenCounter``'s tool names).

Discovery (``BudgetConfigManager.discover``) — the first file found wins, nothing is merged:

1. Project: from ``start_dir`` (default: the current directory) up to the filesystem root, nearest
   directory first; in each directory, in this order: ``ctxbudget.yaml``, ``ctxbudget.toml``,
   ``pyproject.toml`` (only if it has a ``[tool.ctxbudget.token_budgets]`` table), ``.ctxbudget.yaml``.
2. User: ``$XDG_CONFIG_HOME/ctxbudget/config.yaml``, or ``~/.config/ctxbudget/config.yaml`` when
   ``XDG_CONFIG_HOME`` is unset or not absolute.
3. Built-in defaults: global 50000 (min 1000, max 200000); claude 100000 (max 200000; context_injection and
   user_query 50000 each); codex 4000 (max 8000; 2000 each); gemini 32000 (max 64000; 16000 each).

Environment overrides are applied after that, and win over any file:

* ``CTXBUDGET_BUDGET`` — the global default budget;
* ``CTXBUDGET_BUDGET_<TOOL>`` — a tool's default (``CTXBUDGET_BUDGET_CLAUDE=80000``);
* ``CTXBUDGET_BUDGET_<TOOL>_<OPERATION>`` — an operation budget
  (``CTXBUDGET_BUDGET_CODEX_CONTEXT_INJECTION=3000``).

Each value goes through ``set_budget`` (same min/max checks); a bad value raises ``ConfigError`` naming the
variable, and then no override is applied. Empty values are ignored. Constructing a ``BudgetConfigManager``
directly never reads the environment; call ``apply_env_overrides()`` or use ``discover()``.

Lookup (``get_budget``) honours ``enabled`` at every level: a disabled tool falls through to the global
budget, a disabled global budget is skipped, and with nothing enabled ``BudgetNotConfiguredError`` is raised.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import threading
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import Enum
from pathlib import Path
from typing import Any

import yaml

from ._sourcemap import line_of, toml_key_lines, toml_syntax_message, yaml_key_lines, yaml_syntax_message
from ._util import require_str
from .config_files import cache_spec, find_config_file, is_pyproject
from .errors import BudgetNotConfiguredError, ConfigError
from .files import atomic_write_text
from .operations import OperationType, operation_type_of

logger = logging.getLogger(__name__)

ENV_PREFIX = "CTXBUDGET_BUDGET"

_KEY_DEFAULTS: dict[str, Any] = {"default": 50000, "max": None, "min": 1000, "enabled": True}
_FIELD_KEYS = {"default_budget": "default", "max_budget": "max", "min_budget": "min", "enabled": "enabled",
               "metadata": "metadata", "operation_budgets": "operations"}
_OPERATION_VALUES = tuple(op.value for op in OperationType)


class BudgetScope(str, Enum):
    GLOBAL = "global"
    TOOL = "tool"
    OPERATION = "operation"


class _FieldError(ConfigError):
    """A ``ConfigError`` that also says which ``BudgetConfig`` field was wrong (for key paths)."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(message)
        self.field_name = field_name


def _is_int(value: object) -> bool:
    return isinstance(value, int) and type(value) is not bool


def _describe(value: object) -> str:
    if value is None:
        return "null"
    return f"{type(value).__name__} ({value!r})"


@dataclass
class BudgetConfig:
    scope: BudgetScope
    name: str
    default_budget: int
    max_budget: int | None = None
    min_budget: int = 1000
    enabled: bool = True
    operation_budgets: dict[str, int] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        try:
            self.scope = BudgetScope(self.scope)
        except ValueError:
            raise _FieldError("scope", f"unknown budget scope {self.scope!r}") from None
        require_str(self.name, "name")
        for name in ("default_budget", "min_budget"):
            value = getattr(self, name)
            if not _is_int(value):
                raise _FieldError(name, f"{name} must be an int, got {_describe(value)}")
        if self.max_budget is not None and not _is_int(self.max_budget):
            problem = f"max_budget must be an int or None, got {_describe(self.max_budget)}"
            raise _FieldError("max_budget", problem)
        if type(self.enabled) is not bool:
            raise _FieldError("enabled", f"enabled must be a bool, got {_describe(self.enabled)}")
        d, m, n = self.default_budget, self.max_budget, self.min_budget
        if n < 0:
            raise _FieldError("min_budget", f"min_budget must be >= 0, got {n}")
        if m is not None and m < n:
            raise _FieldError("max_budget", f"max_budget ({m}) must be >= min_budget ({n})")
        if d < n:
            raise _FieldError("default_budget", f"default_budget ({d}) must be >= min_budget ({n})")
        if m is not None and d > m:
            raise _FieldError("default_budget", f"default_budget ({d}) must be <= max_budget ({m})")
        if not isinstance(self.operation_budgets, Mapping):
            raise _FieldError("operation_budgets", "operation_budgets must be a mapping")
        if self.operation_budgets and self.scope is BudgetScope.GLOBAL:
            raise _FieldError("operation_budgets", "the global budget has no operation budgets")
        operations: dict[str, int] = {}
        for key, budget in self.operation_budgets.items():
            try:
                op = operation_type_of(key).value
            except ValueError:
                raise _FieldError(
                    f"operation_budgets.{key}",
                    f"unknown operation type {key!r} (expected one of {', '.join(_OPERATION_VALUES)})",
                ) from None
            where = f"operation_budgets.{op}"
            if not _is_int(budget):
                raise _FieldError(where, f"operation budget {op} must be an int, got {_describe(budget)}")
            if budget < n:
                raise _FieldError(where, f"operation budget {op} ({budget}) must be >= min_budget ({n})")
            if m is not None and budget > m:
                raise _FieldError(where, f"operation budget {op} ({budget}) must be <= max_budget ({m})")
            operations[op] = budget
        self.operation_budgets = operations
        if not isinstance(self.metadata, Mapping):
            raise _FieldError("metadata", f"metadata must be a mapping, got {_describe(self.metadata)}")
        self.metadata = dict(self.metadata)

    def copy(self) -> BudgetConfig:
        return replace(self)  # __post_init__ copies both dicts


def _default_budgets() -> tuple[BudgetConfig, dict[str, BudgetConfig]]:
    ctx, query = OperationType.CONTEXT_INJECTION.value, OperationType.USER_QUERY.value

    def tool(name: str, default: int, maximum: int, ops: int) -> BudgetConfig:
        return BudgetConfig(BudgetScope.TOOL, name, default, maximum, 1000, True, {ctx: ops, query: ops})

    return (
        BudgetConfig(BudgetScope.GLOBAL, "global", 50000, 200000, 1000),
        {
            "claude": tool("claude", 100000, 200000, 50000),
            "codex": tool("codex", 4000, 8000, 2000),
            "gemini": tool("gemini", 32000, 64000, 16000),
        },
    )


def _tool_key(tool_name: str) -> str:
    key = require_str(tool_name, "tool_name").strip().lower()
    if not key:
        raise ValueError("tool_name must not be empty")
    return key


def _entry_dict(config: BudgetConfig, *, with_metadata: bool) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "default": config.default_budget,
        "max": config.max_budget,
        "min": config.min_budget,
        "enabled": config.enabled,
    }
    if config.scope is not BudgetScope.GLOBAL:
        entry["operations"] = dict(config.operation_budgets)
    if with_metadata and config.metadata:
        entry["metadata"] = dict(config.metadata)
    return entry


# -- file parsing --------------------------------------------------------------------------------------


class ConfigSyntaxError(ConfigError):
    """A config file that does not parse; the message names the file, the line and the key path."""


class YAMLConfigSyntaxError(ConfigSyntaxError, yaml.YAMLError):
    """Malformed YAML (also a ``yaml.YAMLError``)."""


class TOMLConfigSyntaxError(ConfigSyntaxError, tomllib.TOMLDecodeError):
    """Malformed TOML (also a ``tomllib.TOMLDecodeError``)."""


class _Where:
    """A file name and the line of each key path in it, for error messages."""

    def __init__(self, source: str, lines: dict[str, int] | None = None) -> None:
        self.source = source
        self.lines = lines or {}

    def error(self, key_path: str, problem: str) -> ConfigError:
        line = line_of(self.lines, key_path)
        return ConfigError(f"{self.source}{f':{line}' if line else ''}: {key_path}: {problem}")


def _parse_entry(raw: object, scope: BudgetScope, name: str, where: _Where, path: str) -> BudgetConfig:
    if not isinstance(raw, Mapping):
        raise where.error(path, f"expected a mapping, got {_describe(raw)}")
    allowed = ["default", "max", "min", "enabled", "metadata"]
    if scope is BudgetScope.TOOL:
        allowed.insert(4, "operations")
    for key in raw:
        if key not in allowed:
            raise where.error(f"{path}.{key}", f"unknown key (expected one of {', '.join(allowed)})")
    values = {key: raw.get(key, default) for key, default in _KEY_DEFAULTS.items()}
    for key in ("default", "min"):
        if not _is_int(values[key]):
            raise where.error(f"{path}.{key}", f"expected an integer, got {_describe(values[key])}")
    if values["max"] is not None and not _is_int(values["max"]):
        raise where.error(f"{path}.max", f"expected an integer or null, got {_describe(values['max'])}")
    if type(values["enabled"]) is not bool:
        raise where.error(f"{path}.enabled", f"expected true or false, got {_describe(values['enabled'])}")
    operations = raw.get("operations")
    if operations is None:
        operations = {}
    elif not isinstance(operations, Mapping):
        raise where.error(f"{path}.operations", f"expected a mapping, got {_describe(operations)}")
    for op, budget in operations.items():
        if op not in _OPERATION_VALUES:
            raise where.error(
                f"{path}.operations.{op}",
                f"unknown operation type (expected one of {', '.join(_OPERATION_VALUES)})",
            )
        if not _is_int(budget):
            raise where.error(f"{path}.operations.{op}", f"expected an integer, got {_describe(budget)}")
    metadata = raw.get("metadata")
    if metadata is None:
        metadata = {}
    elif not isinstance(metadata, Mapping):
        raise where.error(f"{path}.metadata", f"expected a mapping, got {_describe(metadata)}")
    try:
        return BudgetConfig(
            scope, name, values["default"], values["max"], values["min"], values["enabled"],
            dict(operations), dict(metadata),
        )
    except _FieldError as exc:
        head, _, rest = exc.field_name.partition(".")
        key = _FIELD_KEYS.get(head, head) + (f".{rest}" if rest else "")
        raise where.error(f"{path}.{key}", str(exc)) from exc


def _parse_section(
    section: Mapping[str, Any], where: _Where, root: str
) -> tuple[BudgetConfig | None, dict[str, BudgetConfig]]:
    for key in section:
        if key not in ("global", "tools"):
            raise where.error(f"{root}.{key}", "unknown key (expected one of global, tools)")
    global_config = None
    if "global" in section:
        global_config = _parse_entry(section["global"], BudgetScope.GLOBAL, "global", where, f"{root}.global")
    raw_tools = section.get("tools")
    if raw_tools is None:
        raw_tools = {}
    elif not isinstance(raw_tools, Mapping):
        raise where.error(f"{root}.tools", f"expected a mapping, got {_describe(raw_tools)}")
    tools: dict[str, BudgetConfig] = {}
    for name, entry in raw_tools.items():
        path = f"{root}.tools.{name}"
        if not isinstance(name, str) or not name.strip():
            raise where.error(path, f"a tool name must be a non-empty string, got {_describe(name)}")
        key = name.strip().lower()
        if key in tools:
            raise where.error(path, f"tool {key!r} is configured twice (tool names are case-insensitive)")
        tools[key] = _parse_entry(entry, BudgetScope.TOOL, key, where, path)
    return global_config, tools


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def _read_section(path: Path) -> tuple[Mapping[str, Any] | None, str, _Where]:
    """The ``token_budgets`` section of ``path`` (``None`` if absent or empty), its key path, and where each
    key is (for error messages). Malformed files raise a ``ConfigSyntaxError`` naming file, line and key."""
    text = _read_text(path)
    if path.suffix == ".toml":
        where = _Where(str(path), toml_key_lines(text))
        try:
            data: Any = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise TOMLConfigSyntaxError(toml_syntax_message(str(path), text, exc)) from None
        if is_pyproject(path):
            node: Any = data
            for key in ("tool", "ctxbudget"):
                node = node.get(key) if isinstance(node, Mapping) else None
                if node is None:
                    return None, "tool.ctxbudget.token_budgets", where
            if not isinstance(node, Mapping):
                raise where.error("tool.ctxbudget", f"expected a table, got {_describe(node)}")
            data = node
            root = "tool.ctxbudget.token_budgets"
        else:
            root = "token_budgets"
    else:
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise YAMLConfigSyntaxError(yaml_syntax_message(str(path), text, exc)) from None
        where = _Where(str(path), yaml_key_lines(text))
        root = "token_budgets"
        if data is None:
            return None, root, where
        if not isinstance(data, Mapping):
            raise where.error("<top level>", f"expected a mapping, got {type(data).__name__}")
    section = data.get("token_budgets")
    if section is not None and not isinstance(section, Mapping):
        raise where.error(root, f"expected a mapping, got {_describe(section)}")
    return section or None, root, where


# -- TOML writing --------------------------------------------------------------------------------------

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def _toml_key(key: str) -> str:
    return key if _BARE_KEY.fullmatch(key) else json.dumps(key, ensure_ascii=False)


def _toml_value(value: Any, where: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return repr(value) if math.isfinite(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    raise ConfigError(f"{where}: {type(value).__name__} values cannot be written as TOML here; save as YAML")


def _dump_toml(section: Mapping[str, Any]) -> str:
    lines: list[str] = []

    def table(header: str, entry: Mapping[str, Any]) -> None:
        lines.append(f"[{header}]")
        nested: list[tuple[str, Mapping[str, Any]]] = []
        for key, value in entry.items():
            if isinstance(value, Mapping):
                nested.append((key, value))
            elif value is not None:  # TOML has no null: an unset max is left out
                lines.append(f"{_toml_key(key)} = {_toml_value(value, f'{header}.{key}')}")
        lines.append("")
        for key, value in nested:
            table(f"{header}.{_toml_key(key)}", value)

    table("token_budgets.global", section["global"])
    for name, entry in section["tools"].items():
        table(f"token_budgets.tools.{_toml_key(name)}", entry)
    return "\n".join(lines)


# -- the manager ---------------------------------------------------------------------------------------


def _split_env_name(var: str) -> tuple[str | None, str | None]:
    """``CTXBUDGET_BUDGET[_<TOOL>[_<OPERATION>]]`` → (tool, operation)."""
    if var == ENV_PREFIX:
        return None, None
    rest = var[len(ENV_PREFIX) + 1:]
    if not rest:
        raise ConfigError(f"{var}: missing the tool name (CTXBUDGET_BUDGET_<TOOL>[_<OPERATION>])")
    upper = rest.upper()
    for op in sorted(_OPERATION_VALUES, key=len, reverse=True):
        suffix = "_" + op.upper()
        if upper.endswith(suffix) and len(upper) > len(suffix):
            return rest[: -len(suffix)].lower(), op
    return rest.lower(), None


class BudgetConfigManager:
    """Budgets per level (global → tool → operation), validated on every change (thread-safe)."""

    def __init__(self, config_path: str | os.PathLike[str] | None = None) -> None:
        self._lock = threading.RLock()
        self._global, self._tools = _default_budgets()
        self.config_path = Path(config_path) if config_path is not None else None
        self.source: Path | None = None
        """The file the current budgets were loaded from (``None``: built-in defaults)."""
        self.env_overrides: dict[str, int] = {}
        """Environment variables applied by ``apply_env_overrides``, with their values."""
        if self.config_path is not None:
            self.load_from_file(self.config_path)

    # -- lookup --------------------------------------------------------------------------------------

    def get_budget(
        self, tool_name: str | None = None, operation_type: OperationType | str | None = None
    ) -> int:
        """Operation budget (tool enabled, operation present) → tool default (tool enabled) → global default
        (global enabled); else ``BudgetNotConfiguredError``. Unknown tools get the global default."""
        op = None if operation_type is None else operation_type_of(operation_type).value
        key = None if tool_name is None else _tool_key(tool_name)
        with self._lock:
            tool = None if key is None else self._tools.get(key)
            if tool is not None and tool.enabled:
                if op is not None and op in tool.operation_budgets:
                    return tool.operation_budgets[op]
                return tool.default_budget
            if self._global.enabled:
                return self._global.default_budget
        raise BudgetNotConfiguredError(
            f"no enabled budget for tool={tool_name!r}, operation={op!r} (global budget disabled)"
        )

    def validate_budget(self, budget: int, tool_name: str | None = None) -> bool:
        """Whether ``budget`` lies within the min/max of the level that lookups for ``tool_name`` use:
        the tool if it is configured and enabled, else the global budget if enabled, else only ``>= 0``."""
        if not _is_int(budget):
            return False
        key = None if tool_name is None else _tool_key(tool_name)
        with self._lock:
            config = None if key is None else self._tools.get(key)
            if config is None or not config.enabled:
                config = self._global if self._global.enabled else None
            if config is None:
                return budget >= 0
            return config.min_budget <= budget and (config.max_budget is None or budget <= config.max_budget)

    # -- changes -------------------------------------------------------------------------------------

    def set_budget(
        self,
        tool_name: str | None = None,
        operation_type: OperationType | str | None = None,
        budget: int = 50000,
    ) -> None:
        """Set the global default, a tool default or an operation budget, checked against that level's
        min/max. An unknown tool is created with the global min and max. ``enabled`` flags are kept."""
        if not _is_int(budget):
            raise ConfigError(f"Budget must be an int, got {_describe(budget)}")
        if tool_name is None:
            if operation_type is not None:
                raise ValueError("an operation budget needs a tool_name")
            with self._lock:
                self._check_range(budget, self._global, "global")
                self._global = replace(self._global, default_budget=budget)
            return
        key = _tool_key(tool_name)
        op = None if operation_type is None else operation_type_of(operation_type).value
        with self._lock:
            tool = self._tools.get(key)
            if tool is None:
                g = self._global
                tool = BudgetConfig(BudgetScope.TOOL, key, g.default_budget, g.max_budget, g.min_budget)
            self._check_range(budget, tool, "tool")
            if op is None:
                tool = replace(tool, default_budget=budget)
            else:
                tool = replace(tool, operation_budgets={**tool.operation_budgets, op: budget})
            self._tools[key] = tool

    @staticmethod
    def _check_range(budget: int, config: BudgetConfig, level: str) -> None:
        if budget < config.min_budget:
            raise ConfigError(f"Budget must be >= {config.min_budget}, got {budget}")
        if config.max_budget is not None and budget > config.max_budget:
            raise ConfigError(f"Budget {budget} exceeds {level} max {config.max_budget}")

    def set_enabled(self, tool_name: str | None = None, enabled: bool = True) -> None:
        """Enable or disable the global budget (``tool_name=None``) or a configured tool (else KeyError)."""
        if type(enabled) is not bool:
            raise ConfigError(f"enabled must be a bool, got {_describe(enabled)}")
        with self._lock:
            if tool_name is None:
                self._global = replace(self._global, enabled=enabled)
                return
            key = _tool_key(tool_name)
            if key not in self._tools:
                raise KeyError(f"unknown tool: {tool_name!r}")
            self._tools[key] = replace(self._tools[key], enabled=enabled)

    def reset_to_defaults(self) -> None:
        with self._lock:
            self._global, self._tools = _default_budgets()
            self.source = None
            self.env_overrides = {}

    # -- readers -------------------------------------------------------------------------------------

    def get_all_budgets(self) -> dict[str, Any]:
        """``{"global": {default, max, min, enabled}, "tools": {name: {..., operations}}}`` (a copy)."""
        with self._lock:
            return {
                "global": _entry_dict(self._global, with_metadata=False),
                "tools": {name: _entry_dict(t, with_metadata=False) for name, t in self._tools.items()},
            }

    def get_config(self, tool_name: str | None = None) -> BudgetConfig | None:
        """A copy of the global config (``None``) or of a tool's (``None`` if the tool is not configured)."""
        with self._lock:
            if tool_name is None:
                return self._global.copy()
            tool = self._tools.get(_tool_key(tool_name))
            return None if tool is None else tool.copy()

    def to_dict(self) -> dict[str, Any]:
        """The whole configuration in file form: ``{"token_budgets": {"global": ..., "tools": ...}}``."""
        with self._lock:
            return {
                "token_budgets": {
                    "global": _entry_dict(self._global, with_metadata=True),
                    "tools": {name: _entry_dict(t, with_metadata=True) for name, t in self._tools.items()},
                }
            }

    # -- files ---------------------------------------------------------------------------------------

    def load_from_file(self, path: str | os.PathLike[str]) -> bool:
        """Load budgets from a YAML or TOML file (format by suffix; see the module docstring).

        Missing file → ``False`` (budgets kept, one warning). Malformed YAML or TOML → ``ConfigSyntaxError``
        (also a ``yaml.YAMLError`` / ``tomllib.TOMLDecodeError``) naming file, line, column and key path.
        Empty file or no ``token_budgets`` → ``True``, budgets kept, one
        warning. Invalid content → ``ConfigError`` naming the key path, and nothing changes. Otherwise
        ``global`` replaces the global entry, each ``tools`` entry replaces or adds that tool, and tools
        not named keep their current budgets.
        """
        file = Path(path)
        if not file.exists():
            logger.warning("budget config %s not found; keeping the current budgets", file)
            return False
        section, root, where = _read_section(file)
        if section is None:
            if cache_spec(file) is None:  # a file that names only the count cache is not a mistake
                logger.warning("budget config %s has no %s section; keeping the current budgets", file, root)
            return True
        global_config, tools = _parse_section(section, where, root)
        with self._lock:
            if global_config is not None:
                self._global = global_config
            self._tools.update(tools)
            self.source = file
        return True

    def save_to_file(self, path: str | os.PathLike[str]) -> None:
        """Write every budget atomically: YAML (``yaml.safe_dump``, block style, indent 2, ``max: null`` when
        unset), or TOML for a ``.toml`` path. ``pyproject.toml`` is never written."""
        file = Path(path)
        if is_pyproject(file):
            raise ConfigError(f"{file}: refusing to overwrite pyproject.toml; save to ctxbudget.toml instead")
        data = self.to_dict()
        if file.suffix == ".toml":
            text = _dump_toml(data["token_budgets"])
        else:
            text = yaml.safe_dump(data, default_flow_style=False, indent=2)
        atomic_write_text(file, text)

    # -- discovery and environment -------------------------------------------------------------------

    @staticmethod
    def find_config_file(
        start_dir: str | os.PathLike[str] | None = None, *, environ: Mapping[str, str] | None = None
    ) -> Path | None:
        """The file ``discover`` would load (project, then user; see the module docstring), or ``None``."""
        return find_config_file(start_dir, environ=environ)

    @classmethod
    def discover(
        cls,
        start_dir: str | os.PathLike[str] | None = None,
        *,
        environ: Mapping[str, str] | None = None,
    ) -> BudgetConfigManager:
        """Defaults, then the first config file found, then environment overrides (``os.environ`` unless
        ``environ`` is given)."""
        manager = cls()
        found = cls.find_config_file(start_dir, environ=environ)
        if found is not None:
            manager.load_from_file(found)
        manager.apply_env_overrides(environ)
        return manager

    def apply_env_overrides(self, environ: Mapping[str, str] | None = None) -> dict[str, int]:
        """Apply ``CTXBUDGET_BUDGET*`` variables (global first, then tools, then operations); all or none.

        Returns the applied ``{variable: budget}``; a bad variable raises ``ConfigError`` naming it.
        """
        env = os.environ if environ is None else environ
        planned: list[tuple[int, str, str | None, str | None, int]] = []
        for var, raw in env.items():
            if var != ENV_PREFIX and not var.startswith(ENV_PREFIX + "_"):
                continue
            value = raw.strip()
            if not value:
                continue
            tool, op = _split_env_name(var)
            if not re.fullmatch(r"\d+(_\d+)*", value):
                raise ConfigError(f"{var}: expected a non-negative integer, got {raw!r}")
            rank = 0 if tool is None else 1 if op is None else 2
            planned.append((rank, var, tool, op, int(value)))
        planned.sort(key=lambda item: item[:2])
        applied: dict[str, int] = {}
        with self._lock:
            saved = (self._global, dict(self._tools))
            try:
                for _, var, tool, op, budget in planned:
                    try:
                        self.set_budget(tool, op, budget)
                    except ValueError as exc:
                        raise ConfigError(f"{var}: {exc}") from exc
                    applied[var] = budget
            except BaseException:
                self._global, self._tools = saved
                raise
            self.env_overrides.update(applied)
        return applied
