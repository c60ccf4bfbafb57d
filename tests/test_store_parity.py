"""The compiled hot path (``_core``) against its pure-Python reference (``_pycore``): the same answers, the same
statistics and the same errors for any sequence of operations, and the crashes found in review stay fixed.

The stateful test drives one store of each kind with the same operations (hypothesis picks them) and compares
every result. The crash reproducers run in a child process, so a segfault fails the test instead of the run.
"""

from __future__ import annotations

import importlib
import math
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from ctxbudget import _pycore

try:
    _compiled: ModuleType | None = importlib.import_module("ctxbudget._core")
except ImportError:  # an install without a compiler: only the reference exists
    _compiled = None

needs_compiled = pytest.mark.skipif(_compiled is None, reason="the compiled _core is not built here")

# few namespaces and keys, so that lookups meet what was stored; a bad argument now and then
NAMESPACES = st.sampled_from(["a", "a", "a", "b"])
KEYS = st.one_of(st.sampled_from(["x", "x", "y", "\ud800", 7, 1 << 129]),
                 st.sampled_from(["", "w" * 30, -3, 1.5, b"x", None, True]))
COUNTS = st.one_of(st.integers(0, 1000), st.integers(0, 1000),
                   st.sampled_from([-1, True, 2.0, (1 << 63) - 1, 1 << 63, "3"]))


def outcome(call: Callable[[], Any]) -> tuple[Any, ...]:
    """What a call did: its result, or the type and message of what it raised."""
    try:
        return ("ok", call())
    except Exception as exc:  # compared, not swallowed: both implementations must raise alike
        return ("raised", type(exc).__name__, str(exc))


@needs_compiled
class StoreParity(RuleBasedStateMachine):
    """Two stores, one compiled and one pure, fed the same operations under one fake clock."""

    def __init__(self) -> None:
        super().__init__()
        self.clock = 0.0
        self.stores: list[Any] = []
        self.recorders: list[Any] = []

    def timer(self) -> float:
        return self.clock

    @initialize(maxsize=st.integers(1, 5), ttl=st.sampled_from([0, 1, 1_000_000_000, 1_000_000_000, 3_000_000_000]),
                timed=st.booleans(), enabled=st.booleans())
    def build(self, maxsize: int, ttl: int, timed: bool, enabled: bool) -> None:
        if not timed and ttl:
            ttl = 10**18  # the real clock differs between two calls: only "never within this test" is comparable
        assert _compiled is not None
        timer = self.timer if timed else None
        self.stores = [impl.Store(maxsize, ttl, timer, enabled) for impl in (_compiled, _pycore)]
        self.recorders = [_compiled.Recorder(), _pycore.Recorder()]

    def both(self, call: Callable[[Any], Any]) -> tuple[Any, ...]:
        compiled, pure = (outcome(lambda s=s: call(s)) for s in self.stores)
        assert compiled == pure
        return compiled

    @rule(ns=NAMESPACES, key=KEYS)
    def lookup(self, ns: str, key: Any) -> None:
        self.both(lambda s: s.lookup(ns, key))

    @rule(ns=NAMESPACES, key=KEYS, count=COUNTS)
    def store(self, ns: str, key: Any, count: Any) -> None:
        self.both(lambda s: s.store(ns, key, count))

    @rule(ns=NAMESPACES, keys=st.lists(KEYS, max_size=8))
    def lookup_many(self, ns: str, keys: list[Any]) -> None:
        self.both(lambda s: s.lookup_many(ns, keys))

    @rule(ns=NAMESPACES, keys=st.lists(KEYS, max_size=8), counts=st.lists(COUNTS, max_size=8))
    def store_many(self, ns: str, keys: list[Any], counts: list[Any]) -> None:
        self.both(lambda s: s.store_many(ns, keys, counts))

    @rule(ns=NAMESPACES, text=st.sampled_from(["x", "y", "hello", ""]))
    def count_route(self, ns: str, text: str) -> None:
        entry = (ns, None, lambda t: len(t) + 1)
        results = [outcome(lambda i=i, impl=impl: impl.count_route(entry, text, self.stores[i], self.recorders[i]))
                   for i, impl in enumerate((_compiled, _pycore))]
        assert results[0] == results[1]
        totals = [r.totals() for r in self.recorders]
        assert [t[:3] + t[4:] for t in totals] == [totals[0][:3] + totals[0][4:]] * 2  # seconds differ

    @rule(op=st.sampled_from(["clear", "enable", "disable", "purge_expired", "__len__", "counters"]))
    def plain(self, op: str) -> None:
        self.both(lambda s: getattr(s, op)())

    # half seconds land exactly on deadlines (ttl 1 s, 3 s): the expiry boundary must agree too
    @rule(step=st.one_of(*[st.sampled_from([0.0, 0.5, 1.0])] * 4, st.floats(0, 3), st.just(1e-9)))
    def tick(self, step: float) -> None:
        self.clock += step

    @rule(bad=st.sampled_from([math.nan, math.inf, -math.inf, 3e9, -3e9]), ns=NAMESPACES, key=KEYS)
    def clock_out_of_range(self, bad: float, ns: str, key: Any) -> None:
        good, self.clock = self.clock, bad
        try:
            self.both(lambda s: s.lookup(ns, key))
            self.both(lambda s: s.store(ns, key, 1))
            self.both(lambda s: s.purge_expired())
        finally:
            self.clock = good

    @invariant()
    def same_state(self) -> None:
        if self.stores:
            assert self.stores[0].counters() == self.stores[1].counters()
            assert len(self.stores[0]) == len(self.stores[1])
            assert self.stores[0].enabled == self.stores[1].enabled


