"""The one table from tool names and model ids to ``ModelSpec``: which tokenizer counts for a name, which agent
format renders for it, which budget in the config applies, and the model's context window.

Every entry point (``count``, ``fit``, ``check``, the formatters, the budget managers, ``truncate``) asks
``resolve_model`` and nothing else routes. Resolution is case-insensitive; tool names (``claude``, ``codex``,
``gpt``, ``openai``, ``gemini``, ``palm`` and any added through ``MODEL_MAPPINGS``) come first, then exact
model ids, then patterns, the longest matching pattern winning.

The ``claude`` tool stands for the Claude model in use: the first of ``CLAUDE_MODEL``, ``ANTHROPIC_MODEL``,
``CLAUDE_CODE_MODEL`` that is set (read on every resolution), else ``set_claude_model(...)``, else the newest
tokenizer generation.
"""

from __future__ import annotations

import dataclasses
import difflib
import fnmatch
import logging
import os
import re
import threading
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any

from ..errors import UnknownModelError
from .claude_ids import ClaudeModel, lookup_claude_model, parse_claude_id
from .kinds import ESTIMATE, EXACT, RECONSTRUCTED, TokenizerType

logger = logging.getLogger("ctxbudget.models")

OPENAI = "openai"
ANTHROPIC = "anthropic"
GOOGLE = "google"

#: The agent whose format renders for a provider's models, and whose budgets apply to them.
PROVIDER_AGENTS = {ANTHROPIC: "claude", OPENAI: "codex", GOOGLE: "gemini"}
#: Provenance kind of each provider's offline counts.
PROVIDER_KINDS = {OPENAI: EXACT, ANTHROPIC: RECONSTRUCTED, GOOGLE: ESTIMATE}


@dataclass(frozen=True)
class ModelSpec:
    """What the registry knows of a tool name or model id.

    ``encoding`` names the tokenizer: the OpenAI encoding, the Claude tokenizer generation (``"claude-3"`` for
    Claude 3 .. Opus 4.6, ``"claude-4.7"``, ``"claude-4.8"`` for 4.8 and later) or ``"gemini"`` (a labelled
    estimate, or a local SentencePiece model when one is configured). ``kind`` is how its offline counts are
    obtained (``exact``, ``reconstructed``, ``estimate``). ``agent`` is the formatter that renders for the
    model (``claude``, ``codex``, ``gemini``) and ``budget_key`` the tool whose budgets apply in the config.
    The counting backend's ``tokenizer_id`` adds the tokenizer package's version.
    """

    provider: str
    family: str
    canonical_id: str
    tokenizer_type: TokenizerType
    encoding: str
    context_window: int
    known: bool = True
    agent: str = ""
    budget_key: str = ""
    kind: str = ""

    def __post_init__(self) -> None:
        if not self.agent:
            object.__setattr__(self, "agent", PROVIDER_AGENTS[self.provider])
        if not self.budget_key:
            object.__setattr__(self, "budget_key", self.agent)
        if not self.kind:
            object.__setattr__(self, "kind", PROVIDER_KINDS[self.provider])


# --- OpenAI -----------------------------------------------------------------------------------------------

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

#: Every OpenAI encoding a model above uses, and the model that stands for it when a tool names the encoding.
OPENAI_ENCODINGS = {"o200k_base": "gpt-4o", "cl100k_base": "gpt-4", "o200k_harmony": "gpt-oss-120b",
                    "p50k_base": "code-davinci-002"}

# --- Google -----------------------------------------------------------------------------------------------

_GEMINI = re.compile(r"^(?:models/)?(?:gemini-\d+(?:\.\d+)?(?:-.*)?|gemini-\d+.*|palm.*)$")
_GEMINI_WINDOWS = (("gemini-1.5-pro", 2_097_152), ("gemini-1.0", 32_760), ("palm", 8_196))
GEMINI_DEFAULT_WINDOW = 1_048_576


def _openai_spec(model_id: str) -> ModelSpec | None:
    row = _OPENAI_EXACT.get(model_id)
    if row is None:
        row = next((r for r in _OPENAI_PATTERNS if fnmatch.fnmatchcase(model_id, r[0])), None)
    if row is None:
        return None
    return ModelSpec(OPENAI, row[2], model_id, TokenizerType.TIKTOKEN, row[1], row[3])


def _claude_spec(model_id: str) -> ModelSpec | None:
    member = lookup_claude_model(model_id)
    if member is not None:
        version = member.version
        return ModelSpec(ANTHROPIC, version.family, member.model_id, TokenizerType.CLAUDE,
                         f"claude-{version.tokenizer_family}", version.context_window)
    parsed = parse_claude_id(model_id)
    if parsed is None:
        return None
    return ModelSpec(ANTHROPIC, parsed.family, model_id, TokenizerType.CLAUDE,
                     f"claude-{parsed.tokenizer_family}", parsed.context_window, known=False)


