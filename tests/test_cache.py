"""TokenCountCache: statistics that add up, LRU eviction, TTL expiry with a fake clock, threads."""

from __future__ import annotations

import random
import sys
import tracemalloc

import pytest

from conftest import hammer
from ctxbudget import CacheStatistics, TokenCountCache
from ctxbudget._speedups import COMPILED
from ctxbudget.cache.memory import SHORT_TEXT_CHARS, make_key


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_two_hits_two_misses_give_half() -> None:
    cache = TokenCountCache(maxsize=10, ttl=0)
    assert cache.get("a", "claude") is None
    assert cache.get("b", "claude") is None
    cache.set("a", "claude", 3)
    assert cache.get("a", "claude") == 3
    assert cache.get("a", "claude") == 3
    stats = cache.get_statistics()
    assert (stats.hits, stats.misses, stats.hit_rate, stats.size, stats.max_size) == (2, 2, 0.5, 1, 10)


def test_statistics_dataclass_defaults_and_rate() -> None:
    stats = CacheStatistics()
    stats.update_hit_rate()
    assert stats.to_dict() == {"hits": 0, "misses": 0, "hit_rate": 0.0, "size": 0, "max_size": 0,
                               "evictions": 0, "expirations": 0}
    stats = CacheStatistics(hits=3, misses=1)
    stats.update_hit_rate()
    assert stats.hit_rate == 0.75


@pytest.mark.guarantee(10)
def test_maxsize_two_evicts_least_recently_used() -> None:
    cache = TokenCountCache(maxsize=2, ttl=0)
    cache.set("a", "t", 1)
    cache.set("b", "t", 2)
    assert cache.get("a", "t") == 1  # a is now most recent; b is the LRU entry
    cache.set("c", "t", 3)
    stats = cache.get_statistics()
    assert stats.evictions == 1
    assert cache.get("b", "t") is None
    assert cache.get("a", "t") == 1
    assert cache.get("c", "t") == 3
    cache.set("c", "t", 4)  # updating a present key evicts nothing
    assert cache.get_statistics().evictions == 1


@pytest.mark.guarantee(9)
def test_fake_timer_expiry_is_miss_plus_expiration() -> None:
    clock = FakeClock()
    cache = TokenCountCache(maxsize=10, ttl=5.0, timer=clock)
    cache.set("a", "t", 7)
    clock.now += 4.999
    assert cache.get("a", "t") == 7
    clock.now += 0.001  # exactly ttl after the set
    assert cache.get("a", "t") is None
    stats = cache.get_statistics()
    assert (stats.hits, stats.misses, stats.expirations, stats.size) == (1, 1, 1, 0)


def test_ttl_counts_from_last_set() -> None:
    clock = FakeClock()
    cache = TokenCountCache(ttl=10.0, timer=clock)
    cache.set("a", "t", 1)
    clock.now += 8
    cache.set("a", "t", 1)
    clock.now += 8
    assert cache.get("a", "t") == 1


def test_statistics_purge_expired_entries_as_expirations() -> None:
    clock = FakeClock()
    cache = TokenCountCache(ttl=1.0, timer=clock)
    for i in range(5):
        cache.set(f"t{i}", "x", i)
    clock.now += 2
    stats = cache.get_statistics()
    assert (stats.size, stats.expirations, stats.misses) == (0, 5, 0)


def test_zero_or_negative_ttl_never_expires() -> None:
    clock = FakeClock()
    for ttl in (0, -1.0):
        cache = TokenCountCache(ttl=ttl, timer=clock)
        cache.set("a", "t", 1)
        clock.now += 1e9
        assert cache.get("a", "t") == 1


def test_constructor_and_set_validation() -> None:
    with pytest.raises(ValueError, match="maxsize"):
        TokenCountCache(maxsize=0)
    cache = TokenCountCache()
    for bad in (-1, 1.5, True, "3"):
        with pytest.raises(ValueError, match="count must be an int"):
            cache.set("a", "t", bad)  # type: ignore[arg-type]
    assert (cache.maxsize, cache.ttl) == (1000, 300.0)


def test_disable_keeps_counters_and_records_nothing() -> None:
    cache = TokenCountCache()
    cache.set("a", "t", 1)
    assert cache.get("a", "t") == 1
    assert cache.get("b", "t") is None
    cache.disable()
    assert cache.enabled is False
    assert cache.get("a", "t") is None
    cache.set("c", "t", 2)
    stats = cache.get_statistics()
    assert (stats.hits, stats.misses, stats.size) == (1, 1, 0)
    cache.enable()
    assert cache.get("a", "t") is None  # disable dropped the entries
    cache.clear()
    assert cache.get_statistics() == CacheStatistics(max_size=1000)


