"""Selection of DEFAULT rules within a token allowance: priority, round-robin, equal share.

All functions work on input positions and costs (bookkeeping by position, never by rule equality) and
return the selected positions in selection order. Each is O(n log n): one ranking sort, then linear passes.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from enum import Enum


class AllocationStrategy(str, Enum):
    PRIORITY_BASED = "priority"
    ROUND_ROBIN = "round_robin"
    EQUAL = "equal"


def fill(order: Sequence[int], costs: Sequence[int], allowance: int, taken: set[int]) -> tuple[list[int], int]:
    """Skip-and-continue: take each position in ``order`` (not yet taken) whose cost fits what is left."""
    chosen: list[int] = []
    left = allowance
    for i in order:
        if i in taken:
            continue
        if costs[i] <= left:
            chosen.append(i)
            taken.add(i)
            left -= costs[i]
    return chosen, allowance - left


def select_priority(ranked: Sequence[int], costs: Sequence[int], remaining: int) -> list[int]:
    return fill(ranked, costs, remaining, set())[0]


def select_round_robin(
    ranked: Sequence[int], categories: Sequence[Hashable], costs: Sequence[int], remaining: int
) -> list[int]:
    """Each category (by first appearance in input order) gets ``remaining // n`` filled in ranking order;
    then whatever is unused goes to the unselected rules in ranking order."""
    by_category: dict[Hashable, list[int]] = {}
    for i in sorted(ranked):
        by_category.setdefault(categories[i], [])
    for i in ranked:
        by_category[categories[i]].append(i)
    if not by_category:
        return []
    share = remaining // len(by_category)
    taken: set[int] = set()
    selected: list[int] = []
    used = 0
    for members in by_category.values():
        chosen, spent = fill(members, costs, share, taken)
        selected += chosen
        used += spent
    selected += fill(ranked, costs, remaining - used, taken)[0]
    return selected


def select_equal(ranked: Sequence[int], costs: Sequence[int], remaining: int) -> list[int]:
    """Pass 1 (input order): rules costing at most ``remaining // n``; pass 2: leftovers in ranking order."""
    if not ranked:
        return []
    share = remaining // len(ranked)
    taken: set[int] = set()
    first = [i for i in sorted(ranked) if costs[i] <= share]
    taken.update(first)
    used = sum(costs[i] for i in first)
    return first + fill(ranked, costs, remaining - used, taken)[0]
