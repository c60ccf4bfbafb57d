"""Counts that survive the process: the SQLite tier, the Redis tier (a real server per test), the tiered
stack, the persistent backend under a Counter, the process-wide configuration and the CLI's cache."""

from __future__ import annotations

import logging
import os
import shutil
import socket
import sqlite3
import stat
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ctxbudget import Counter, TokenCounter
from ctxbudget.cache.sqlite_tier import SQLiteTier
from ctxbudget.cache.tiers import MemoryTier, TieredCache, count_key, parse_cache_spec
from ctxbudget.counting import persistent
from ctxbudget.counting.persistent import PersistentBackend, warm
from ctxbudget.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent
WORDS = "the quick brown fox jumps over lazy dog tokens budget claude memory rules café данные 数据".split()


def texts(n: int, seed: int = 0, words: int = 6) -> list[str]:
    import random

    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(words)) + f" #{i}" for i in range(n)]


@pytest.fixture(autouse=True)
def _no_process_store() -> Iterator[None]:
    persistent.configure(None)
    yield
    persistent.configure(None)


# --- SQLite ---------------------------------------------------------------------------------------------

@pytest.mark.guarantee(57)
def test_sqlite_tier_round_trip_holds_no_text_and_is_private(tmp_path: Path) -> None:
    path = tmp_path / "cache" / "nested" / "counts.sqlite3"
    tier = SQLiteTier(path)
    sample = "a very particular sentence that must never be stored 12345"
    counter = Counter.for_model("claude", None, store=tier)
    n = counter.count(sample)
    assert n == Counter.for_model("claude", None, store=None).count(sample)
    assert tier.get_many([count_key(f"{counter.backend.tokenizer_id}|tok", sample)]) == {
        count_key(f"{counter.backend.tokenizer_id}|tok", sample): n}
    tier.close()
    raw = b"".join(p.read_bytes() for p in path.parent.iterdir())
    assert sample.encode() not in raw and b"particular" not in raw
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "cache").stat().st_mode) == 0o700