def test_keys_separate_tool_variant_and_text() -> None:
    cache = TokenCountCache()
    long_text = "x" * (SHORT_TEXT_CHARS + 10)
    cache.set("same", "claude", 1, variant="v1")
    cache.set("same", "claude", 2, variant="v2")
    cache.set("same", "codex", 3, variant="v1")
    cache.set(long_text, "claude", 4, variant="v1")
    cache.set(long_text, "claude", 5, variant="v2")
    assert cache.get("same", "claude", "v1") == 1
    assert cache.get("same", "claude", "v2") == 2
    assert cache.get("same", "codex", "v1") == 3
    assert cache.get(long_text, "claude", "v1") == 4
    assert cache.get(long_text, "claude", "v2") == 5
    assert cache.get(long_text + "y", "claude", "v1") is None


def test_long_texts_are_not_retained() -> None:
    text = "word " * 20_000
    _, key = make_key(text, "claude", "v")
    assert isinstance(key, int)
    cache = TokenCountCache()
    before = sys.getrefcount(text)
    cache.set(text, "claude", 20_000, variant="v")
    assert sys.getrefcount(text) == before
    short = "short text"
    before = sys.getrefcount(short)
    cache.set(short, "claude", 2, variant="v")
    # a short text is its key: held by its table and its entry (compiled), or by its (namespace, text) key
    assert sys.getrefcount(short) == before + (2 if COMPILED else 1)


def test_lone_surrogates_and_nul_are_keys() -> None:
    cache = TokenCountCache()
    texts = ["\ud800", "a\x00b", "\udfff" * 2000]
    for i, text in enumerate(texts):
        cache.set(text, "t", i)
    assert [cache.get(t, "t") for t in texts] == [0, 1, 2]


def test_memory_per_long_text_entry_is_bounded() -> None:
    """Everything an entry keeps (digest key, entry, table slot) stays under 150 B whatever the text size (under
    250 B in the pure-Python store, whose (namespace, key) tuple and ordered-dict node cost more)."""
    cache = TokenCountCache(maxsize=20_000, ttl=300.0)
    texts = [f"{i} " + "lorem ipsum " * 100 for i in range(5_000)]
    cache.set("warm up the namespace", "claude", 1, variant="v")
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    for text in texts:
        cache.set(text, "claude", 12345, variant="v")
    used = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    assert len(cache) == len(texts) + 1
    assert used / len(texts) < (150 if COMPILED else 250)


@pytest.mark.guarantee(10)
def test_eight_threads_tiny_ttl_statistics_add_up() -> None:
    cache = TokenCountCache(maxsize=64, ttl=0.001)
    gets_per_thread = 50_000
    texts = [f"text-{i}" for i in range(200)] + [f"long-{i}-" + "z" * 1100 for i in range(50)]
    expected = {t: len(t) for t in texts}

    def step(rng: random.Random) -> tuple[str, int] | None:
        text = rng.choice(texts)
        value = cache.get(text, "t")
        if value is None:
            cache.set(text, "t", expected[text])
        elif value != expected[text]:
            return text, value
        return None

    errors, wrong = hammer(step, gets_per_thread)
    stats = cache.get_statistics()
    assert errors == []
    assert wrong == []
    assert stats.hits + stats.misses == 8 * gets_per_thread
    assert stats.size <= 64


def test_bulk_lookup_and_store_keep_statistics_exact() -> None:
    clock = FakeClock()
    cache = TokenCountCache(maxsize=3, ttl=10.0, timer=clock)
    ns, _ = make_key("a", "t", "v")
    keys = ["a", "b", "c", "d", "e"]
    cache.store_many(ns, keys, [1, 2, 3, 4, 5])  # only the last three are inserted: no phantom evictions
    assert cache.lookup_many(ns, keys) == [None, None, 3, 4, 5]
    stats = cache.get_statistics()
    assert (stats.hits, stats.misses, stats.evictions, stats.size) == (3, 2, 0, 3)
    cache.store_many(ns, keys[:1], [9])  # a full cache: the LRU entry ("c") goes
    assert cache.get_statistics().evictions == 1
    assert cache.get("c", "t", "v") is None
    clock.now += 10
    assert cache.lookup_many(ns, keys[3:]) == [None, None]
    stats = cache.get_statistics()
    assert (stats.expirations, stats.size) == (3, 0)
    with pytest.raises(ValueError, match="count must be an int"):
        cache.store_many(ns, keys[:1], [-1])
    with pytest.raises(ValueError, match="differ in length"):
        cache.store_many(ns, keys[:2], [1])
