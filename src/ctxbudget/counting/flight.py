"""Single flight: concurrent misses of one key run one tokenisation; the other threads wait for its result.

ctok reconstructs ~0.25 MiB/s (about 4 ms per KiB), so a duplicate count is worth avoiding; tiktoken is
fast enough that waiting would not pay, and is called directly.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable


class _Flight:
    """One tokenisation in progress."""

    __slots__ = ("done", "error", "value", "waiters")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.value = 0
        self.error: BaseException | None = None
        self.waiters = 0


_flights: dict[Hashable, _Flight] = {}
_flights_lock = threading.Lock()


def single_flight(slot: Hashable, count: Callable[[str], int], text: str) -> int:
    """``count(text)``, run once for concurrent callers passing the same ``slot`` (namespace and key)."""
    with _flights_lock:
        flight = _flights.get(slot)
        leader = flight is None
        if flight is None:
            flight = _flights[slot] = _Flight()
        else:
            flight.waiters += 1
    if not leader:
        flight.done.wait()
        if flight.error is not None:
            raise flight.error
        return flight.value
    try:
        flight.value = count(text)
        return flight.value
    except BaseException as exc:
        flight.error = exc
        raise
    finally:
        with _flights_lock:
            del _flights[slot]
        flight.done.set()


def text_flight(namespace: str, count: Callable[[str], int], text: str) -> int:
    """``single_flight`` keyed by the text itself (short texts); bound with ``functools.partial``."""
    return single_flight((namespace, text), count, text)
