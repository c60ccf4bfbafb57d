"""Load rules from YAML, TOML, JSON rules files and from Markdown instruction files.

Rules files hold a list of rule mappings, or a mapping with a ``rules`` list (TOML: ``[[rules]]`` tables).
Fields are those of ``MemoryRule`` (``id``, ``name``, ``rule``, ``category``, ``authority``, ``scope``,
``source``, ``conditions``, ``replaces``, ``created_at``, ``updated_at``, ``metadata``, ``priority``);
``rule``, ``category`` and ``authority`` are required, a missing ``id`` becomes ``rule_<n>`` and a missing
``name`` the id. Errors name the file, the line and the field:
``rules.yaml:12: rules[2].priority: must be between 0 and 100, got 120``.

Markdown (CLAUDE.md / AGENTS.md / GEMINI.md): every top-level list item and every prose paragraph becomes a
rule, in file order; fenced code stays with the item it follows. A rule is ABSOLUTE when an ``<!-- absolute
-->`` comment stands on the line(s) before it, or when its section heading contains one of "absolute",
"critical", "must", "never", "non-negotiable" or "always" (case-insensitive); ``<!-- default -->`` overrides
a heading. An optional ``<!-- priority: 80 -->`` comment sets the next item's priority. A leading
``**Name**:`` names the rule. Category comes from the heading: "prefer…"/"style" → preference,
"agent"/"workflow" → agent, else behavior.
"""

from __future__ import annotations

import json
import math
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from .._sourcemap import toml_key_lines, toml_syntax_message, yaml_key_lines, yaml_syntax_message
from ..errors import CtxBudgetError
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


def load_rules(path: str | Path) -> list[MemoryRule]:
    """Rules from a ``.yaml``/``.yml``, ``.json``, ``.toml`` or ``.md`` file."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise RulesFileError(f"{file}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    suffix = file.suffix.lower()
    if suffix in (".md", ".markdown"):
        return rules_from_markdown(text, source_name=file.stem, file=str(file))
    if suffix in (".yaml", ".yml"):
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise RulesFileError(yaml_syntax_message(str(file), text, exc)) from None
        return rules_from_data(data, str(file), _rule_lines(yaml_key_lines(text)))
    if suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise RulesFileError(f"{file}:{exc.lineno}: invalid JSON: {exc.msg}") from None
        return rules_from_data(data, str(file))
    if suffix == ".toml":
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise RulesFileError(toml_syntax_message(str(file), text, exc)) from None
        return rules_from_data(data, str(file), _rule_lines(toml_key_lines(text)))
    raise RulesFileError(f"{file}: unsupported rules file type {suffix or '(none)'}; use .yaml, .json, .toml or .md")


# --- Markdown instruction files ---------------------------------------------------------------------------

_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_ITEM = re.compile(r"^([-*+]|\d+[.)])\s+(.*)$")
_COMMENT = re.compile(r"^<!--\s*(.*?)\s*-->$")
_NAME = re.compile(r"^\*\*(.+?)\*\*\s*[:—–-]\s*(.*)$", re.S)
_ABSOLUTE_HEADING = re.compile(r"absolute|critical|\bmust\b|\bnever\b|non-negotiable|\balways\b", re.I)


def _category_for(heading: str) -> MemoryCategory:
    lowered = heading.lower()
    if "prefer" in lowered or "style" in lowered:
        return MemoryCategory.PREFERENCE
    if "agent" in lowered or "workflow" in lowered:
        return MemoryCategory.AGENT
    return MemoryCategory.BEHAVIOR


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40] or "rule"


@dataclass
class _Block:
    section: str
    lines: list[str]
    authority: AuthorityLevel | None = None
    priority: float | None = None


def _markdown_blocks(text: str, source_name: str) -> list[_Block]:
    """Top-level list items (with indented continuation lines) and prose paragraphs, in file order."""
    section = ""
    marker: AuthorityLevel | None = None
    priority: float | None = None
    blocks: list[_Block] = []
    current: _Block | None = None
    current_is_item = False
    in_fence = False
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.rstrip()
        stripped = line.strip()
        if stripped.startswith(("```", "~~~")) or in_fence:
            if stripped.startswith(("```", "~~~")):
                in_fence = not in_fence
            if current is not None:
                current.lines.append(line)
            continue
        comment = _COMMENT.match(stripped)
        heading = _HEADING.match(line)
        item = _ITEM.match(line) if not line.startswith((" ", "\t")) else None
        if comment:
            word = comment.group(1).lower()
            if word in ("absolute", "default"):
                marker = AuthorityLevel(word)
            elif word.startswith("priority:"):
                try:
                    priority = float(word.split(":", 1)[1])
                except ValueError:
                    priority = math.nan
                if not 0 <= priority <= 100:
                    raise RulesFileError(f"{source_name}:{number}: priority: {stripped!r} is not a number "
                                         "between 0 and 100") from None
        elif heading:
            section, current = heading.group(2), None
        elif not stripped:
            current = None
        elif item or current is None or (current_is_item and not line.startswith((" ", "\t"))):
            current = _Block(section, [item.group(2) if item else stripped], marker, priority)
            current_is_item = item is not None
            blocks.append(current)
            marker, priority = None, None
        else:
            current.lines.append(stripped)
    return blocks


def rules_from_markdown(text: str, source_name: str = "instructions", *, file: str | None = None) -> list[MemoryRule]:
    """Rules from a Markdown instruction file (conventions in the module docstring); errors name ``file``
    (default: ``source_name``)."""
    created = datetime(2000, 1, 1, tzinfo=UTC)  # deterministic: file order, not clock time, ranks ties
    rules: list[MemoryRule] = []
    for n, block in enumerate(_markdown_blocks(text, file or source_name), start=1):
        body = " ".join(part.strip() for part in block.lines).strip()
        if not body:
            continue
        named = _NAME.match(body)
        name, rule_text = (named.group(1), named.group(2) or body) if named else (" ".join(body.split()[:6]), body)
        authority = block.authority or (
            AuthorityLevel.ABSOLUTE if _ABSOLUTE_HEADING.search(block.section) else AuthorityLevel.DEFAULT
        )
        rules.append(MemoryRule(
            id=f"{_slug(source_name)}-{n}", category=_category_for(block.section), name=name, rule=rule_text,
            authority=authority, scope=[], source=f"file:{source_name}", created_at=created,
            priority=block.priority, metadata={"section": block.section} if block.section else None,
        ))
    return rules
