"""A count tier in one SQLite file, shared by every process of the user on this machine.

* **Where:** ``$XDG_CACHE_HOME/ctxbudget/counts.sqlite3`` by default; the file is created 0600 and missing
  directories 0700 (``files.private_dir``).
* **What:** one table ``counts(key TEXT PRIMARY KEY, count INTEGER, used INTEGER)``, keys as ``tiers.count_key``
  makes them: tokenizer id, version and mode plus a digest — never the text.
* **Concurrency:** WAL journal, ``busy_timeout`` so a writer waits for another instead of failing, a small pool
  of connections that threads borrow for one operation (a thread-per-request server does not pile up
  connections). A batch is one query: the keys travel as one JSON array (``json_each``).
* **Size:** at most ``max_entries`` counts; past the bound by 10 %, the least recently *written* go (a hit does
  not write), checked every ``EVICT_EVERY`` writes.
* **A file that is not a count cache** (not a database, damaged, or another program's tables) is moved aside
  as ``<name>.corrupt-<time>-<pid>`` with one warning, under a lock so that only one process does it, and a new
  file is made — also when the damage shows later, while counting. A read-only or locked file is not damaged:
  it is left alone. A file of a newer format is left alone too, and not used. In every case counting goes on:
  a failing tier warns once (and once when it works again) and its lookups are misses.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import queue
import sqlite3
import threading
import time
import weakref
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..files import NEW_FILE_MODE, private_dir, user_dir

log = logging.getLogger(__name__)

DEFAULT_FILE = "counts.sqlite3"
DEFAULT_MAX_ENTRIES = 2_000_000
BUSY_TIMEOUT_MS = 30_000
#: writes between two checks of the size bound (a check counts the table)
EVICT_EVERY = 16_384
#: connections kept open for reuse; more threads at once get their own, closed after use
POOL_SIZE = 4
FORMAT = "1"
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS counts (key TEXT PRIMARY KEY, count INTEGER NOT NULL, used INTEGER NOT NULL)"
    " WITHOUT ROWID",
    "CREATE INDEX IF NOT EXISTS counts_used ON counts (used)",
    "CREATE TABLE IF NOT EXISTS ctxbudget_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
)
_DAMAGED = {getattr(sqlite3, "SQLITE_CORRUPT", 11), getattr(sqlite3, "SQLITE_NOTADB", 26)}


class ForeignFile(sqlite3.DatabaseError):
    """A database, but not a count cache: moved aside like a damaged one."""


class NewerFormat(sqlite3.DatabaseError):
    """A count cache of a format this version does not know: left alone, not used."""


def default_path() -> Path:
    return user_dir("cache") / DEFAULT_FILE


def _damaged(exc: BaseException) -> bool:
    """Not a database, a damaged one, or another program's: what is moved aside (a read-only, locked or
    newer-format file is not)."""
    return isinstance(exc, ForeignFile) or getattr(exc, "sqlite_errorcode", None) in _DAMAGED


#: every open tier, so that a forked child drops the connections it inherited
_tiers: weakref.WeakSet[SQLiteTier] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for tier in list(_tiers):
        tier._forget_connections()


os.register_at_fork(after_in_child=_after_fork_in_child)


class SQLiteTier:
    """Counts in one SQLite file (see the module docstring)."""

    name = "sqlite"

    def __init__(self, path: str | os.PathLike[str] | None = None, *, max_entries: int = DEFAULT_MAX_ENTRIES) -> None:
        if max_entries <= 0:
            raise ValueError(f"max_entries must be > 0, got {max_entries}")
        self.path = Path(path) if path is not None else default_path()
        self.max_entries = max_entries
        self._idle: queue.LifoQueue[sqlite3.Connection] = queue.LifoQueue()
        self._failing = False
        self._recovered = False
        self._since_check = 0
        self._stats_lock = threading.Lock()
        self.hits = self.misses = self.writes = 0
        self._release(self._open_checked())
        _tiers.add(self)

    # --- connections ---------------------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        private_dir(self.path.parent)
        if not self.path.exists():
            with contextlib.suppress(FileExistsError):
                os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, NEW_FILE_MODE))
        connection = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                                     check_same_thread=False)
        try:
            connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            connection.execute("PRAGMA journal_mode = WAL")
            connection.execute("PRAGMA synchronous = NORMAL")
        except BaseException:
            connection.close()
            raise
        return connection

    def _open_checked(self) -> sqlite3.Connection:
        """A connection to a checked file; a damaged or foreign one is moved aside first (see the docstring)."""
        connection: sqlite3.Connection | None = None
        try:
            connection = self._connect()
            self._check(connection)
            return connection
        except sqlite3.DatabaseError as exc:
            if connection is not None:
                connection.close()
            if not _damaged(exc):
                raise
            self._move_aside(exc)
        connection = self._connect()
        self._check(connection)
        return connection

    def _check(self, connection: sqlite3.Connection) -> None:
        # reading the schema is what fails on a file that is not a database
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if tables and "ctxbudget_meta" not in tables:
            raise ForeignFile(f"foreign tables {sorted(tables)}")
        if tables:
            row = connection.execute("SELECT value FROM ctxbudget_meta WHERE name = 'format'").fetchone()
            if row is None or row[0] != FORMAT:
                raise NewerFormat(f"format {row[0] if row else '?'} (this version reads {FORMAT})")
            return
        connection.execute("BEGIN IMMEDIATE")
        try:
            for statement in _SCHEMA:
                connection.execute(statement)
            connection.execute("INSERT OR IGNORE INTO ctxbudget_meta VALUES ('format', ?)", (FORMAT,))
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise

    def _move_aside(self, exc: BaseException) -> None:
        """Move the damaged file (and its journal files) aside, once, whichever process gets there first."""
        lock_path = self.path.with_name(self.path.name + ".lock")
        with open(lock_path, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                probe: sqlite3.Connection | None = None
                try:  # another process may have replaced the file while this one waited
                    probe = self._connect()
                    self._check(probe)
                    return
                except sqlite3.DatabaseError as again:
                    if not _damaged(again):
                        raise
                finally:
                    if probe is not None:
                        probe.close()
                aside = self.path.with_name(f"{self.path.name}.corrupt-{int(time.time())}-{os.getpid()}")
                log.warning("ctxbudget: %s is not a usable count cache (%s); moved aside to %s, starting a new one",
                            self.path, exc, aside)
                for suffix in ("", "-wal", "-shm"):
                    part = Path(str(self.path) + suffix)
                    if part.exists():
                        os.replace(part, Path(str(aside) + suffix))
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    @contextlib.contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        try:
            connection = self._idle.get_nowait()
        except queue.Empty:
            connection = self._connect()
        try:
            yield connection
        finally:
            self._release(connection)

    def _release(self, connection: sqlite3.Connection) -> None:
        if self._idle.qsize() < POOL_SIZE:
            self._idle.put(connection)
        else:
            connection.close()

    def _forget_connections(self) -> None:
        """In a forked child: never use the parent's connections (SQLite forbids it); open new ones."""
        self._idle = queue.LifoQueue()

    def _run(self, what: str, work: Any) -> Any:
        """``work(connection)``, degrading to None on failure: one warning when the tier starts failing, one
        when it works again; a file found damaged meanwhile is moved aside and reopened (once)."""
        try:
            with self._db() as connection:
                result = work(connection)
        except sqlite3.Error as exc:
            if _damaged(exc) and not self._recovered:
                self._recovered = True
                self._drain()
                try:
                    self._move_aside(exc)
                    self._release(self._open_checked())
                    return self._run(what, work)
                except (sqlite3.Error, OSError) as again:
                    exc = again  # type: ignore[assignment]
            if not self._failing:
                self._failing = True
                log.warning("ctxbudget: the SQLite count cache %s failed to %s (%s); counting goes on without it",
                            self.path, what, exc)
            return None
        if self._failing:
            self._failing = False
            log.warning("ctxbudget: the SQLite count cache %s works again", self.path)
        return result

    def _drain(self) -> None:
        while True:
            try:
                self._idle.get_nowait().close()
            except queue.Empty:
                return

    # --- the tier interface ----------------------------------------------------------------------------
    def get_many(self, keys: Sequence[str]) -> dict[str, int]:
        if not keys:
            return {}
        rows = self._run("read", lambda db: db.execute(
            "SELECT key, count FROM counts WHERE key IN (SELECT value FROM json_each(?))", (json.dumps(keys),)
        ).fetchall())
        if rows is None:
            return {}
        found = {key: int(n) for key, n in rows if isinstance(n, int) and n >= 0}
        with self._stats_lock:
            self.hits += len(found)
            self.misses += len(set(keys)) - len(found)
        return found

    def set_many(self, counts: Mapping[str, int]) -> None:
        if not counts:
            return
        payload = json.dumps([[key, int(n)] for key, n in counts.items()])
        with self._stats_lock:
            self.writes += len(counts)
            self._since_check += len(counts)
            check = self._since_check >= EVICT_EVERY
            if check:
                self._since_check = 0

        def write(db: sqlite3.Connection) -> None:
            db.execute(
                "INSERT INTO counts (key, count, used) SELECT value ->> 0, value ->> 1, ? FROM json_each(?) "
                "WHERE true ON CONFLICT (key) DO UPDATE SET count = excluded.count, used = excluded.used",
                (time.time_ns(), payload),
            )
            if check:
                self._evict(db)

        self._run("write", write)

    def _evict(self, db: sqlite3.Connection) -> None:
        (size,) = db.execute("SELECT count(*) FROM counts").fetchone()
        if size > self.max_entries * 1.1:
            db.execute("DELETE FROM counts WHERE key IN (SELECT key FROM counts ORDER BY used LIMIT ?)",
                       (size - self.max_entries,))

    def stats(self) -> dict[str, Any]:
        entries = self._run("read", lambda db: db.execute("SELECT count(*) FROM counts").fetchone()[0])
        size = sum(Path(str(self.path) + s).stat().st_size for s in ("", "-wal") if Path(str(self.path) + s).exists())
        return {"tier": self.name, "path": str(self.path), "entries": entries, "max_entries": self.max_entries,
                "bytes": size, "hits": self.hits, "misses": self.misses, "writes": self.writes}

    def clear(self) -> None:
        """Delete every count (raises ``sqlite3.Error`` when the file cannot be written)."""
        with self._db() as db:
            db.execute("DELETE FROM counts")
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def integrity(self) -> str:
        """SQLite's ``integrity_check`` of the file ("ok" when sound)."""
        with self._db() as db:
            return str(db.execute("PRAGMA integrity_check").fetchone()[0])

    def close(self) -> None:
        self._drain()
