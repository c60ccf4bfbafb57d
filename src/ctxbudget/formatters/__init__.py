"""Formatters: render memory rules as each agent's context text, within its token budget."""

from .base import FormatOptions, FormattedContext, FormatType, LLMToolAdapter, ToolCapabilities
from .claude_code import ClaudeCodeAdapter
from .codex import GitHubCodexAdapter
from .gemini import GoogleGeminiAdapter
from .manager import FormatManager

__all__ = [
    "ClaudeCodeAdapter",
    "FormatManager",
    "FormatOptions",
    "FormatType",
    "FormattedContext",
    "GitHubCodexAdapter",
    "GoogleGeminiAdapter",
    "LLMToolAdapter",
    "ToolCapabilities",
]
