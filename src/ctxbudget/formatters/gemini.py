"""Google Gemini: a system instruction.

```
You are an AI assistant with the following context-specific rules and guidelines.

MANDATORY RULES:
You MUST follow these rules without exception:
1. <name>: <rule>
   [Scope: <scope>]
   [Condition: <condition>]

RECOMMENDED GUIDELINES:
Follow these guidelines unless explicitly overridden:
1. <name>: <rule>

(N additional guidelines omitted due to token budget constraints.)
```

A section is one block: heading, instruction line, then its rules on consecutive lines, numbered from 1 in
each section in ranking order; a rule's further lines are indented by three spaces under its number. Sources
are never rendered in this format (``include_sources`` is accepted and validated for a uniform option set). A
rule flagged ``metadata["shortened"]`` renders as ``n. <name> (shortened): <rule>``. A rule read from a
Markdown file without a name of its own renders as ``n. <rule>``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from ..rules.model import AuthorityLevel, MemoryRule
from .base import (
    FixedLayoutAdapter,
    FormatOptions,
    FormatType,
    condition_text,
    scope_text,
    starts_block,
    titled,
)


class GoogleGeminiAdapter(FixedLayoutAdapter):
    tool_name = "gemini"
    format_type = FormatType.SYSTEM_INSTRUCTION
    DEFAULT_MAX_CONTEXT_TOKENS = 32000
    HEADER = "You are an AI assistant with the following context-specific rules and guidelines.\n"
    SECTIONS: ClassVar[Mapping[AuthorityLevel, str]] = {
        AuthorityLevel.ABSOLUTE: "\nMANDATORY RULES:\nYou MUST follow these rules without exception:\n",
        AuthorityLevel.DEFAULT: "\nRECOMMENDED GUIDELINES:\nFollow these guidelines unless explicitly overridden:\n",
    }
    REQUIRED_PREFIX = "You are"
    supports_priorities = True
    injection_method = "api"

    # --- layout -------------------------------------------------------------------------------------------
    def _rule_prefix(self, number: int) -> str:
        return f"{number}."  # the body adds the space, unless the rule starts with code on the next line

    def _rule_body(self, rule: MemoryRule, opts: FormatOptions) -> str:
        name, text = titled(rule)
        first, *rest = text.split("\n")
        if starts_block(first):  # a fence or table starts a line of its own
            first, rest = "", [first, *rest]
        head = f"{name}: {first}" if name else first
        # further lines are indented under the number, so nested lists and code stay in the rule
        lines = [f" {head}".rstrip(), *(f"   {line}" if line else "" for line in rest)]
        if not opts.compact:
            scope, condition = scope_text(rule), condition_text(rule)
            if scope:
                lines.append(f"   [Scope: {scope}]")
            if condition:
                lines.append(f"   [Condition: {condition}]")
        return "\n".join(lines) + "\n"

    def _footer_unit(self, skipped: int) -> str:
        return f"\n({skipped} additional guidelines omitted due to token budget constraints.)\n"