def _gemini_spec(model_id: str) -> ModelSpec | None:
    if not _GEMINI.match(model_id):
        return None
    name = model_id.removeprefix("models/")
    window = next((w for prefix, w in _GEMINI_WINDOWS if name.startswith(prefix)), GEMINI_DEFAULT_WINDOW)
    return ModelSpec(GOOGLE, "gemini", name, TokenizerType.ESTIMATION, "gemini", window)


def _model_spec(key: str) -> ModelSpec | None:
    """The spec of a model id (already stripped and lower-cased), or None."""
    for resolver in (_openai_spec, _claude_spec, _gemini_spec):
        spec = resolver(key)
        if spec is not None:
            return spec
    return None


# --- the Claude model in use ------------------------------------------------------------------------------

CLAUDE_ENV_VARS = ("CLAUDE_MODEL", "ANTHROPIC_MODEL", "CLAUDE_CODE_MODEL")
_configured_claude_model: str | None = None
_warned_claude_ids: set[str] = set()


def claude_env() -> tuple[str, ...]:
    """The values of ``CLAUDE_ENV_VARS`` now: a resolution of ``claude`` is stale once they change.
    Unrolled rather than a loop over the constant: this runs on every Claude count."""
    get = os.environ.get
    return (get("CLAUDE_MODEL", ""), get("ANTHROPIC_MODEL", ""), get("CLAUDE_CODE_MODEL", ""))


def claude_model_in_use() -> str | None:
    """The first Claude model variable that is set, else ``set_claude_model``'s model, else None."""
    for value in claude_env():
        if value.strip():
            return value.strip()
    return _configured_claude_model


def set_claude_model(model_id: str | None) -> None:
    """The Claude model that ``claude`` counts for when none of ``CLAUDE_ENV_VARS`` is set (None: the newest
    tokenizer generation)."""
    global _configured_claude_model
    if model_id is not None and not isinstance(model_id, str):
        raise TypeError(f"model_id must be str or None, not {type(model_id).__name__}")
    _configured_claude_model = model_id
    _changed()


def _claude_in_use_spec() -> ModelSpec:
    model_id = claude_model_in_use()
    if model_id:
        spec = _claude_spec(model_id.strip().lower())
        if spec is not None:
            return spec
        if model_id not in _warned_claude_ids:
            _warned_claude_ids.add(model_id)
            logger.warning("Claude model %r not recognised; counting with the newest tokenizer generation",
                           model_id)
    spec = _claude_spec(ClaudeModel.DEFAULT.model_id)
    assert spec is not None
    return spec


# --- tools ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tool:
    """A tool name: what counts for it (``target``), the model it stands for, its agent and its budget key.

    ``target`` is what ``MODEL_MAPPINGS`` shows: an OpenAI encoding name, ``"claude"`` (the Claude model in
    use), ``"gemini"`` or a model id. ``model`` gives the canonical id and context window of an encoding
    target (None: the encoding's representative model).
    """

    target: str
    model: str | None
    agent: str
    budget_key: str


def _default_tools() -> dict[str, Tool]:
    return {
        "claude": Tool("claude", None, "claude", "claude"),
        "codex": Tool("o200k_base", "gpt-5-codex", "codex", "codex"),
        "gpt": Tool("o200k_base", "gpt-5", "codex", "codex"),
        "openai": Tool("o200k_base", "gpt-5", "codex", "codex"),
        "gemini": Tool("gemini", "gemini-2.5-pro", "gemini", "gemini"),
        "palm": Tool("gemini", "gemini-2.5-pro", "gemini", "gemini"),
    }


_tools: dict[str, Tool] = _default_tools()
_lock = threading.RLock()
_listeners: list[Callable[[], None]] = []


def on_change(listener: Callable[[], None]) -> None:
    """Call ``listener()`` after every change of the table (a tool's target, the configured Claude model)."""
    _listeners.append(listener)


def _changed() -> None:
    for listener in list(_listeners):
        listener()


def _target_spec(target: str, model: str | None) -> ModelSpec:
    """The spec a tool's target stands for (raises UnknownModelError for a target nothing knows)."""
    if target == "claude":
        return _claude_in_use_spec()
    if target == "gemini":
        spec = _gemini_spec(model or "gemini-2.5-pro")
    elif target in OPENAI_ENCODINGS:
        # the tool's own model counted with this encoding (its id and window stay); else the encoding's model
        spec = _openai_spec(model or OPENAI_ENCODINGS[target])
        assert spec is not None
        spec = dataclasses.replace(spec, encoding=target)
    else:
        spec = _model_spec(target)
    if spec is None:
        raise UnknownModelError(_unknown_message(target))
    return spec


def _tool_spec(tool: Tool) -> ModelSpec:
    return dataclasses.replace(_target_spec(tool.target, tool.model), agent=tool.agent, budget_key=tool.budget_key)


def follows_claude_model(name: str) -> bool:
    """Whether ``name`` resolves through the Claude model variables (its spec may change between calls)."""
    tool = _tools.get(name.strip().lower())
    return tool is not None and tool.target == "claude"


