"""Load rules from YAML, TOML, JSON rules files and from Markdown instruction files.

Rules files hold a list of rule mappings, or a mapping with a ``rules`` list (TOML: ``[[rules]]`` tables).
Fields are those of ``MemoryRule`` (``id``, ``name``, ``rule``, ``category``, ``authority``, ``scope``,
``source``, ``conditions``, ``replaces``, ``created_at``, ``updated_at``, ``metadata``, ``priority``);
``rule``, ``category`` and ``authority`` are required, a missing ``id`` becomes ``rule_<n>`` and a missing
``name`` the id. Errors name the file, the line and the field:
``rules.yaml:12: rules[2].priority: must be between 0 and 100, got 120``.

Markdown (CLAUDE.md / AGENTS.md / GEMINI.md) is read by ``rules.markdown``: one rule per unit (a list item
with what is nested under it, a paragraph with the code that follows it, …), conventions in ``docs/markdown.md``.
"""

from __future__ import annotations

import json
import math
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from .._sourcemap import toml_key_lines, toml_syntax_message, yaml_key_lines, yaml_syntax_message
from ..errors import CtxBudgetError
from .markdown import MarkdownDocument, MarkdownError, parse_markdown
from .model import AuthorityLevel, MemoryCategory, MemoryRule

FIELDS = ("id", "name", "rule", "category", "authority", "scope", "source", "conditions", "replaces",
          "created_at", "updated_at", "metadata", "priority")


class RulesFileError(CtxBudgetError, ValueError):
    """A rules file that cannot be read; the message says file, line (when known) and field."""


@dataclass(frozen=True)
class _Where:
    file: str
    lines: Mapping[tuple[int, str | None], int]

    def at(self, index: int, field: str | None = None) -> str:
        top = field.split(".")[0] if field else None
        line = self.lines.get((index, field)) or self.lines.get((index, top)) or self.lines.get((index, None))
        place = f"{self.file}:{line}" if line else self.file
        return f"{place}: rules[{index}]" + (f".{field}" if field else "")


def _check_entry(raw: Any, index: int, where: _Where) -> dict[str, Any]:
    if not isinstance(raw, Mapping):
        raise RulesFileError(f"{where.at(index)}: must be a mapping, got {type(raw).__name__}")
    unknown = sorted(str(k) for k in raw if k not in FIELDS)
    if unknown:
        raise RulesFileError(f"{where.at(index, unknown[0])}: unknown field; known fields: {', '.join(FIELDS)}")
    data = dict(raw)

    def fail(field: str, message: str) -> RulesFileError:
        return RulesFileError(f"{where.at(index, field)}: {message}")

    for field in ("rule", "category", "authority"):
        if field not in data or data[field] is None:
            raise fail(field, "required field is missing")
    for field in ("id", "name", "rule", "source"):
        if field in data and not isinstance(data[field], str):
            raise fail(field, f"must be a string, got {type(data[field]).__name__}")
    if not data["rule"].strip():
        raise fail("rule", "must not be empty")
    if "id" in data and not data["id"].strip():
        raise fail("id", "must not be empty")
    for field, enum in (("category", MemoryCategory), ("authority", AuthorityLevel)):
        allowed = [e.value for e in enum]
        if data[field] not in allowed:
            raise fail(field, f"must be one of {', '.join(allowed)}, got {data[field]!r}")
    scope = data.get("scope")
    if isinstance(scope, str):
        data["scope"] = [scope]
    elif scope is not None and (not isinstance(scope, list) or not all(isinstance(s, str) for s in scope)):
        raise fail("scope", "must be a list of strings")
    replaces = data.get("replaces")
    if replaces is not None and (not isinstance(replaces, list) or not all(isinstance(s, str) for s in replaces)):
        raise fail("replaces", "must be a list of rule ids")
    for field in ("conditions", "metadata"):
        if data.get(field) is not None and not isinstance(data[field], Mapping):
            raise fail(field, f"must be a mapping, got {type(data[field]).__name__}")
    for field in ("created_at", "updated_at"):
        value = data.get(field)
        if isinstance(value, str):
            try:
                data[field] = datetime.fromisoformat(value)
            except ValueError:
                raise fail(field, f"not an ISO 8601 datetime: {value!r}") from None
        elif value is not None and not isinstance(value, datetime):
            raise fail(field, f"must be an ISO 8601 datetime, got {type(value).__name__}")
    for field, value in (("priority", data.get("priority")), ("metadata.priority",
                                                              (data.get("metadata") or {}).get("priority"))):
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise fail(field, f"must be a number between 0 and 100, got {value!r}")
        if not 0 <= value <= 100:
            raise fail(field, f"must be between 0 and 100, got {value!r}")
    return data


