"""The compiled hot path (``_core``) against its pure-Python reference (``_pycore``): the same answers, the same
statistics and the same errors for any sequence of operations, and the crashes found in review stay fixed.

The stateful test drives one store of each kind with the same operations (hypothesis picks them) and compares
every result. The crash reproducers run in a child process, so a segfault fails the test instead of the run.
"""

from __future__ import annotations

import collections
import datetime
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
                 st.sampled_from(["", "w" * 30, -3, 1.5, b"x", None, True, collections.OrderedDict(),
                                  datetime.date(2026, 1, 1)]))
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
        #: per store: how many more clock readings succeed before one raises (None: never)
        self.fail_after: list[int | None] = [None, None]

    def timer_for(self, i: int) -> Callable[[], float]:
        def timer() -> float:
            left = self.fail_after[i]
            if left is not None:
                self.fail_after[i] = None if left == 0 else left - 1
                if left == 0:
                    raise RuntimeError("the clock broke")
            return self.clock

        return timer

    @initialize(maxsize=st.integers(1, 5), ttl=st.sampled_from([0, 1, 1_000_000_000, 1_000_000_000, 3_000_000_000]),
                timed=st.booleans(), enabled=st.booleans())
    def build(self, maxsize: int, ttl: int, timed: bool, enabled: bool) -> None:
        if not timed and ttl:
            ttl = 10**18  # the real clock differs between two calls: only "never within this test" is comparable
        assert _compiled is not None
        self.stores = [impl.Store(maxsize, ttl, self.timer_for(i) if timed else None, enabled)
                       for i, impl in enumerate((_compiled, _pycore))]
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

    @rule(ns=NAMESPACES, text=st.sampled_from(["x", "y"]), after=st.integers(0, 1))
    def clock_breaks_during_a_count(self, ns: str, text: str, after: int) -> None:
        """An injected timer that raises on the first or the second reading of one count_route call."""
        self.fail_after = [after, after]
        self.count_route(ns, text)
        self.fail_after = [None, None]

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


BAD_ARGUMENTS: list[tuple[str, Callable[[ModuleType], object]]] = [
    ("Store(1.5, 0)", lambda m: m.Store(1.5, 0)),
    ("Store('3', 0)", lambda m: m.Store("3", 0)),
    ("Store(10**30, 0)", lambda m: m.Store(10**30, 0)),
    ("Store(10, 10**30)", lambda m: m.Store(10, 10**30)),
    ("Store(10, -1)", lambda m: m.Store(10, -1)),
    ("Store(0, 0)", lambda m: m.Store(0, 0)),
    ("Store(5, 0, 3)", lambda m: m.Store(5, 0, 3)),
    ("record(seconds='1.5')", lambda m: m.Recorder().record(1, 0, 0, "1.5", 1)),
    ("record(counts=2**64)", lambda m: m.Recorder().record(2**64, 0, 0, 1.0, 1)),
    ("record(batch_size=1.5)", lambda m: m.Recorder().record(1, 0, 0, 1.0, 1.5)),
    ("record(counts=1.0)", lambda m: m.Recorder().record(1.0, 0, 0, 1.0, 1)),
    ("record(hits > counts)", lambda m: m.Recorder().record(1, 1, 1, 0.0, 1)),
    ("timer returns str", lambda m: m.Store(3, 5, lambda: "1.0").lookup("a", "b")),
    ("timer returns object", lambda m: m.Store(3, 5, lambda: object()).lookup("a", "b")),
    ("count_route(cache=OrderedDict)",
     lambda m: m.count_route(("ns", None, len), "x", collections.OrderedDict(), m.Recorder())),
    ("count_route(count returns 2.5)", lambda m: m.count_route(("ns", None, lambda t: 2.5), "x", None, m.Recorder())),
    ("Facade(routes=[])", lambda m: m.Facade([], m.Recorder(), len)),
    ("Facade(recorder=None)", lambda m: m.Facade({}, None, len)),
    ("Facade(fallback=5)", lambda m: m.Facade({}, m.Recorder(), 5)),
]


@needs_compiled
@pytest.mark.parametrize(("name", "call"), BAD_ARGUMENTS, ids=[name for name, _call in BAD_ARGUMENTS])
def test_bad_arguments_are_refused_alike(name: str, call: Callable[[ModuleType], object]) -> None:
    """Review finding: the Python store raised AttributeError where the compiled one raised TypeError, accepted
    out-of-range ints, and named types differently."""
    assert _compiled is not None
    compiled, pure = (outcome(lambda m=m: call(m)) for m in (_compiled, _pycore))
    assert compiled[0] == "raised"
    assert compiled == tuple(str(part).replace("_pycore", "_core") for part in pure)


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


def test_a_signal_raising_mid_count_never_leaves_the_pure_lock_held() -> None:
    """Review finding: the pure path took its lock with acquire() before the try, so an exception raised by a
    signal handler right after acquire() (Ctrl-C in a loop) left it held and hung every later count."""
    done = _run("""
        import signal, threading, time
        from ctxbudget import TokenCounter, _pycore
        class Boom(Exception):
            pass
        armed = False
        def handler(*_args):
            if armed:
                raise Boom()
        TokenCounter.count_tokens("hello world", "codex")
        signal.signal(signal.SIGALRM, handler)
        signal.setitimer(signal.ITIMER_REAL, 0.0001, 0.00003)
        interrupted, start = 0, time.monotonic()
        while time.monotonic() - start < 3 and not _pycore._lock.locked():
            armed = True
            try:
                TokenCounter.count_tokens("hello world", "codex")
            except Boom:
                interrupted += 1
            armed = False
        signal.setitimer(signal.ITIMER_REAL, 0)
        worker = threading.Thread(target=lambda: TokenCounter.count_tokens("another", "codex"), daemon=True)
        worker.start()
        worker.join(5)
        print(interrupted > 0, _pycore._lock.locked(), worker.is_alive())
    """, pure=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "True False False\n"
