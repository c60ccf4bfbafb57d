"""The rule data model: MemoryRule, its enums, priority, ranking and cost text."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from enum import Enum
from typing import Any

from .._clock import as_utc

DEFAULT_PRIORITY = 50.0


class MemoryCategory(str, Enum):
    PREFERENCE = "preference"
    BEHAVIOR = "behavior"
    AGENT = "agent"


class AuthorityLevel(str, Enum):
    ABSOLUTE = "absolute"  # non-negotiable, protected from dropping
    DEFAULT = "default"  # follow unless overridden


def _check_priority(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{where} must be a real number between 0 and 100, got {value!r}")
    if not 0 <= value <= 100:
        raise ValueError(f"{where} must be between 0 and 100, got {value!r}")
    return float(value)


_FROZEN = "MemoryRule is frozen: build a changed copy with dataclasses.replace(rule, ...)"


class _FrozenList(list[Any]):
    """A list that refuses changes: a rule's scope feeds its cached cost text, so it must not change."""

    def _refuse(self, *_args: Any, **_kwargs: Any) -> Any:
        raise TypeError(_FROZEN)

    append = extend = insert = remove = pop = clear = sort = reverse = _refuse
    __setitem__ = __delitem__ = __iadd__ = __imul__ = _refuse

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (list(self),))


class _FrozenDict(dict[str, Any]):
    """A dict that refuses changes: ``metadata["priority"]`` feeds a rule's cached rank."""

    def _refuse(self, *_args: Any, **_kwargs: Any) -> Any:
        raise TypeError(_FROZEN)

    __setitem__ = __delitem__ = __ior__ = _refuse
    pop = popitem = clear = update = setdefault = _refuse

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (dict(self),))


@dataclasses.dataclass(frozen=True, eq=True)
class MemoryRule:
    """One memory rule. Frozen, including ``scope`` and ``metadata`` (their derived cost text and rank are
    computed once); equal by value; hashed by id (equal rules share an id)."""

    id: str
    category: MemoryCategory
    name: str
    rule: str
    authority: AuthorityLevel
    scope: list[str]
    source: str = "user_explicit"
    conditions: dict[str, Any] | None = None
    replaces: list[str] | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    metadata: dict[str, Any] | None = None
    priority: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not self.id.strip():
            raise ValueError(f"rule id must be a non-empty string, got {self.id!r}")
        if not isinstance(self.rule, str) or not self.rule.strip():
            raise ValueError(f"rule {self.id!r}: rule text must be a non-empty string")
        if not isinstance(self.name, str):
            raise ValueError(f"rule {self.id!r}: name must be a string, got {type(self.name).__name__}")
        set_ = object.__setattr__
        try:
            set_(self, "category", MemoryCategory(self.category))
        except ValueError:
            raise ValueError(f"rule {self.id!r}: unknown category {self.category!r}; "
                             f"use one of {[c.value for c in MemoryCategory]}") from None
        try:
            set_(self, "authority", AuthorityLevel(self.authority))
        except ValueError:
            raise ValueError(f"rule {self.id!r}: unknown authority {self.authority!r}; "
                             f"use one of {[a.value for a in AuthorityLevel]}") from None
        if isinstance(self.scope, str) or not isinstance(self.scope, Iterable):
            raise ValueError(f"rule {self.id!r}: scope must be a list of strings, got {self.scope!r}")
        set_(self, "scope", _FrozenList(str(s) for s in self.scope))
        if self.metadata is not None:
            set_(self, "metadata", _FrozenDict(self.metadata))
        created = as_utc(self.created_at) if self.created_at is not None else datetime.now(UTC)
        set_(self, "created_at", created)
        set_(self, "updated_at", as_utc(self.updated_at) if self.updated_at is not None else created)
        if self.priority is not None:
            set_(self, "priority", _check_priority(self.priority, f"rule {self.id!r}: priority"))
        if self.metadata is not None and "priority" in self.metadata:
            _check_priority(self.metadata["priority"], f"rule {self.id!r}: metadata.priority")
        # Derived once: allocation and ranking read them for every rule on every pass.
        set_(self, "_cost_text", _cost_text(self))
        set_(self, "_rank_base", (-rule_priority(self), -created.timestamp()))

    def __hash__(self) -> int:
        return hash(self.id)

    @property
    def is_absolute(self) -> bool:
        return self.authority is AuthorityLevel.ABSOLUTE

    def to_dict(self) -> dict[str, Any]:
        created, updated = self.created_at, self.updated_at
        return {
            "id": self.id, "category": self.category.value, "name": self.name, "rule": self.rule,
            "authority": self.authority.value, "scope": list(self.scope), "source": self.source,
            "conditions": dict(self.conditions) if self.conditions is not None else None,
            "replaces": list(self.replaces) if self.replaces is not None else None,
            "created_at": created.isoformat() if created else None,
            "updated_at": updated.isoformat() if updated else None,
            "metadata": dict(self.metadata) if self.metadata is not None else None,
            "priority": self.priority,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], position: int = 1) -> MemoryRule:
        """Build a rule from ``to_dict`` output or a rules file entry; missing id → ``rule_<position>``,
        missing name → the id. Unknown keys raise ``ValueError`` naming them."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown field(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        values = dict(data)
        values.setdefault("id", f"rule_{position}")
        if values.get("name") is None:
            values["name"] = values["id"]
        values.setdefault("scope", [])
        if values.get("scope") is None:
            values["scope"] = []
        for key in ("created_at", "updated_at"):
            if isinstance(values.get(key), str):
                try:
                    values[key] = datetime.fromisoformat(values[key])
                except ValueError:
                    raise ValueError(f"{key}: not an ISO datetime: {values[key]!r}") from None
        for key in ("category", "authority", "rule"):
            if key not in values:
                raise ValueError(f"missing required field {key!r}")
        return cls(**values)


def rule_priority(rule: MemoryRule) -> float:
    """``rule.priority``, else ``metadata["priority"]``, else 50."""
    if rule.priority is not None:
        return rule.priority
    if rule.metadata and "priority" in rule.metadata:
        return float(rule.metadata["priority"])
    return DEFAULT_PRIORITY


def ranking_key(rule: MemoryRule, position: int) -> tuple[float, float, int]:
    """Priority descending, ``created_at`` descending (newest first), input position ascending."""
    base: tuple[float, float] = rule._rank_base  # type: ignore[attr-defined]
    return (*base, position)


def ranked_positions(rules: Sequence[MemoryRule], positions: Iterable[int] | None = None) -> list[int]:
    """Positions of ``rules`` (or of the given subset) in ranking order."""
    order = list(range(len(rules)) if positions is None else positions)
    order.sort()
    # Stable sorts from the last key to the first, each on one float (C-level key lookups, no tuples).
    created = [rule._rank_base[1] for rule in rules]  # type: ignore[attr-defined]
    order.sort(key=created.__getitem__)
    priority = [rule._rank_base[0] for rule in rules]  # type: ignore[attr-defined]
    order.sort(key=priority.__getitem__)
    return order


def rule_cost_text(rule: MemoryRule) -> str:
    """The text a rule is costed by: rule + scope + source."""
    return rule._cost_text  # type: ignore[attr-defined, no-any-return]


def _cost_text(rule: MemoryRule) -> str:
    text = rule.rule
    if rule.scope:
        text += " " + " ".join(rule.scope)
    if rule.source:
        text += " source:" + rule.source
    return text