def rules_from_data(
    data: Any, file: str = "<data>", lines: Mapping[tuple[int, str | None], int] | None = None
) -> list[MemoryRule]:
    """Rules from parsed file content: a list of mappings or ``{rules: [...]}``."""
    where = _Where(file, lines or {})
    if isinstance(data, Mapping):
        extra = sorted(str(k) for k in data if k != "rules")
        if extra:
            raise RulesFileError(f"{file}: unknown top-level key {extra[0]!r}; expected 'rules'")
        data = data.get("rules", [])
    if data is None:
        return []
    if not isinstance(data, list):
        raise RulesFileError(f"{file}: expected a list of rules or a mapping with 'rules', got {type(data).__name__}")
    rules: list[MemoryRule] = []
    for index, raw in enumerate(data):
        entry = _check_entry(raw, index, where)
        try:
            rules.append(MemoryRule.from_dict(entry, position=index + 1))
        except ValueError as exc:
            raise RulesFileError(f"{where.at(index)}: {exc}") from None
    seen: dict[str, int] = {}
    for index, rule in enumerate(rules):
        if rule.id in seen:
            raise RulesFileError(f"{where.at(index, 'id')}: duplicate id {rule.id!r} (first at rules[{seen[rule.id]}])")
        seen[rule.id] = index
    return rules


def _rule_lines(key_lines: Mapping[str, int]) -> dict[tuple[int, str | None], int]:
    """``{(index, field): line}`` of each rule entry and of its keys, from a file's key-path map (rules in a
    top-level list, ``rules: [...]`` or TOML ``[[rules]]`` tables)."""
    lines: dict[tuple[int, str | None], int] = {}
    for path, line in key_lines.items():
        match = re.fullmatch(r"(?:rules)?\[(\d+)\](?:\.([^.\[]+))?", path)
        if match:
            lines[(int(match.group(1)), match.group(2))] = line
    return lines


MARKDOWN_SUFFIXES = (".md", ".markdown", ".mdc")
#: what ``--format`` / ``kind`` may name, and the suffixes that imply each
KINDS = {"md": MARKDOWN_SUFFIXES, "yaml": (".yaml", ".yml"), "json": (".json",), "toml": (".toml",)}


def kind_of(path: str | Path) -> str:
    """``md``, ``yaml``, ``json`` or ``toml`` from a file name; ``RulesFileError`` for anything else."""
    suffix = Path(path).suffix.lower()
    for kind, suffixes in KINDS.items():
        if suffix in suffixes:
            return kind
    known = ", ".join(s for suffixes in KINDS.values() for s in suffixes)
    raise RulesFileError(f"{path}: unsupported rules file type {suffix or '(none)'}; use one of {known}")


def read_text(path: str | Path) -> str:
    file = Path(path)
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise RulesFileError(f"{file}: cannot read: {exc.strerror or exc}") from None
    return decode(data, str(file))


def decode(data: bytes, file: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RulesFileError(f"{file}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def load_document(path: str | Path, *, text: str | None = None, kind: str | None = None,
                  name: str | None = None) -> MarkdownDocument | list[MemoryRule]:
    """A Markdown instruction file as a ``MarkdownDocument`` (what ``fit`` trims), any other rules file as its
    rules. ``text`` is the content when already read (stdin), ``kind`` overrides the suffix, ``name`` the
    rule-id stem (default: the file's stem)."""
    kind = kind or kind_of(path)
    content = read_text(path) if text is None else text
    if kind == "md":
        try:
            return parse_markdown(content, name or Path(path).stem, file=str(path))
        except MarkdownError as exc:
            raise RulesFileError(str(exc)) from None
    return _rules_from_text(content, kind, str(path))


def load_rules(path: str | Path) -> list[MemoryRule]:
    """Rules from a ``.yaml``/``.yml``, ``.json``, ``.toml`` or ``.md`` file."""
    loaded = load_document(path)
    return loaded.rules if isinstance(loaded, MarkdownDocument) else loaded


def _rules_from_text(text: str, kind: str, file: str) -> list[MemoryRule]:
    if kind == "yaml":
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise RulesFileError(yaml_syntax_message(file, text, exc)) from None
        return rules_from_data(data, file, _rule_lines(yaml_key_lines(text)))
    if kind == "json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise RulesFileError(f"{file}:{exc.lineno}: invalid JSON: {exc.msg}") from None
        return rules_from_data(data, file)
    if kind == "toml":
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise RulesFileError(toml_syntax_message(file, text, exc)) from None
        return rules_from_data(data, file, _rule_lines(toml_key_lines(text)))
    raise ValueError(f"unknown rules file kind {kind!r}")
