"""Markdown instruction files (CLAUDE.md, AGENTS.md, GEMINI.md) as rule units, and back to Markdown.

The file is parsed with markdown-it-py (CommonMark, plus GFM tables and YAML front matter) and cut into
*blocks* of whole source lines, every line belonging to exactly one block or to the blank lines between two:

- **frame**: front matter and lines no block covers (link reference definitions) — always kept;
- **heading**: a section heading — kept when at least one unit under it is kept;
- **lead**: a paragraph ending in ``:`` directly followed by a list ("Run these first:") — kept when one of
  the list's items is kept;
- **footer**: the line an earlier trim ended with — kept only when nothing is left out;
- **unit**: what a rule is made of, one ``MemoryRule`` each, in file order:
  a top-level list item with everything nested under it; a paragraph with the code blocks and tables that
  directly follow it; a code block, table, block quote or HTML block of its own (an HTML element opened in
  one block and closed in a later one, such as ``<details>``, with everything between); a table of contents
  (a list whose items are all ``#anchor`` links) as one unit. A thematic break (``---``) travels with the
  block before it.

Authority and priority (``docs/markdown.md`` has examples): an ``<!-- absolute -->``, ``<!-- default -->`` or
``<!-- priority: N -->`` comment on the lines before a unit (or right after an item's list marker) applies to
that unit, before a heading to every unit of its section; otherwise a unit is ABSOLUTE when its heading, or a
parent heading below the title, contains "absolute", "critical", "must", "never", "non-negotiable" or
"always". A leading ``**Name**:`` names the unit (``metadata["named"]``); category comes from the nearest
heading that names one ("prefer…"/"style" → preference, "agent"/"workflow" → agent, else behavior; the
title — a level-1 heading over the unit's own — counts for neither).

``MarkdownDocument.render`` writes the kept units back: the original bytes of each kept block, in file order,
under the headings they belong to, a blank line put in where a left-out block separated two that must not
run together; keeping every unit returns the file unchanged.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ..errors import CtxBudgetError
from .model import AuthorityLevel, MemoryCategory, MemoryRule

if TYPE_CHECKING:
    from markdown_it import MarkdownIt
    from markdown_it.token import Token


class MarkdownError(CtxBudgetError, ValueError):
    """An instruction file whose markers cannot be read; the message names the file and line."""


_BOM = "\ufeff"
_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z")
_MARKER = re.compile(r"<!--\s*(absolute|default|priority\s*:[^>]*?)\s*-->", re.I)
_ONLY_MARKERS = re.compile(rf"\A(?:\s*{_MARKER.pattern}\s*)+\Z", re.I)
#: the footer line ``fit`` ends a trimmed file with (``fit.footer_line``)
OWN_FOOTER = re.compile(r"\A\s*<!-- ctxbudget: \d+ of \d+ units? left out to fit [^>]*-->\s*\Z")
_ITEM_START = re.compile(r"\A([ \t]*(?:[-*+]|\d{1,9}[.)])(?:[ \t]+|(?=\r?\n|\r|\Z)))")
_NAME = re.compile(r"\*\*([^*\n]+?)\*\*\s*[:—–-]\s*|\*\*([^*\n]+?):\*\*\s*")
_ABSOLUTE_HEADING = re.compile(r"absolute|critical|\bmust\b|\bnever\b|non-negotiable|\balways\b", re.I)
_ANCHOR_LINK = re.compile(r"\[[^\]]*\]\(#[^)]*\)")
_OPEN_TAG = re.compile(r"\A\s*<([A-Za-z][\w-]*)[\s>]")
#: the opening (or closing) line of a fenced code block: the fence, then the info string's language
FENCE = re.compile(r"\s*(`{3,}|~{3,})\s*([\w+-]*)")
#: priority of a table of contents: the first unit to go, since a trimmed file's anchors may point nowhere
TOC_PRIORITY = 5.0
#: every unit's created_at: ranking ties fall back to file order, not clock time
_CREATED = datetime(2000, 1, 1, tzinfo=UTC)


def _parser() -> MarkdownIt:
    # imported here, not with the module: formatters and rules files need this module but not the parser
    from markdown_it import MarkdownIt
    from mdit_py_plugins.front_matter import front_matter_plugin

    return MarkdownIt("commonmark").enable("table").use(front_matter_plugin)


def split_lines(text: str) -> list[str]:
    """``text`` as lines with their own endings (``\\n``, ``\\r\\n`` or ``\\r`` — the ones CommonMark knows;
    ``str.splitlines`` would also split at form feeds and U+2028)."""
    return _LINE.findall(text)


@dataclass
class Block:
    """Source lines ``[start, end)`` (blank lines after it excluded) and the context blocks it needs."""

    kind: str  # frame | heading | lead | footer | unit
    start: int
    end: int
    parents: tuple[int, ...] = ()
    level: int = 0  # heading level
    title: str = ""  # heading text
    unit: int = -1  # index into the document's rules, for kind == "unit"
    group: int = -1  # the list an item belongs to: two items of one list join without a blank line
    body_end: int = -1  # end of the block's own lines, before a thematic break it carries (-1: ``end``)
    lead: str = ""  # unit: the start of its first line that is not rule text (list marker, marker, name)
    indent: int = 0  # unit: the indent of a list item's continuation lines
    open_fence: str = ""  # a fence the file never closes: written before a footer, so it stays outside

    @property
    def content_end(self) -> int:
        return self.end if self.body_end < 0 else self.body_end


@dataclass
class _Marks:
    authority: AuthorityLevel | None = None
    priority: float | None = None

    def merge(self, other: _Marks) -> _Marks:
        return _Marks(other.authority or self.authority,
                      other.priority if other.priority is not None else self.priority)


@dataclass
class _Section:
    block: int
    level: int
    marks: _Marks


@dataclass
class MarkdownDocument:
    """A parsed instruction file: its blocks, its rules (one per unit block) and the renderer back."""

    text: str
    name: str
    file: str
    lines: list[str]
    blocks: list[Block]
    rules: list[MemoryRule]
    bom: str = ""
    #: rule k's block
    unit_blocks: list[int] = field(default_factory=list)

    @property
    def newline(self) -> str:
        for line in self.lines:
            if line.endswith("\r\n"):
                return "\r\n"
            if line.endswith(("\n", "\r")):
                return line[-1]
        return "\n"

    def _gap_before(self, index: int) -> list[str]:
        start = self.blocks[index - 1].end if index else 0
        return self.lines[start:self.blocks[index].start]

    def unit_text(self, unit: int) -> str:
        """The original text of a unit, markers included, blank lines after it excluded."""
        block = self.blocks[self.unit_blocks[unit]]
        return "".join(self.lines[block.start:block.end])

    def render(self, kept: Iterable[MemoryRule], footer: str | None = None) -> str:
        """The file with only the units of ``kept`` (rules of this document; a rule with changed text — a
        shortened copy — replaces its unit's text) and their headings and leads, then ``footer`` as the last
        line. Keeping every unit without a footer returns ``text`` exactly."""
        by_id = {rule.id: k for k, rule in enumerate(self.rules)}
        replaced: dict[int, MemoryRule] = {}
        kept = list(kept)
        everything = {rule.id for rule in kept} >= set(by_id)
        # all kept: every block, headings of empty sections too; else only what a kept unit needs
        emit = {i for i, block in enumerate(self.blocks) if block.kind == "frame" or everything}
        for rule in kept:
            k = by_id.get(rule.id)
            if k is None:
                raise ValueError(f"rule {rule.id!r} is not a unit of {self.file}")
            block_index = self.unit_blocks[k]
            emit.add(block_index)
            emit.update(self.blocks[block_index].parents)
            if rule.rule != self.rules[k].rule:
                replaced[block_index] = rule
        out: list[str] = [self.bom]
        previous = -1
        for i in sorted(emit):
            if previous >= 0:
                out += self._separator(previous, i)
            elif i == 0:
                out += self._gap_before(0)
            out.append(self._block_text(i, replaced[i]) if i in replaced else
                       "".join(self.lines[self.blocks[i].start:self.blocks[i].end]))
            previous = i
        if not self.blocks:  # an empty or blank file
            out += self.lines
        elif previous == len(self.blocks) - 1:
            out += self.lines[self.blocks[-1].end:]
        text = "".join(out)
        if footer is not None:
            if text and not text.endswith(("\n", "\r")):
                text += self.newline
            if previous >= 0 and self.blocks[previous].open_fence:
                text += self.blocks[previous].open_fence + self.newline
            text += (self.newline if text.strip(_BOM + " \t\r\n") else "") + footer + self.newline
        return text

    def _separator(self, previous: int, i: int) -> list[str]:
        """The lines between two written blocks: the original ones when they were neighbours; else the blank
        lines either had, and a blank line at least unless both are items of one list (two paragraphs, a
        paragraph and a list that cannot interrupt it, must not run together)."""
        gap = self._gap_before(i)
        if i == previous + 1 or gap:
            return gap
        after = self._gap_before(previous + 1)
        a, b = self.blocks[previous], self.blocks[i]
        if after or (a.group >= 0 and a.group == b.group):
            return after
        return [self.newline]

    def _block_text(self, block_index: int, rule: MemoryRule) -> str:
        """A unit block re-written with ``rule.rule`` (a shortened copy): its marker lines, its lead (list
        marker, inline marker, name), the new text indented as the item's continuation, then what it carried
        after its content (a thematic break)."""
        block = self.blocks[block_index]
        body_start = block.start
        while body_start < block.end and _ONLY_MARKERS.match(self.lines[body_start]):
            body_start += 1
        head = "".join(self.lines[block.start:body_start])
        tail = "".join(self.lines[block.content_end:block.end])
        nl = self.newline
        first, *rest = rule.rule.split("\n")
        return head + block.lead + first + nl + "".join(" " * block.indent + line + nl for line in rest) + tail


# --- reading ------------------------------------------------------------------------------------------------

def _marks(comment: str, file: str, line: int) -> _Marks:
    marks = _Marks()
    for match in _MARKER.finditer(comment):
        word = match.group(1).lower()
        if word in ("absolute", "default"):
            marks.authority = AuthorityLevel(word)
            continue
        raw = word.split(":", 1)[1].strip()
        try:
            value = float(raw)
        except ValueError:
            value = math.nan
        if not 0 <= value <= 100:
            raise MarkdownError(f"{file}:{line + 1}: priority: {match.group(0)!r} is not a number between 0 and 100")
        marks.priority = value
    return marks


def _category_for(titles: Sequence[str]) -> MemoryCategory:
    """From the nearest heading that names one (``titles`` nearest last): "prefer…"/"style" → preference,
    "agent"/"workflow" → agent; else behavior."""
    for title in reversed(titles):
        lowered = title.lower()
        if "prefer" in lowered or "style" in lowered:
            return MemoryCategory.PREFERENCE
        if "agent" in lowered or "workflow" in lowered:
            return MemoryCategory.AGENT
    return MemoryCategory.BEHAVIOR


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40] or "rule"


def _plain(line: str) -> str:
    """A line as a short label: no list marker, heading marks, emphasis, links or HTML comment."""
    line = _MARKER.sub("", line)
    line = _ITEM_START.sub("", line).strip().lstrip("#>").strip()
    line = re.sub(r"[*_`]+", "", line)
    line = re.sub(r"!?\[([^\]]*)\](?:\([^)]*\)|\[[^\]]*\])?", r"\1", line)
    return " ".join(line.split())


def _label(body: str) -> str:
    """A unit's name when it has no ``**Name**:``: its first line as plain text (cut at 60 characters with
    "…"); for code, the language and the first line of code."""
    lines = body.split("\n")
    fence = FENCE.match(lines[0])
    if fence:
        first = next((_plain(line) for line in lines[1:] if line.strip()), "")
        label = f"{fence.group(2) or 'code'}: {first}".rstrip(": ")
    else:
        label = next((plain for plain in map(_plain, lines) if plain), "unit")
    return label if len(label) <= 60 else label[:59].rstrip() + "…"


def _ends_with_colon(inline: str) -> bool:
    return re.sub(r"[*_`\s]+\Z", "", inline).endswith(":")


@dataclass
class _Unit:
    block: int
    kind: str
    marks: _Marks
    body: str
    name: str | None
    atomic: bool


class _Reader:
    def __init__(self, text: str, name: str, file: str) -> None:
        self.bom = _BOM if text.startswith(_BOM) else ""
        self.text = text[len(self.bom):]
        self.name, self.file = name, file
        self.lines = split_lines(self.text)
        self.blocks: list[Block] = []
        self.sections: list[_Section] = []
        self.section_marks: dict[int, _Marks] = {}  # heading block → its marks, parents' merged in
        self.pending = _Marks()  # markers waiting for the block they stand before
        self.pending_start: int | None = None  # the first line of those markers
        self.pending_lead: tuple[int, _Marks] | None = None  # a lead paragraph waiting for its list
        self.units: list[_Unit] = []
        self.lists = 0

    # --- blocks ----------------------------------------------------------------------------------------
    def _trim(self, start: int, end: int) -> int:
        while end > start + 1 and not self.lines[end - 1].strip():
            end -= 1
        return end

    def _cover(self, start: int) -> None:
        """Frame blocks for the non-blank lines between the last block and ``start`` (link definitions)."""
        at = self.blocks[-1].end if self.blocks else 0
        if self.pending_start is not None:
            start = min(start, self.pending_start)
        run: int | None = None
        for n in range(at, start):
            if self.lines[n].strip():
                if run is None:
                    run = n
            elif run is not None:
                self.blocks.append(Block("frame", run, n))
                run = None
        if run is not None:
            self.blocks.append(Block("frame", run, self._trim(run, start)))

    def _add(self, kind: str, start: int, end: int, **extra: Any) -> int:
        self._cover(start)
        if self.pending_start is not None:
            start, self.pending_start = self.pending_start, None
        block = Block(kind, start, self._trim(start, end), tuple(s.block for s in self.sections), **extra)
        self.blocks.append(block)
        return len(self.blocks) - 1

    def _unit(self, start: int, end: int, kind: str, parents: tuple[int, ...] = (), *, marker: str = "",
              indent: int = 0, marks: _Marks | None = None, atomic: bool = True, name: str | None = None,
              group: int = -1, open_fence: str = "") -> None:
        own = self.pending.merge(marks or _Marks())
        self.pending = _Marks()
        index = self._add("unit", start, end, unit=len(self.units), indent=indent, group=group,
                          open_fence=open_fence)
        block = self.blocks[index]
        block.parents += parents
        body, named = self._text(block, marker)
        if not body.strip():  # an empty list item: its marker is its text
            body, atomic = "".join(self.lines[block.start:block.end]).strip(), True
        self.units.append(_Unit(index, kind, own, body, name or named, atomic))

    def _text(self, block: Block, marker: str) -> tuple[str, str | None]:
        """The rule text of a unit block, and its ``**Name**:`` if it has one: marker lines, the list marker,
        an inline marker comment and the name removed (that start of the first line becomes the block's
        ``lead``), continuation dedented, line ends as ``\\n``."""
        lines = [line.rstrip("\r\n") for line in self.lines[block.start:block.content_end]]
        while lines and _ONLY_MARKERS.match(lines[0]):
            lines.pop(0)
        if not lines:
            return "", None
        first = lines[0]
        at = len(marker)
        inline = _MARKER.match(first, at)
        if inline:
            at = inline.end() + len(first[inline.end():]) - len(first[inline.end():].lstrip())
        named = _NAME.match(first, at)
        name = None
        if named and first[named.end():].strip():
            name = (named.group(1) or named.group(2)).strip()
            at = named.end()
        block.lead = first[:at]
        lines[0] = first[at:]
        if marker:
            width = block.indent
            lines[1:] = [line[width:] if line[:width].strip() == "" else line.lstrip()
                         for line in (raw.expandtabs(4) if raw.startswith("\t") else raw for raw in lines[1:])]
        while lines and not lines[-1].strip():
            lines.pop()
        return "\n".join(lines), name

    # --- the token walk ----------------------------------------------------------------------------------
    def read(self) -> MarkdownDocument:
        tokens = _parser().parse(self.text)
        top = [i for i, t in enumerate(tokens) if t.level == 0 and t.map is not None]
        position = 0
        while position < len(top):
            i = top[position]
            token = tokens[i]
            start, end = token.map or (0, 0)
            nxt = tokens[top[position + 1]] if position + 1 < len(top) else None
            position += 1
            if token.type == "front_matter":
                self._add("frame", start, end)
            elif token.type == "heading_open":
                self._heading(start, end, int(token.tag[1]), tokens[i + 1].content)
            elif token.type == "html_block" and _ONLY_MARKERS.match(token.content):
                self.pending = self.pending.merge(_marks(token.content, self.file, start))
                if self.pending_start is None:
                    self._cover(start)
                    self.pending_start = start
            elif token.type == "html_block" and OWN_FOOTER.match(token.content):
                self._add("footer", start, end)
            elif token.type == "hr" and self.blocks and self.pending_start is None:
                self._cover(start)
                carrier = self.blocks[-1]
                carrier.body_end, carrier.end = carrier.content_end, self._trim(start, end)
            elif token.type in ("bullet_list_open", "ordered_list_open"):
                self._list(tokens, i, start, end)
            elif token.type == "paragraph_open" and nxt is not None and nxt.type in (
                "bullet_list_open", "ordered_list_open"
            ) and _ends_with_colon(tokens[i + 1].content):
                lead = self._add("lead", start, end)
                self.pending_lead = (lead, self.pending)
                self.pending = _Marks()
            elif token.type == "paragraph_open":
                last, fence = end, ""
                while position < len(top) and tokens[top[position]].type in ("fence", "code_block", "table_open"):
                    following = tokens[top[position]]
                    last = (following.map or (0, end))[1]
                    fence = self._open_fence(following)
                    position += 1
                kind = "paragraph" if last == end else "paragraph+code"
                self._unit(start, last, kind, atomic=last != end, open_fence=fence)
            elif token.type == "html_block":
                position, end = self._element(tokens, top, position, token, end)
                self._unit(start, end, "html")
            else:
                kind = {"fence": "code", "code_block": "code", "table_open": "table", "blockquote_open": "quote",
                        "hr": "rule"}.get(token.type, token.type)
                self._unit(start, end, kind, open_fence=self._open_fence(token))
        self._cover(len(self.lines))
        if self.pending_start is not None:  # markers with nothing after them: kept as they are
            self.blocks.append(Block("frame", self.pending_start, self._trim(self.pending_start, len(self.lines))))
        return self._document()

    def _open_fence(self, token: Token) -> str:
        """The fence's marker when the file ends inside it (its last line does not close it), else ""."""
        if token.type != "fence" or token.map is None:
            return ""
        start, end = token.map
        closing = self.lines[end - 1].strip() if end - 1 > start else ""
        closed = closing.startswith(token.markup) and not closing.strip(token.markup[0])
        return "" if closed else token.markup

    def _element(self, tokens: list[Token], top: list[int], position: int, token: Token, end: int) -> tuple[int, int]:
        """An HTML block opening an element it does not close (``<details>``): the blocks up to the one that
        closes it join it; returns the next position and the unit's end."""
        opened = _OPEN_TAG.match(token.content)
        if not opened or f"</{opened.group(1).lower()}" in token.content.lower():
            return position, end
        closing = f"</{opened.group(1).lower()}"
        for n in range(position, len(top)):
            candidate = tokens[top[n]]
            if candidate.type == "heading_open":
                break
            if candidate.type == "html_block" and closing in candidate.content.lower():
                return n + 1, (candidate.map or (0, end))[1]
        return position, end

    def _heading(self, start: int, end: int, level: int, title: str) -> None:
        while self.sections and self.sections[-1].level >= level:
            self.sections.pop()
        marks = self.sections[-1].marks.merge(self.pending) if self.sections else self.pending
        self.pending = _Marks()
        index = self._add("heading", start, end, level=level, title=title.strip())
        self.sections.append(_Section(index, level, marks))
        self.section_marks[index] = marks

    def _list(self, tokens: list[Token], i: int, start: int, end: int) -> None:
        lead, lead_marks = self.pending_lead or (None, _Marks())
        self.pending_lead = None
        parents = (lead,) if lead is not None else ()
        self.lists += 1
        close = next(j for j in range(i + 1, len(tokens)) if tokens[j].level == 0)
        items = [j for j in range(i + 1, close) if tokens[j].type == "list_item_open" and tokens[j].level == 1]
        inlines = [t.content for t in tokens[i:close] if t.type == "inline"]
        if inlines and all(_ANCHOR_LINK.fullmatch(c.strip()) for c in inlines):
            self._unit(start, end, "toc", parents, marks=_Marks(priority=TOC_PRIORITY).merge(lead_marks),
                       name="table of contents")
            return
        for n, j in enumerate(items):
            item_start, item_end = tokens[j].map or (start, end)
            if n + 1 < len(items):  # lines up to the next item (blank ones are trimmed)
                item_end = (tokens[items[n + 1]].map or (item_end, item_end))[0]
            first = self.lines[item_start]
            match = _ITEM_START.match(first)
            marker = match.group(1) if match else ""
            inline = _MARKER.match(first, len(marker))
            marks = lead_marks.merge(_marks(inline.group(0), self.file, item_start)) if inline else lead_marks
            # one paragraph and nothing else: the only kind of item compression may shorten
            simple = tokens[j + 1].type == "paragraph_open" and tokens[j + 4].type == "list_item_close"
            self._unit(item_start, item_end, "item", parents, marker=marker, indent=len(marker.expandtabs(4)),
                       marks=marks, atomic=not simple, group=self.lists)

    # --- rules ----------------------------------------------------------------------------------------------
    def _document(self) -> MarkdownDocument:
        rules: list[MemoryRule] = []
        slug = _slug(self.name)
        for k, unit in enumerate(self.units):
            block = self.blocks[unit.block]
            headings = [self.blocks[p] for p in block.parents if self.blocks[p].kind == "heading"]
            nearest = [p for p in block.parents if p in self.section_marks]
            section_marks = self.section_marks[nearest[-1]] if nearest else _Marks()
            # the title (a level-1 heading over the unit's own) names the file, not the unit's kind
            strong = [h.title for n, h in enumerate(headings) if h.level > 1 or n == len(headings) - 1]
            authority = unit.marks.authority or section_marks.authority or (
                AuthorityLevel.ABSOLUTE if any(_ABSOLUTE_HEADING.search(t) for t in strong) else AuthorityLevel.DEFAULT
            )
            priority = unit.marks.priority if unit.marks.priority is not None else section_marks.priority
            rules.append(MemoryRule(
                id=f"{slug}-{k + 1}", category=_category_for(strong), name=unit.name or _label(unit.body),
                rule=unit.body, authority=authority, scope=[], source="", created_at=_CREATED, priority=priority,
                metadata={"section": headings[-1].title if headings else "", "kind": unit.kind,
                          "line": block.start + 1, "file": self.file, "atomic": unit.atomic,
                          "named": unit.name is not None},
            ))
        return MarkdownDocument(text=self.bom + self.text, name=self.name, file=self.file, lines=self.lines,
                                blocks=self.blocks, rules=rules, bom=self.bom,
                                unit_blocks=[unit.block for unit in self.units])


def parse_markdown(text: str, name: str = "instructions", *, file: str | None = None) -> MarkdownDocument:
    """Read an instruction file (conventions in the module docstring); errors name ``file`` (default
    ``name``), rule ids are ``<name slug>-<n>``."""
    return _Reader(text, name, file or name).read()


def rules_from_markdown(text: str, source_name: str = "instructions", *, file: str | None = None) -> list[MemoryRule]:
    """The rules of a Markdown instruction file, one per unit, in file order."""
    return parse_markdown(text, source_name, file=file).rules
