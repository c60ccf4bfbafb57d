"""Fixed rule sets shared by the formatter tests (golden files depend on them: change them with care)."""

from __future__ import annotations

from datetime import UTC, datetime

from ctxbudget.rules import AuthorityLevel, MemoryCategory, MemoryRule

_A, _D = AuthorityLevel.ABSOLUTE, AuthorityLevel.DEFAULT
_PREF, _BEHAV, _AGENT = MemoryCategory.PREFERENCE, MemoryCategory.BEHAVIOR, MemoryCategory.AGENT


def _at(day: int, hour: int = 12) -> datetime:
    return datetime(2025, 3, day, hour, 0, 0, tzinfo=UTC)


def golden_rules() -> list[MemoryRule]:
    """Eight rules: 3 ABSOLUTE, 5 DEFAULT over all categories, with scopes, sources, conditions, priorities,
    a priority tie broken by ``created_at`` and a shortened rule."""
    return [
        MemoryRule("no-secrets", _BEHAV, "Never commit secrets",
                   "Do not commit API keys, tokens or passwords to the repository.", _A, [],
                   created_at=_at(1), priority=95),
        MemoryRule("tests-first", _BEHAV, "Run the tests",
                   "Run the full test suite before declaring a task done.", _A, ["python", "ci"],
                   source="team_policy", conditions={"condition": "when code changed"},
                   created_at=_at(2)),
        MemoryRule("agent-handoff", _AGENT, "Handoff notes",
                   "Leave a short summary of open work when a session ends.", _A, [],
                   source="user_explicit", created_at=_at(3), metadata={"priority": 70}),
        MemoryRule("uv", _PREF, "Use uv", "Prefer uv over pip for installing Python packages.", _D,
                   ["python"], source="conversation", created_at=_at(4), priority=80),
        MemoryRule("type-hints", _PREF, "Type hints", "Annotate every public function.", _D,
                   ["python", "src"], created_at=_at(5), priority=60),
        MemoryRule("small-commits", _BEHAV, "Small commits", "Keep commits small and focused on one change.", _D,
                   [], source="inferred", conditions={"condition": "unless asked to squash", "note": "x"},
                   created_at=_at(6), priority=60),
        MemoryRule("review-agent", _AGENT, "Reviewer agent",
                   "Ask the reviewer agent to check migrations before merging them into the main branch "
                   "and summarise its findings for the user.", _D, ["db"], created_at=_at(7),
                   metadata={"priority": 40, "shortened": True}),
        MemoryRule("docstrings", _PREF, "Docstrings", "Write one-line docstrings for modules.", _D, [],
                   conditions={"other": "ignored"}, created_at=_at(8)),
    ]
