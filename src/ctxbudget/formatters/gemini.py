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
each section in ranking order. Sources are never rendered in this format (``include_sources`` is accepted and
validated for a uniform option set). A rule flagged ``metadata["shortened"]`` renders as
``n. <name> (shortened): <rule>``. A name that only repeats the start of the text is not rendered: ``n. <rule>``.
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
        return f"{number}. "

    def _rule_body(self, rule: MemoryRule, opts: FormatOptions) -> str:
        name, text = titled(rule)
        if starts_block(text):  # a fence or table starts its own line
            text = "\n" + text
        lines = [(f"{name}: {text}" if name else text).rstrip(" ")]
        if not opts.compact:
            scope, condition = scope_text(rule), condition_text(rule)
            if scope:
                lines.append(f"   [Scope: {scope}]")
            if condition:
                lines.append(f"   [Condition: {condition}]")
        return "\n".join(lines) + "\n"

    def _footer_unit(self, skipped: int) -> str:
        return f"\n({skipped} additional guidelines omitted due to token budget constraints.)\n"
