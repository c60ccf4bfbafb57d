"""One table from tool names and model ids to tokenizer specs (encoding/generation, context window).

Resolution is case-insensitive; exact ids win over patterns and the longest matching pattern wins.
"""

from __future__ import annotations

import difflib
import fnmatch
import re
from dataclasses import dataclass

from ..errors import UnknownModelError
from ..tokenizers.base import TokenizerType
from .claude_ids import ClaudeModel, lookup_claude_model, parse_claude_id

OPENAI = "openai"
ANTHROPIC = "anthropic"
GOOGLE = "google"

GEMINI_DEFAULT_WINDOW = 1_048_576


@dataclass(frozen=True)
class ModelSpec:
    """What the registry knows of a model id.

    ``encoding`` is the OpenAI encoding name, the Claude tokenizer generation (``"claude-3"`` for Claude
    3 .. Opus 4.6, ``"claude-4.7"`` for Opus 4.7+) or ``"gemini"``.
    """

    provider: str
    family: str
    canonical_id: str
    tokenizer_type: TokenizerType
    encoding: str
    context_window: int
    known: bool = True


# (pattern, encoding, family, context window). Exact ids have no wildcard.
_OPENAI_TABLE: tuple[tuple[str, str, str, int], ...] = (
    ("gpt-5*", "o200k_base", "gpt", 400_000),
    ("gpt-5-codex*", "o200k_base", "codex", 400_000),
    ("*codex*", "o200k_base", "codex", 400_000),
    ("gpt-4.1*", "o200k_base", "gpt", 1_047_576),
    ("gpt-4.5*", "o200k_base", "gpt", 128_000),
    ("gpt-4o*", "o200k_base", "gpt", 128_000),
    ("chatgpt-4o*", "o200k_base", "gpt", 128_000),
    ("o1*", "o200k_base", "o-series", 200_000),
    ("o1-mini*", "o200k_base", "o-series", 128_000),
    ("o3*", "o200k_base", "o-series", 200_000),
    ("o4-mini*", "o200k_base", "o-series", 200_000),
    ("gpt-4", "cl100k_base", "gpt", 8_192),
    ("gpt-4-*", "cl100k_base", "gpt", 8_192),
    ("gpt-4-32k*", "cl100k_base", "gpt", 32_768),
    ("gpt-4-turbo*", "cl100k_base", "gpt", 128_000),
    ("gpt-4-*-preview", "cl100k_base", "gpt", 128_000),
    ("gpt-3.5-turbo*", "cl100k_base", "gpt", 16_385),
    ("gpt-35-turbo*", "cl100k_base", "gpt", 16_385),
    ("text-embedding-3-*", "cl100k_base", "embedding", 8_191),
    ("text-embedding-ada-002", "cl100k_base", "embedding", 8_191),
    ("gpt-oss-*", "o200k_harmony", "gpt-oss", 131_072),
    ("davinci-codex", "p50k_base", "codex", 8_001),
    ("cushman-codex", "p50k_base", "codex", 2_048),
    ("code-davinci-001", "p50k_base", "codex", 8_001),
    ("code-davinci-002", "p50k_base", "codex", 8_001),
    ("code-cushman-001", "p50k_base", "codex", 2_048),
    ("code-cushman-002", "p50k_base", "codex", 2_048),
)

_OPENAI_EXACT = {p: row for row in _OPENAI_TABLE if not any(c in (p := row[0]) for c in "*?[")}
_OPENAI_PATTERNS = sorted(
    (row for row in _OPENAI_TABLE if row[0] not in _OPENAI_EXACT), key=lambda row: -len(row[0])
)

_GEMINI = re.compile(r"^(?:models/)?(?:gemini-\d+(?:\.\d+)?(?:-.*)?|gemini-\d+.*|palm.*)$")
_GEMINI_WINDOWS = (("gemini-1.5-pro", 2_097_152), ("gemini-1.0", 32_760), ("palm", 8_196))

# Tool names (the façade's first argument) and the model each stands for.
TOOL_MODELS: dict[str, str] = {
    "claude": ClaudeModel.DEFAULT.model_id,
    "codex": "gpt-5-codex",
    "gpt": "gpt-5",
    "openai": "gpt-5",
    "gemini": "gemini-2.5-pro",
    "palm": "gemini-2.5-pro",
}

OPENAI_ENCODINGS = ("cl100k_base", "o200k_base", "o200k_harmony")


def normalise_tool(tool_name: str) -> str:
    """Tool names are case-insensitive and stripped."""
    return tool_name.strip().lower()


def _claude_spec(model_id: str) -> ModelSpec | None:
    member = lookup_claude_model(model_id)
    if member is not None:
        version = member.version
        return ModelSpec(
            ANTHROPIC, version.family, member.model_id, TokenizerType.CLAUDE,
            f"claude-{version.tokenizer_family}", version.context_window,
        )
    parsed = parse_claude_id(model_id)
    if parsed is None:
        return None
    return ModelSpec(
        ANTHROPIC, parsed.family, model_id.strip().lower(), TokenizerType.CLAUDE,
        f"claude-{parsed.tokenizer_family}", parsed.context_window, known=False,
    )


def _openai_spec(model_id: str) -> ModelSpec | None:
    row = _OPENAI_EXACT.get(model_id)
    if row is None:
        row = next((r for r in _OPENAI_PATTERNS if fnmatch.fnmatchcase(model_id, r[0])), None)
    if row is None:
        return None
    return ModelSpec(OPENAI, row[2], model_id, TokenizerType.TIKTOKEN, row[1], row[3])


def _gemini_spec(model_id: str) -> ModelSpec | None:
    name = model_id.removeprefix("models/")
    if not _GEMINI.match(model_id):
        return None
    window = next((w for prefix, w in _GEMINI_WINDOWS if name.startswith(prefix)), GEMINI_DEFAULT_WINDOW)
    return ModelSpec(GOOGLE, "gemini", name, TokenizerType.ESTIMATION, "gemini", window)


def resolve_model(model_id: str) -> ModelSpec:
    """The spec of a model id or tool name; ``UnknownModelError`` (with close matches) otherwise."""
    if not isinstance(model_id, str):
        raise TypeError(f"model id must be str, not {type(model_id).__name__}")
    key = model_id.strip().lower()
    key = TOOL_MODELS.get(key, key)
    for resolver in (_openai_spec, _claude_spec, _gemini_spec):
        spec = resolver(key)
        if spec is not None:
            return spec
    raise UnknownModelError(_unknown_message(model_id))


def known_model_ids() -> list[str]:
    """Ids the registry lists by name (tools, exact ids, Claude members)."""
    ids = list(TOOL_MODELS) + list(_OPENAI_EXACT)
    ids += [m.model_id for m in ClaudeModel if m is not ClaudeModel.DEFAULT]
    ids += ["gpt-5", "gpt-5-codex", "gpt-4.1", "gpt-4o", "gpt-4o-mini", "o3", "o4-mini", "gpt-oss-120b",
            "gemini-2.5-pro", "gemini-2.5-flash", "gemini-3-pro-preview"]
    return sorted(set(ids))


def _unknown_message(model_id: str) -> str:
    close = difflib.get_close_matches(model_id.strip().lower(), known_model_ids(), n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    return f"Unknown model or tool: {model_id!r}{hint}"
