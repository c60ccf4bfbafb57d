"""Claude Code: Markdown for a CLAUDE.md-style memory file.

```
# Project Memory Rules

**Auto-generated context from memory system**

## CRITICAL RULES (Always Follow)

These rules are non-negotiable and must always be followed.

### Behavior

- **<name>**: <rule>
  - Scope: <scope>
  - Source: <source>
  - Condition: <condition>

## DEFAULT GUIDELINES (Unless Overridden)

These are recommended practices unless explicitly overridden by the user or PRD.

### Preference

- **<name>**: <rule>

---

*N additional rules skipped due to token budget constraints.*
```

Categories are sorted by value, a category's bullets are consecutive lines in ranking order. A rule's further
lines are indented under its bullet, so nested lists and code stay inside it. A rule read from a Markdown
file without a name of its own (``metadata["named"]`` false) renders as ``- <rule>``. A rule flagged
``metadata["shortened"]`` renders as ``- **<name> (shortened)**: <rule>`` (or ``- <rule> (shortened)``).
Sources are rendered only when the rules come from more than one source.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from ..rules.model import AuthorityLevel, MemoryCategory, MemoryRule
from .base import (
    FixedLayoutAdapter,
    FormatOptions,
    FormatType,
    category_label,
    condition_text,
    scope_text,
    source_text,
    starts_block,
    titled,
)


class ClaudeCodeAdapter(FixedLayoutAdapter):
    tool_name = "claude"
    format_type = FormatType.MARKDOWN
    DEFAULT_MAX_CONTEXT_TOKENS = 100000
    HEADER = "# Project Memory Rules\n\n**Auto-generated context from memory system**\n"
    SECTIONS: ClassVar[Mapping[AuthorityLevel, str]] = {
        AuthorityLevel.ABSOLUTE: "\n## CRITICAL RULES (Always Follow)\n\n"
                                 "These rules are non-negotiable and must always be followed.\n",
        AuthorityLevel.DEFAULT: "\n## DEFAULT GUIDELINES (Unless Overridden)\n\n"
                                "These are recommended practices unless explicitly overridden by the user or PRD.\n",
    }
    REQUIRED_PREFIX = "#"
    supports_markdown = True
    supports_priorities = True
    groups_by_category = True

    # --- layout -------------------------------------------------------------------------------------------
    def _group_unit(self, category: MemoryCategory) -> str:
        return f"\n### {category_label(category)}\n\n"

    def _rule_prefix(self, number: int) -> str:
        return ""

    def _rule_body(self, rule: MemoryRule, opts: FormatOptions) -> str:
        name, text = titled(rule)
        first, *rest = text.split("\n")
        if starts_block(first):  # a fence or table cannot follow the bullet on its line
            first, rest = "", [first, *rest]
        # the name is bold already: emphasis inside it would close the bold early
        lines = [(f"- **{name.replace('**', '')}**: {first}" if name else f"- {first}").rstrip()]
        lines += [f"  {line}" if line else "" for line in rest]  # continuation stays inside the bullet
        if not opts.compact:
            scope, source, condition = scope_text(rule), source_text(rule), condition_text(rule)
            if scope:
                lines.append(f"  - Scope: {scope}")
            if source and opts.include_sources:
                lines.append(f"  - Source: {source}")
            if condition:
                lines.append(f"  - Condition: {condition}")
        return "\n".join(lines) + "\n"

    def _footer_unit(self, skipped: int) -> str:
        return f"\n---\n\n*{skipped} additional rules skipped due to token budget constraints.*\n"