def resolve_model(model_id: str) -> ModelSpec:
    """The spec of a tool name or model id; ``UnknownModelError`` (naming close matches) otherwise."""
    if not isinstance(model_id, str):
        raise TypeError(f"model id must be str, not {type(model_id).__name__}")
    key = model_id.strip().lower()
    tool = _tools.get(key)
    if tool is not None:
        return _tool_spec(tool)
    spec = _model_spec(key)
    if spec is None:
        raise UnknownModelError(_unknown_message(model_id))
    return spec


def budget_key(name: str) -> str:
    """The config tool whose budgets apply to a tool name or model id (the name itself when unknown)."""
    try:
        return resolve_model(name).budget_key
    except UnknownModelError:
        return name.strip().lower()


def tool_names() -> list[str]:
    with _lock:
        return sorted(_tools)


def known_model_ids() -> list[str]:
    """Every name the registry lists: tools, exact OpenAI ids, Claude members and representative pattern ids."""
    ids = tool_names() + list(_OPENAI_EXACT)
    ids += [m.model_id for m in ClaudeModel]
    ids += ["gpt-5", "gpt-5-codex", "gpt-5.1", "gpt-4.1", "gpt-4.5-preview", "gpt-4o", "gpt-4o-mini",
            "chatgpt-4o-latest", "o1", "o1-mini", "o3", "o4-mini", "codex-mini-latest", "gpt-4-turbo",
            "gpt-4-32k", "gpt-4-1106-preview", "gpt-3.5-turbo", "gpt-35-turbo", "text-embedding-3-small",
            "gpt-oss-120b", "claude-opus-4-8", "gemini-1.5-pro", "gemini-2.0-flash", "gemini-2.5-pro",
            "gemini-2.5-flash", "gemini-3-pro-preview", "palm-2"]
    return sorted(set(ids))


def _unknown_message(model_id: str) -> str:
    close = difflib.get_close_matches(model_id.strip().lower(), known_model_ids(), n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    return f"Unknown model or tool: {model_id!r}{hint}"


# --- MODEL_MAPPINGS: the tools' targets as a mapping -------------------------------------------------------


def _set_tool(name: object, target: object) -> None:
    """Every change of a tool goes through here: ``target=None`` removes the tool. An existing tool keeps its
    agent and budget key; a new one gets its target's agent and is its own budget key."""
    if not isinstance(name, str) or not name.strip():
        raise TypeError(f"a tool name must be a non-empty str, got {name!r}")
    key = name.strip().lower()
    with _lock:
        if target is None:
            if key not in _tools:
                raise KeyError(name)
            del _tools[key]
        else:
            if not isinstance(target, str) or not target.strip():
                raise TypeError(f"a tool's target must be a non-empty str, got {target!r}")
            value = target.strip().lower()
            old = _tools.get(key)
            model = old.model if old is not None and value in OPENAI_ENCODINGS else None
            spec = _target_spec(value, model)  # an unknown target raises here, before anything changes
            _tools[key] = Tool(value, model, old.agent if old else spec.agent, old.budget_key if old else key)
    _changed()


def reset_tools() -> None:
    """Back to the built-in tools (for tests and for code that changed ``MODEL_MAPPINGS``)."""
    with _lock:
        _tools.clear()
        _tools.update(_default_tools())
    _changed()


class ModelMappings(MutableMapping[str, str]):
    """``MODEL_MAPPINGS``: tool name -> what counts for it, the table dispatch really uses (a view of the
    registry's tools). Keys are case-insensitive like tool names; values are an OpenAI encoding name
    (``"o200k_base"``), ``"claude"`` (the Claude model in use), ``"gemini"`` or any model id. Every change
    (item assignment, ``del``, ``update``, ``pop``, ``popitem``, ``|=`` ...) goes through the registry, which
    validates it and makes it take effect at once."""

    def __getitem__(self, key: str) -> str:
        if not isinstance(key, str):
            raise KeyError(key)
        return _tools[key.strip().lower()].target

    def __setitem__(self, key: str, value: str) -> None:
        _set_tool(key, value)

    def __delitem__(self, key: str) -> None:
        _set_tool(key, None)

    def __iter__(self) -> Iterator[str]:
        return iter(tool_names())

    def __len__(self) -> int:
        return len(_tools)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.strip().lower() in _tools

    def __or__(self, other: Mapping[str, str]) -> dict[str, str]:
        return {**self, **other}

    def __ror__(self, other: Mapping[str, str]) -> dict[str, str]:
        return {**other, **self}

    def __ior__(self, other: Any) -> ModelMappings:  # type: ignore[misc]  # like dict: |= updates in place
        self.update(other)
        return self

    def copy(self) -> dict[str, str]:
        """A plain dict of the current targets (changing it changes nothing in the registry)."""
        return dict(self)

    def __copy__(self) -> dict[str, str]:
        return dict(self)

    def __deepcopy__(self, memo: dict[int, Any]) -> dict[str, str]:
        return dict(self)

    def __repr__(self) -> str:
        return f"MODEL_MAPPINGS({dict(self)!r})"


MODEL_MAPPINGS = ModelMappings()
