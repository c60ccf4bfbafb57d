"""GitHub Codex: plain text.

```
PROJECT CONTEXT RULES

=== CRITICAL RULES (ALWAYS FOLLOW) ===

[1] <name> (<Category>)
<rule>
Scope: <scope>
Condition: <condition>

=== DEFAULT GUIDELINES ===

[2] <name> (<Category>)
<rule>

--- N rules omitted due to context limits ---
```

Every rule is its own block; ``n`` runs continuously over the included rules (ABSOLUTE first, then DEFAULT in
ranking order). Sources are never rendered in this format (``include_sources`` is accepted and validated for
a uniform option set). A rule flagged ``metadata["shortened"]`` renders as ``[n] <name> (shortened) (<Category>)``.
A rule read from a Markdown file without a name of its own renders as ``[n] (<Category>)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from ..rules.model import AuthorityLevel, MemoryRule
from .base import (
    FixedLayoutAdapter,
    FormatOptions,
    FormatType,
    category_label,
    condition_text,
    scope_text,
    titled,
)


class GitHubCodexAdapter(FixedLayoutAdapter):
    tool_name = "codex"
    format_type = FormatType.PLAIN_TEXT
    DEFAULT_MAX_CONTEXT_TOKENS = 4096
    HEADER = "PROJECT CONTEXT RULES\n"
    SECTIONS: ClassVar[Mapping[AuthorityLevel, str]] = {
        AuthorityLevel.ABSOLUTE: "\n=== CRITICAL RULES (ALWAYS FOLLOW) ===\n",
        AuthorityLevel.DEFAULT: "\n=== DEFAULT GUIDELINES ===\n",
    }
    REQUIRED_PREFIX = "PROJECT CONTEXT RULES"
    continuous_numbering = True

    # --- layout -------------------------------------------------------------------------------------------
    def _rule_prefix(self, number: int) -> str:
        return f"\n[{number}] "

    def _rule_body(self, rule: MemoryRule, opts: FormatOptions) -> str:
        name, text = titled(rule)
        category = f"({category_label(rule.category)})"
        lines = [f"{name} {category}" if name else category, text]
        if not opts.compact:
            scope, condition = scope_text(rule), condition_text(rule)
            if scope:
                lines.append(f"Scope: {scope}")
            if condition:
                lines.append(f"Condition: {condition}")
        return "\n".join(lines) + "\n"

    def _footer_unit(self, skipped: int) -> str:
        return f"\n--- {skipped} rules omitted due to context limits ---\n"
