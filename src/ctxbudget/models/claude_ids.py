"""Claude model ids: the member table and the id parser (3.x, 4.x+, dated, Bedrock, Vertex forms)."""

from __future__ import annotations

import logging
import re
import threading
from enum import Enum
from typing import NamedTuple

logger = logging.getLogger("ctxbudget.claude")


class ClaudeVersion(NamedTuple):
    """A parsed Claude id: family (opus/sonnet/haiku) and version."""

    family: str
    major: int
    minor: int

    @property
    def tokenizer_family(self) -> str:
        """ctok's reconstruction generation: "3" serves Claude 3 .. Opus 4.6, "4.7" serves Opus 4.7, and "4.8"
        serves 4.8 and later (4.7's vocabulary with a different message frame)."""
        version = (self.major, self.minor)
        return "4.8" if version >= (4, 8) else "4.7" if version >= (4, 7) else "3"

    @property
    def context_window(self) -> int:
        """Input window: 1M tokens for Opus/Sonnet 4.6 and every later non-Haiku model, else 200K."""
        return 1_000_000 if self.family != "haiku" and (self.major, self.minor) >= (4, 6) else 200_000


class ClaudeModel(Enum):
    """Known Claude models; value is ``(model_id, token_limit)``."""

    HAIKU_3 = ("claude-3-haiku-20240307", 200000)
    SONNET_3 = ("claude-3-sonnet-20240229", 200000)
    OPUS_3 = ("claude-3-opus-20240229", 200000)
    SONNET_3_5_OLD = ("claude-3-5-sonnet-20240620", 200000)
    SONNET_3_5 = ("claude-3-5-sonnet-20241022", 200000)
    HAIKU_3_5 = ("claude-3-5-haiku-20241022", 200000)
    SONNET_3_7 = ("claude-3-7-sonnet-20250219", 200000)
    SONNET_4 = ("claude-sonnet-4-20250514", 200000)
    OPUS_4 = ("claude-opus-4-20250514", 200000)
    OPUS_4_1 = ("claude-opus-4-1-20250805", 200000)
    SONNET_4_5 = ("claude-sonnet-4-5-20250929", 200000)
    HAIKU_4_5 = ("claude-haiku-4-5-20251001", 200000)
    OPUS_4_5 = ("claude-opus-4-5-20251101", 200000)
    SONNET_4_6 = ("claude-sonnet-4-6", 200000)
    OPUS_4_6 = ("claude-opus-4-6", 200000)
    OPUS_4_7 = ("claude-opus-4-7", 200000)
    DEFAULT = ("claude-default", 200000)

    @property
    def model_id(self) -> str:
        return self.value[0]

    @property
    def token_limit(self) -> int:
        return int(self.value[1])

    @property
    def version(self) -> ClaudeVersion:
        """The parsed version; DEFAULT stands for the newest family (Opus 4.7)."""
        if self is ClaudeModel.DEFAULT:
            return ClaudeVersion("opus", 4, 7)
        parsed = parse_claude_id(self.model_id)
        assert parsed is not None, self.model_id
        return parsed

    @classmethod
    def from_model_id(cls, model_id: str) -> ClaudeModel:
        """The member for ``model_id``; unknown ids give DEFAULT with one warning per distinct id."""
        member = lookup_claude_model(model_id)
        if member is not None:
            return member
        with _warned_lock:
            first = model_id not in _warned_ids
            _warned_ids.add(model_id)
        if first:
            logger.warning("Unknown Claude model id %r; using %s", model_id, cls.DEFAULT.model_id)
        return cls.DEFAULT


_warned_ids: set[str] = set()
_warned_lock = threading.Lock()

_BEDROCK = re.compile(r"^(?:[a-z]{2,6}\.)?anthropic\.(?P<inner>.+?)(?:-v\d+(?::\d+)?)?$")
_SUFFIX = re.compile(r"(?:[-@]\d{8}|-latest)$")
_VERTEX_V2 = re.compile(r"^claude-3-5-sonnet-v2$")
# Family names are open-ended (opus, sonnet, haiku, and newer ones such as fable).
_OLD_STYLE = re.compile(r"^claude-(?P<major>\d+)(?:-(?P<minor>\d+))?-(?P<family>[a-z]+)$")
_NEW_STYLE = re.compile(r"^claude-(?P<family>[a-z]+)-(?P<major>\d+)(?:-(?P<minor>\d+))?$")


def _normalise(model_id: str) -> str:
    text = model_id.strip().lower()
    bedrock = _BEDROCK.match(text)
    if bedrock:
        text = bedrock.group("inner")
    return re.sub(r"(\d)\.(\d)", r"\1-\2", text)


def parse_claude_id(model_id: str) -> ClaudeVersion | None:
    """Parse a well-formed Claude id into family and version, or ``None``."""
    text = _SUFFIX.sub("", _normalise(model_id))
    if _VERTEX_V2.match(text):  # Vertex AI's name for the October 2024 3.5 Sonnet
        text = "claude-3-5-sonnet"
    match = _OLD_STYLE.match(text) or _NEW_STYLE.match(text)
    if match is None:
        return None
    minor = match.group("minor")
    return ClaudeVersion(match.group("family"), int(match.group("major")), int(minor) if minor else 0)


def _build_tables() -> tuple[dict[str, ClaudeModel], dict[ClaudeVersion, ClaudeModel]]:
    exact: dict[str, ClaudeModel] = {}
    by_version: dict[ClaudeVersion, ClaudeModel] = {}
    for member in ClaudeModel:
        exact[member.model_id] = member
        if member is ClaudeModel.DEFAULT:
            continue
        version = parse_claude_id(member.model_id)
        assert version is not None
        # A version id without a date means the newest snapshot (3.5 Sonnet: the October one).
        if member is not ClaudeModel.SONNET_3_5_OLD:
            by_version[version] = member
    return exact, by_version


_EXACT, _BY_VERSION = _build_tables()


def lookup_claude_model(model_id: str) -> ClaudeModel | None:
    """The table member for ``model_id`` (exact id first, then parsed version), else ``None``."""
    if not isinstance(model_id, str):
        return None
    normalised = _normalise(model_id)
    exact = _EXACT.get(normalised)
    if exact is not None:
        return exact
    without_vertex_at = normalised.replace("@", "-")
    exact = _EXACT.get(without_vertex_at)
    if exact is not None:
        return exact
    version = parse_claude_id(model_id)
    return _BY_VERSION.get(version) if version is not None else None