@pytest.mark.guarantee(58)
@pytest.mark.parametrize("content", [b"not a database " * 200, None])
def test_a_corrupt_or_foreign_file_is_moved_aside_and_counting_goes_on(
    tmp_path: Path, content: bytes | None, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "counts.sqlite3"
    if content is None:  # someone else's database
        with sqlite3.connect(path) as db:
            db.execute("CREATE TABLE orders (id INTEGER)")
    else:
        path.write_bytes(content)
    with caplog.at_level(logging.WARNING):
        tier = SQLiteTier(path)
    assert "moved aside" in caplog.text
    assert [p.name for p in tmp_path.iterdir() if ".corrupt-" in p.name]
    counter = Counter.for_model("claude", None, store=tier)
    assert counter.count_batch(["one text", "two texts"]) == Counter.for_model("claude", None, store=None).count_batch(
        ["one text", "two texts"])
    assert tier.stats()["entries"] == 2 and tier.integrity() == "ok"


def test_a_batch_is_one_query_and_eviction_keeps_the_bound(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ctxbudget.cache import sqlite_tier

    monkeypatch.setattr(sqlite_tier, "EVICT_EVERY", 500)
    tier = SQLiteTier(tmp_path / "c.sqlite3", max_entries=1000)
    statements: list[str] = []
    with tier._db() as db:  # the pool's one idle connection: the next operations borrow it
        db.set_trace_callback(statements.append)
    keys = [count_key("ns", t) for t in texts(500)]
    tier.get_many(keys)
    tier.set_many(dict.fromkeys(keys, 7))
    batch_statements = [s for s in statements if "json_each" in s]  # (and one check of the size bound)
    assert len(batch_statements) == 2 and batch_statements[0].startswith("SELECT")
    for n in range(6):
        tier.set_many({count_key("ns", f"more {n} {i}"): i for i in range(500)})
    assert tier.stats()["entries"] <= 1100


WORKER = textwrap.dedent("""
    import sys, random
    from ctxbudget import Counter
    from ctxbudget.cache.sqlite_tier import SQLiteTier
    path, seed = sys.argv[1], int(sys.argv[2])
    rng = random.Random(seed)
    words = "alpha beta gamma delta tokens budget rules memory café".split()
    pool = [" ".join(random.Random(i).choice(words) for _ in range(4)) + f" {i}" for i in range(4000)]
    counter = Counter.for_model("claude", None, store=SQLiteTier(path))
    out = []
    for _ in range(10_000):
        text = pool[rng.randrange(len(pool))]
        out.append(f"{pool.index(text)}\\t{counter.count(text)}")
    sys.stdout.write("\\n".join(out))
""")


@pytest.mark.guarantee(58)
def test_four_processes_share_one_file_without_errors(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite3"
    SQLiteTier(path).close()
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, str(path), str(seed)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for seed in range(4)]
    results = [p.communicate(timeout=600) for p in procs]
    for proc, (_, err) in zip(procs, results, strict=True):
        assert proc.returncode == 0, err
        assert "locked" not in err and "warning" not in err.lower()
    seen = {}
    for out, _ in results:
        for line in out.splitlines():
            index, n = line.split("\t")
            seen.setdefault(int(index), set()).add(int(n))
    direct = Counter.for_model("claude", None, store=None)
    words = "alpha beta gamma delta tokens budget rules memory café".split()
    import random
    pool = [" ".join(random.Random(i).choice(words) for _ in range(4)) + f" {i}" for i in range(4000)]
    assert all(found == {direct.count(pool[i])} for i, found in seen.items())
    tier = SQLiteTier(path)
    assert tier.integrity() == "ok"
    assert tier.stats()["entries"] == len(seen)


def test_a_new_process_reads_what_the_last_one_counted(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite3"
    script = textwrap.dedent(f"""
        import time
        from ctxbudget import TokenCounter
        from ctxbudget.counting import persistent
        texts = {texts(300)!r}
        start = time.perf_counter()
        counts = TokenCounter.batch_count_tokens(texts, "claude")
        store = persistent.current().tiers[0]
        print(sum(counts), store.hits, store.misses)
    """)
    env = {**os.environ, "CTXBUDGET_CACHE": f"sqlite:{path}"}
    first = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    second = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    total, hits, misses = map(int, first.stdout.split())
    assert (hits, misses) == (0, 300)
    assert second.stdout.split() == [str(total), "300", "0"]
    assert total == sum(TokenCounter.batch_count_tokens(texts(300), "claude", use_cache=False))


# --- the stack and the backend -------------------------------------------------------------------------------

def test_tiers_promote_hits_and_write_through(tmp_path: Path) -> None:
    top, bottom = MemoryTier(), SQLiteTier(tmp_path / "c.sqlite3")
    stack = TieredCache([top, bottom])
    bottom.set_many({"k1": 1, "k2": 2})
    assert stack.get_many(["k1", "k2", "k3"]) == {"k1": 1, "k2": 2}
    assert top.get_many(["k1", "k2"]) == {"k1": 1, "k2": 2}  # promoted
    stack.set_many({"k3": 3})
    assert bottom.get_many(["k3"]) == {"k3": 3} and top.get_many(["k3"]) == {"k3": 3}
    assert [s["tier"] for s in stack.stats()["tiers"]] == ["memory", "sqlite"]


@pytest.mark.guarantee(57)
def test_a_new_tokenizer_version_never_reads_an_old_count(tmp_path: Path) -> None:
    tier = SQLiteTier(tmp_path / "c.sqlite3")
    backend = Counter.for_model("claude", None, store=None).backend
    wrapped = PersistentBackend(backend, tier)
    wrapped.count("hello there")
    assert all(k.startswith(backend.tokenizer_id + "|tok:") for k in _keys(tier))
    other = Counter.for_model("claude-3-opus-20240229", None, store=None).backend
    assert other.tokenizer_id != backend.tokenizer_id
    assert PersistentBackend(other, tier).count("hello there") == other.count("hello there")
    assert len(_keys(tier)) == 2


def _keys(tier: SQLiteTier) -> list[str]:
    with tier._db() as db:
        return [row[0] for row in db.execute("SELECT key FROM counts")]


def test_native_speed_tokenizers_skip_the_tiers_for_short_texts(tmp_path: Path) -> None:
    tier = SQLiteTier(tmp_path / "c.sqlite3")
    counter = Counter.for_model("gpt-4o", None, store=tier)
    counter.count_batch(["short one", "short two"])
    assert tier.stats()["entries"] == 0
    long_text = "word " * 2000
    assert counter.count(long_text) == Counter.for_model("gpt-4o", None, store=None).count(long_text)
    assert tier.stats()["entries"] == 1


def test_the_process_store_follows_configure_and_provenance_is_unchanged(tmp_path: Path) -> None:
    before = Counter.for_model("claude").provenance()
    persistent.configure(f"sqlite:{tmp_path / 'c.sqlite3'}")
    counter = Counter.for_model("claude")
    assert isinstance(counter.backend, PersistentBackend)
    assert counter.provenance() == before
    TokenCounter.clear_cache()
    assert TokenCounter.count_tokens("through the tier", "claude") > 0
    store = persistent.current()
    assert store is not None and store.stats()["tiers"][0]["entries"] == 1
    persistent.configure(None)
    assert not isinstance(Counter.for_model("claude").backend, PersistentBackend)


def test_cache_specs() -> None:
    assert parse_cache_spec("memory") is None
    with pytest.raises(ConfigError, match=r"CTXBUDGET_CACHE: unknown cache tier 'mysql'"):
        parse_cache_spec("mysql")
    with pytest.raises(ConfigError, match="empty cache spec"):
        parse_cache_spec(" , ")
    with pytest.raises(ConfigError, match="unknown redis cache option 'database'"):
        parse_cache_spec("redis://127.0.0.1:1/0?database=2")


def test_warm_counts_once_on_both_cores_and_later_counts_hit(tmp_path: Path) -> None:
    tier = SQLiteTier(tmp_path / "c.sqlite3")
    batch = texts(400, seed=3)
    assert warm(batch, "claude", tier, processes=2) == {"texts": 400, "already": 0, "counted": 400}
    assert warm(batch, "claude", tier) == {"texts": 400, "already": 400, "counted": 0}
    before = tier.hits
    counts = Counter.for_model("claude", None, store=tier).count_batch(batch)
    assert tier.hits - before == 400
    assert counts == Counter.for_model("claude", None, store=None).count_batch(batch)


# --- Redis, against real servers -------------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisServer:
    def __init__(self, port: int | None = None) -> None:
        self.port = port or _free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> RedisServer:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.skip("redis-server is not installed (scripts/bootstrap.sh installs it)")
        self.proc = subprocess.Popen([binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer().start()
    yield server
    server.stop()


def test_two_processes_share_hits_through_redis(redis_server: RedisServer) -> None:
    script = textwrap.dedent(f"""
        from ctxbudget import Counter
        from ctxbudget.cache.redis_tier import RedisTier
        tier = RedisTier({redis_server.url!r}, prefix="t:")
        counts = Counter.for_model("claude", None, store=tier).count_batch({texts(200)!r})
        print(sum(counts), tier.hits, tier.misses)
    """)
    first = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    second = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    total = first.stdout.split()[0]
    assert first.stdout.split()[1:] == ["0", "200"]
    assert second.stdout.split() == [total, "200", "0"]


@pytest.mark.guarantee(59)
def test_a_killed_server_degrades_loudly_once_and_hits_resume_after_restart(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    from ctxbudget.cache.redis_tier import RedisTier

    tier = RedisTier(redis_server.url, prefix="k:", retry_seconds=0.2)
    counter = Counter.for_model("claude", None, store=tier)
    direct = Counter.for_model("claude", None, store=None)
    batch = texts(50, seed=9)
    expected = direct.count_batch(batch)
    assert counter.count_batch(batch) == expected
    redis_server.stop()
    with caplog.at_level(logging.WARNING):
        for n in range(5):
            assert counter.count_batch(batch[n:]) == expected[n:]  # counted locally, still right
    assert caplog.text.count("unavailable") == 1
    redis_server.start()  # same port, empty: what is counted now is written again
    time.sleep(0.25)
    assert counter.count_batch(batch) == expected
    assert "is back" in caplog.text
    hits = tier.hits
    assert counter.count_batch(batch) == expected and tier.hits - hits == 50


@pytest.mark.guarantee(59)
def test_a_stalled_server_does_not_stall_counting() -> None:
    from ctxbudget.cache.redis_tier import RedisTier

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:  # takes connections and requests, answers nothing
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        port = listener.getsockname()[1]
        tier = RedisTier(f"redis://127.0.0.1:{port}/0", timeout=0.1, retry_seconds=60)
        counter = Counter.for_model("gpt-4o", None, store=tier)
        long_texts = [("stall " * 1000) + str(i) for i in range(20)]
        start = time.perf_counter()
        counts = [counter.count(t) for t in long_texts]
        elapsed = time.perf_counter() - start
        assert counts == Counter.for_model("gpt-4o", None, store=None).count_batch(long_texts)
        assert elapsed < 2.0  # one timeout, then the tier is skipped until its retry time
        assert tier.down and tier.failures == 1
    finally:
        stop.set()
        thread.join()
        for conn in accepted:
            conn.close()
        listener.close()


# --- the CLI -------------------------------------------------------------------------------------------------

def test_a_second_count_is_served_from_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    from ctxbudget.cli.main import main
    from ctxbudget.tokenizers.claude import ClaudeBackend

    tree = tmp_path / "repo"
    shutil.copytree(ROOT / "examples", tree)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("CTXBUDGET_CACHE", raising=False)
    calls: list[int] = []  # texts the real tokenizer was given (the spies call through to it)
    real_one, real_batch = ClaudeBackend.count, ClaudeBackend.count_batch

    def spy_one(self: ClaudeBackend, text: str) -> int:
        calls.append(1)
        return real_one(self, text)

    def spy_batch(self: ClaudeBackend, batch: list[str]) -> list[int]:
        calls.append(len(batch))
        return real_batch(self, batch)

    monkeypatch.setattr(ClaudeBackend, "count", spy_one)
    monkeypatch.setattr(ClaudeBackend, "count_batch", spy_batch)
    assert main(["count", str(tree), "-m", "claude", "--json"]) == 0
    first = capsys.readouterr().out
    assert sum(calls) > 0
    calls.clear()
    TokenCounter.clear_cache()
    assert main(["count", str(tree), "-m", "claude", "--json"]) == 0
    assert capsys.readouterr().out == first
    assert sum(calls) == 0  # nothing tokenised: every file came from the SQLite file
    assert (tmp_path / "xdg" / "ctxbudget" / "counts.sqlite3").is_file()
    TokenCounter.clear_cache()
    assert main(["count", str(tree), "-m", "claude", "--no-cache", "--json"]) == 0
    assert sum(calls) > 0


def test_cache_stats_clear_and_warm(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from ctxbudget.cli.main import main

    spec = f"sqlite:{tmp_path / 'c.sqlite3'}"
    assert main(["cache", "warm", str(ROOT / "examples" / "instructions"), "-m", "claude", "--cache", spec]) == 0
    assert capsys.readouterr().out == "claude: 3 counted, 0 already cached (3 texts)\n"
    assert main(["cache", "stats", "--cache", spec, "--json"]) == 0
    assert '"entries": 3' in capsys.readouterr().out
    assert main(["cache", "clear", "--cache", spec]) == 0
    capsys.readouterr()
    assert main(["cache", "stats", "--cache", spec, "--json"]) == 0
    assert '"entries": 0' in capsys.readouterr().out
    assert main(["cache", "stats", "--cache", "mysql"]) == 2
    assert "unknown cache tier 'mysql'" in capsys.readouterr().err


def test_the_config_file_can_name_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    from ctxbudget.cli.main import main

    config = tmp_path / "ctxbudget.yaml"
    config.write_text(f"cache: sqlite:{tmp_path / 'from-config.sqlite3'}\n"
                      "token_budgets:\n  global: {default: 50000}\n", encoding="utf-8")
    monkeypatch.delenv("CTXBUDGET_CACHE", raising=False)
    assert main(["check", str(ROOT / "examples" / "instructions"), "--config", str(config), "--json"]) == 0
    assert (tmp_path / "from-config.sqlite3").is_file()


def as_in_a_fresh_process() -> None:
    """The process-wide store not chosen yet (``CTXBUDGET_CACHE`` is read again), no route resolved."""
    from ctxbudget.counting.routes import invalidate_routes

    persistent._store = persistent._UNSET
    invalidate_routes()


def test_a_wrong_environment_spec_warns_and_counts_with_memory_alone(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    monkeypatch.setenv("CTXBUDGET_CACHE", "mysql://nowhere")
    as_in_a_fresh_process()
    with caplog.at_level(logging.WARNING):
        assert TokenCounter.count_tokens("still counted", "claude") > 0
    assert "CTXBUDGET_CACHE='mysql://nowhere' not used" in caplog.text
    assert persistent.current() is None
    not_a_dir = tmp_path / "a-file"  # where the cache directory should be: fails for root too
    not_a_dir.write_text("x", encoding="utf-8")
    monkeypatch.setenv("CTXBUDGET_CACHE", f"sqlite:{not_a_dir / 'c.sqlite3'}")
    as_in_a_fresh_process()
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        assert Counter.for_model("claude").count("still counted") > 0
    assert "not used" in caplog.text and persistent.current() is None


# --- what a review found ---------------------------------------------------------------------------------------

def test_only_damage_moves_a_file_aside() -> None:
    from ctxbudget.cache.sqlite_tier import ForeignFile, NewerFormat, _damaged

    def coded(cls: type[sqlite3.Error], code: int) -> sqlite3.Error:
        exc = cls("x")
        exc.sqlite_errorcode = code  # type: ignore[attr-defined]
        return exc

    assert _damaged(coded(sqlite3.DatabaseError, sqlite3.SQLITE_NOTADB))
    assert _damaged(coded(sqlite3.DatabaseError, sqlite3.SQLITE_CORRUPT))
    assert _damaged(ForeignFile("tables"))
    assert not _damaged(coded(sqlite3.OperationalError, sqlite3.SQLITE_READONLY))
    assert not _damaged(coded(sqlite3.OperationalError, sqlite3.SQLITE_BUSY))
    assert not _damaged(NewerFormat("9"))


def test_a_newer_format_is_left_alone_and_not_used(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite3"
    SQLiteTier(path).close()
    with sqlite3.connect(path) as db:
        db.execute("UPDATE ctxbudget_meta SET value = '9' WHERE name = 'format'")
    with pytest.raises(sqlite3.DatabaseError, match="format 9"):
        SQLiteTier(path)
    assert path.exists() and not [p for p in tmp_path.iterdir() if ".corrupt-" in p.name]


def test_damage_found_while_counting_is_recovered_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "c.sqlite3"
    tier = SQLiteTier(path)
    tier.set_many({count_key("ns", t): 1 for t in texts(3000)})
    tier.close()
    data = bytearray(path.read_bytes())
    data[4096:4096 * 4] = b"\xff" * (4096 * 3)  # pages of the table, not the header
    path.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING):
        keys = [count_key("ns", t) for t in texts(3000)]
        tier.get_many(keys)
        tier.set_many({"ns:after": 5})
        assert tier.get_many(["ns:after"]) == {"ns:after": 5}
    assert "moved aside" in caplog.text and tier.integrity() == "ok"


def test_threads_borrow_from_a_small_pool(tmp_path: Path) -> None:
    from ctxbudget.cache.sqlite_tier import POOL_SIZE

    tier = SQLiteTier(tmp_path / "c.sqlite3")
    before = len(os.listdir("/proc/self/fd"))
    threads = [threading.Thread(target=tier.get_many, args=(["ns:k"],)) for _ in range(300)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert tier._idle.qsize() <= POOL_SIZE
    assert len(os.listdir("/proc/self/fd")) - before <= 3 * POOL_SIZE


def test_counter_takes_a_store_and_the_hot_path_keeps_its_encoder(tmp_path: Path) -> None:
    tier = SQLiteTier(tmp_path / "c.sqlite3")
    backend = Counter.for_model("claude", None, store=None).backend
    counter = Counter(backend, None, store=tier)
    assert counter.count("through the store") == backend.count("through the store")
    assert tier.stats()["entries"] == 1
    fast = Counter.for_model("gpt-4o", None, store=None).backend
    wrapped = PersistentBackend(fast, tier)
    assert getattr(wrapped, "core_encode", None) is getattr(fast, "core_encode", None)
    assert wrapped.async_chunk_chars == fast.async_chunk_chars  # read live: it grows once accelerated
    assert getattr(PersistentBackend(backend, tier), "async_chunk_chars", "none") == "none"


def test_redis_answers_that_are_not_counts_are_misses(redis_server: RedisServer) -> None:
    import redis

    from ctxbudget.cache.redis_tier import RedisTier

    tier = RedisTier(redis_server.url, prefix="p:")
    client = redis.Redis.from_url(redis_server.url)
    client.set("p:ns:bad", "x")
    client.set("p:ns:negative", "-3")
    client.set("p:ns:good", "7")
    assert tier.get_many(["ns:bad", "ns:negative", "ns:good"]) == {"ns:good": 7}


def test_a_server_speaking_nonsense_fails_open(caplog: pytest.LogCaptureFixture) -> None:
    from ctxbudget.cache.redis_tier import RedisTier

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            conn.settimeout(0.5)
            with conn:
                try:
                    while conn.recv(65536):
                        conn.sendall(b"+OK\r\n")
                except OSError:
                    pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        tier = RedisTier(f"redis://127.0.0.1:{listener.getsockname()[1]}/0", timeout=0.2)
        counter = Counter.for_model("claude", None, store=tier)
        with caplog.at_level(logging.WARNING):
            assert counter.count_batch(["a b c", "d e f"]) == Counter.for_model("claude", None, store=None).count_batch(
                ["a b c", "d e f"])
        assert caplog.text.count("unavailable") == 1
    finally:
        stop.set()
        thread.join()
        listener.close()


def test_passwords_never_show(redis_server: RedisServer, caplog: pytest.LogCaptureFixture,
                              capsys: pytest.CaptureFixture[str]) -> None:
    from ctxbudget.cache.redis_tier import RedisTier, display_url
    from ctxbudget.cli.main import main

    assert display_url("redis://user:s3cret@host:6379/0") == "redis://user:***@host:6379/0"
    tier = RedisTier(f"redis://:s3cret@127.0.0.1:{_free_port()}/0", timeout=0.05)
    with caplog.at_level(logging.WARNING):
        tier.get_many(["ns:x"])
    assert "s3cret" not in caplog.text and "s3cret" not in str(tier.stats())
    assert main(["cache", "stats", "--cache", f"redis://:s3cret@127.0.0.1:{redis_server.port}/0", "--json"]) == 0
    assert "s3cret" not in capsys.readouterr().out


def test_large_batches_go_in_chunks_within_the_timeout(redis_server: RedisServer) -> None:
    from ctxbudget.cache.redis_tier import RedisTier

    tier = RedisTier(redis_server.url, prefix="big:", timeout=0.5)
    counts = {count_key("ns", f"t{i}"): i for i in range(30_000)}
    tier.set_many(counts)
    assert tier.get_many(list(counts)) == counts and not tier.down


def test_clear_deletes_only_its_own_prefix(redis_server: RedisServer) -> None:
    import redis

    from ctxbudget.cache.redis_tier import RedisTier

    client = redis.Redis.from_url(redis_server.url)
    client.set("teamA:important", "1")
    tier = RedisTier(redis_server.url, prefix="team*:")
    tier.set_many({"ns:k": 1})
    tier.clear()
    assert client.get("teamA:important") == b"1" and tier.get_many(["ns:k"]) == {}


def test_a_wrong_environment_spec_in_the_cli_warns_and_counts(monkeypatch: pytest.MonkeyPatch,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    from ctxbudget.cli.main import main

    monkeypatch.setenv("CTXBUDGET_CACHE", "bogus")
    assert main(["count", str(ROOT / "examples" / "instructions" / "AGENTS.md"), "-m", "gpt-4o"]) == 0
    err = capsys.readouterr().err
    assert "CTXBUDGET_CACHE: unknown cache tier 'bogus'" in err and "warning" in err
    assert main(["count", str(ROOT / "examples" / "instructions" / "AGENTS.md"), "--cache", "bogus"]) == 2


def test_the_library_reads_the_config_files_cache_key_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    from ctxbudget.config import BudgetConfigManager

    project = tmp_path / "project"
    (project / "sub").mkdir(parents=True)
    (project / "pyproject.toml").write_text(f'[tool.ctxbudget]\ncache = "sqlite:{tmp_path / "py.sqlite3"}"\n',
                                            encoding="utf-8")
    monkeypatch.chdir(project / "sub")
    as_in_a_fresh_process()
    assert isinstance(Counter.for_model("claude").backend, PersistentBackend)
    assert (tmp_path / "py.sqlite3").is_file()
    (project / "ctxbudget.yaml").write_text(f"cache: sqlite:{tmp_path / 'yaml.sqlite3'}\n", encoding="utf-8")
    as_in_a_fresh_process()
    Counter.for_model("claude").count("x")
    assert (tmp_path / "yaml.sqlite3").is_file()
    with caplog.at_level(logging.WARNING):
        BudgetConfigManager.discover()
    assert "no token_budgets section" not in caplog.text  # a file naming only the cache is not a mistake
