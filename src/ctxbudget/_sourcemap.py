"""Where a key sits in a YAML or TOML file, and one-line messages for files that do not parse.

Config and rules errors name the file, the line and the key path (``ctxbudget.yaml:7: token_budgets.tools.
codex.default: expected an integer``). ``key_lines`` maps every key path of a document to its 1-based line;
``line_of`` finds the line of a path, or of its nearest parent that has one (a key inside a TOML inline table,
say). The syntax messages read the position the parsers report.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator
from typing import Any

import yaml


def yaml_key_lines(text: str) -> dict[str, int]:
    """``{"a.b[2].c": line}`` for every mapping key and sequence item of a YAML document (``{}`` if unparsable)."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return {}
    lines: dict[str, int] = {}

    def walk(node: Any, path: str) -> None:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                child = f"{path}.{key.value}" if path else str(key.value)
                lines[child] = key.start_mark.line + 1
                walk(value, child)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                child = f"{path}[{i}]"
                lines[child] = item.start_mark.line + 1
                walk(item, child)

    if root is not None:
        walk(root, "")
    return lines


_TOML_TABLE = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(?:#.*)?$")
_TOML_NAME = r"""(?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*')"""
_TOML_KEY = re.compile(rf"^\s*({_TOML_NAME}(?:\s*\.\s*{_TOML_NAME})*)\s*=")


def _toml_path(dotted: str) -> str:
    return ".".join(part.strip().strip("\"'") for part in re.split(r"\.(?=(?:[^\"']|\"[^\"]*\"|'[^']*')*$)", dotted))


def _toml_walk(text: str) -> Iterator[tuple[int, str, str | None]]:
    """``(line, table path, key path or None)`` for each line of a TOML document (the n-th ``[[a]]`` table is
    ``a[n]``)."""
    table = ""
    arrays: dict[str, int] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        header = _TOML_TABLE.match(raw)
        if header:
            table = _toml_path(header.group(1))
            if raw.lstrip().startswith("[["):
                arrays[table] = arrays.get(table, -1) + 1
                table = f"{table}[{arrays[table]}]"
            yield number, table, None
            continue
        key = _TOML_KEY.match(raw)
        name = _toml_path(key.group(1)) if key else None
        yield number, table, (f"{table}.{name}" if table else name) if name else None


def toml_key_lines(text: str) -> dict[str, int]:
    """``{"a.b.c": line}`` for every table header and key line of a TOML document (keys inside inline tables
    share their table's line)."""
    lines: dict[str, int] = {}
    for number, table, key in _toml_walk(text):
        lines.setdefault(key or table, number)
    return lines


def line_of(lines: dict[str, int], key_path: str) -> int | None:
    """The line of ``key_path``, else of its nearest parent that has one."""
    path = key_path
    while path:
        if path in lines:
            return lines[path]
        cut = max(path.rfind("."), path.rfind("["))
        path = path[:cut] if cut > 0 else ""
    return None


def _yaml_path_at_error(text: str) -> str:
    """The key path the YAML parser had reached when it failed, followed through its event stream: a mapping
    contributes the key whose value is being read, a sequence the index of the item."""
    frames: list[list[Any]] = []  # ["map", key or None] / ["seq", index]

    def value_done() -> None:
        if frames and frames[-1][0] == "map":
            frames[-1][1] = None

    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            top = frames[-1] if frames else None
            if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                if top is not None and top[0] == "seq":
                    top[1] += 1
                frames.append(["map", None] if isinstance(event, yaml.MappingStartEvent) else ["seq", -1])
            elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                frames.pop()
                value_done()
            elif isinstance(event, (yaml.ScalarEvent, yaml.AliasEvent)):
                if top is None:
                    continue
                if top[0] == "seq":
                    top[1] += 1
                elif top[1] is None:
                    top[1] = str(getattr(event, "value", "*"))  # a key: its value comes next
                else:
                    top[1] = None  # the value: the next scalar is a key again
    except yaml.YAMLError:
        pass
    path = ""
    for kind, part in frames:
        if kind == "map" and part is not None:
            path += f".{part}" if path else str(part)
        elif kind == "seq" and part >= 0:
            path += f"[{part}]"
    return path


def yaml_syntax_message(source: str, text: str, exc: yaml.YAMLError) -> str:
    """``file:line:col: invalid YAML at <key path>: <problem> (<context> at line N)`` on one line."""
    mark = getattr(exc, "problem_mark", None)
    context_mark = getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark is not None else source
    path = _yaml_path_at_error(text)
    context = getattr(exc, "context", None)
    detail = f" ({context} at line {context_mark.line + 1})" if context and context_mark is not None else ""
    at = f" at {path}" if path else ""
    return f"{where}: invalid YAML{at}: {problem}{detail}"


def toml_syntax_message(source: str, text: str, exc: tomllib.TOMLDecodeError) -> str:
    """``file:line:col: invalid TOML at <key path>: <problem>`` on one line."""
    message = str(exc)
    found = re.search(r"\(at line (\d+), column (\d+)\)", message)
    problem = message[: found.start()].strip() if found else message
    if not found:
        return f"{source}: invalid TOML: {problem}"
    line = int(found.group(1))
    path = next((key or table for number, table, key in _toml_walk(text) if number == line), "")
    at = f" at {path}" if path else ""
    return f"{source}:{line}:{found.group(2)}: invalid TOML{at}: {problem}"