StoreParity.TestCase.settings = settings(max_examples=300, stateful_step_count=40, deadline=None)
test_compiled_store_behaves_like_the_pure_one = StoreParity.TestCase


def _run(code: str, *, pure: bool, debug_malloc: bool = False) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "CTXBUDGET_PURE"}
    if pure:
        env["CTXBUDGET_PURE"] = "1"
    if debug_malloc:
        env["PYTHONMALLOC"] = "debug"
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=env,
                          timeout=60)


@pytest.mark.parametrize("pure", [pytest.param(False, marks=needs_compiled), True], ids=["compiled", "pure"])
def test_a_timer_returning_a_fresh_out_of_range_float_raises_instead_of_crashing(pure: bool) -> None:
    """Review finding: the compiled store released the timer's float, then formatted it into the message."""
    done = _run("""
        from ctxbudget import TokenCountCache
        from ctxbudget._speedups import COMPILED
        cache = TokenCountCache(ttl=5, timer=lambda: float("1e300") * 1.5)  # a new float object on every call
        try:
            cache.get("x", "tool")
        except ValueError as exc:
            print(COMPILED, exc)
    """, pure=pure)
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"{not pure} cache timer returned 1.5e+300 seconds; expected a finite value within +-2e9\n"


@pytest.mark.parametrize("pure", [pytest.param(False, marks=needs_compiled), True], ids=["compiled", "pure"])
def test_clearing_whatever_the_gc_can_reach_cannot_break_the_store(pure: bool) -> None:
    """Review finding: the compiled store's tables were reachable through gc.get_objects(); clearing them and
    then evicting crashed under PYTHONMALLOC=debug."""
    done = _run("""
        import gc
        from ctxbudget import TokenCountCache
        cache = TokenCountCache(maxsize=2)
        cache.set("a", "t", 1)
        cache.set("b", "t", 2)
        cleared = 0
        for obj in gc.get_objects():
            if isinstance(obj, dict) and any(isinstance(v, dict) for v in obj.values()):
                for inner in [v for v in obj.values() if isinstance(v, dict)]:
                    if any(type(x).__name__ == "_Entry" for x in inner.values()):
                        inner.clear()
                        obj.clear()
                        cleared += 1
        cache.set("c", "t", 3)
        cache.set("d", "t", 4)  # evicts
        print(cleared, cache.get("d", "t"), len(cache))
    """, pure=pure, debug_malloc=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "0 4 2\n"


def test_pure_mode_is_what_the_environment_asks_for() -> None:
    done = _run("import ctxbudget._speedups as s; print(s.COMPILED, s.Store.__module__)", pure=True)
    assert done.stdout == "False ctxbudget._pycore\n"
    if _compiled is not None:
        done = _run("import ctxbudget._speedups as s; print(s.COMPILED, s.Store.__module__)", pure=False)
        assert done.stdout == "True ctxbudget._core\n"


def test_a_cache_cannot_be_pickled_or_copied_in_either_implementation() -> None:
    import copy
    import pickle

    from ctxbudget import TokenCountCache

    cache = TokenCountCache(maxsize=5, ttl=10.0)
    with pytest.raises(TypeError, match="cannot pickle 'TokenCountCache' object"):
        copy.copy(cache)
    with pytest.raises(TypeError, match="cannot pickle"):
        pickle.dumps(cache)
