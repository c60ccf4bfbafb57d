"""A count tier in one SQLite file, shared by every process of the user on this machine.

* **Where:** ``$XDG_CACHE_HOME/ctxbudget/counts.sqlite3`` by default; the file is created 0600 and missing
  directories 0700 (``files.private_dir``).
* **What:** one table ``counts(key TEXT PRIMARY KEY, count INTEGER, used INTEGER)``, keys as ``tiers.count_key``
  makes them: tokenizer id, version and mode plus a digest — never the text.
* **Concurrency:** WAL journal, ``busy_timeout`` so a writer waits for another instead of failing, one
  connection per thread. A batch is one query: the keys travel as one JSON array (``json_each``).
* **Size:** at most ``max_entries`` counts; when a write passes the bound by 10 %, the least recently written
  ones go (one ``DELETE`` per such write, not per text).
* **A broken file** (not a database, or one of another program) is moved aside as ``<name>.corrupt-<time>``
  with one warning and a new file is made; counting goes on. Errors while working degrade to misses, with
  one warning per tier, never an exception to the caller.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..files import NEW_FILE_MODE, private_dir, user_dir

log = logging.getLogger(__name__)

DEFAULT_FILE = "counts.sqlite3"
DEFAULT_MAX_ENTRIES = 2_000_000
BUSY_TIMEOUT_MS = 30_000
_SCHEMA = ("CREATE TABLE IF NOT EXISTS counts (key TEXT PRIMARY KEY, count INTEGER NOT NULL, used INTEGER NOT NULL)"
           " WITHOUT ROWID")
_MARK = ("CREATE TABLE IF NOT EXISTS ctxbudget_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)")
_FORMAT = "1"


def default_path() -> Path:
    return user_dir("cache") / DEFAULT_FILE


class SQLiteTier:
    """Counts in one SQLite file (see the module docstring)."""

    name = "sqlite"

    def __init__(self, path: str | os.PathLike[str] | None = None, *, max_entries: int = DEFAULT_MAX_ENTRIES) -> None:
        if max_entries <= 0:
            raise ValueError(f"max_entries must be > 0, got {max_entries}")
        self.path = Path(path) if path is not None else default_path()
        self.max_entries = max_entries
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections: list[sqlite3.Connection] = []
        self._warned = False
        self.hits = self.misses = self.writes = 0
        self._open_checked()

    # --- connections ---------------------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        private_dir(self.path.parent)
        if not self.path.exists():
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT, NEW_FILE_MODE)
            os.close(fd)
        connection = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                                     check_same_thread=False)
        connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        connection.execute("PRAGMA journal_mode = WAL")
        connection.execute("PRAGMA synchronous = NORMAL")
        return connection

    def _open_checked(self) -> None:
        """Open the file, creating the schema; a file that is not ours is moved aside and recreated."""
        connection: sqlite3.Connection | None = None
        try:
            connection = self._connect()
            self._check(connection)
        except sqlite3.DatabaseError as exc:
            if connection is not None:
                connection.close()
            aside = self.path.with_name(f"{self.path.name}.corrupt-{int(time.time())}")
            log.warning("ctxbudget: %s is not a count cache (%s); moved aside to %s, starting a new one",
                        self.path, exc, aside)
            for suffix in ("", "-wal", "-shm"):
                part = Path(str(self.path) + suffix)
                if part.exists():
                    os.replace(part, Path(str(aside) + suffix))
            connection = self._connect()
            self._check(connection)
        self._remember(connection)

    def _check(self, connection: sqlite3.Connection) -> None:
        connection.execute("BEGIN IMMEDIATE")
        try:
            tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if tables and "ctxbudget_meta" not in tables:
                raise sqlite3.DatabaseError(f"foreign tables {sorted(tables)}")
            connection.execute(_SCHEMA)
            connection.execute(_MARK)
            connection.execute("INSERT OR IGNORE INTO ctxbudget_meta VALUES ('format', ?)", (_FORMAT,))
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise

    def _remember(self, connection: sqlite3.Connection) -> None:
        self._local.connection = connection
        with self._lock:
            self._connections.append(connection)

    def _db(self) -> sqlite3.Connection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = self._connect()
            self._remember(connection)
        return connection

    def _failed(self, what: str, exc: Exception) -> None:
        if not self._warned:
            self._warned = True
            log.warning("ctxbudget: the SQLite count cache %s failed to %s (%s); counting goes on without it",
                        self.path, what, exc)

    # --- the tier interface ----------------------------------------------------------------------------
    def get_many(self, keys: Sequence[str]) -> dict[str, int]:
        if not keys:
            return {}
        try:
            rows = self._db().execute(
                "SELECT key, count FROM counts WHERE key IN (SELECT value FROM json_each(?))", (json.dumps(keys),)
            ).fetchall()
        except sqlite3.Error as exc:
            self._failed("read", exc)
            return {}
        found = {key: int(n) for key, n in rows}
        self.hits += len(found)
        self.misses += len(set(keys)) - len(found)
        return found

    def set_many(self, counts: Mapping[str, int]) -> None:
        if not counts:
            return
        now = time.time_ns()
        payload = json.dumps([[key, int(n)] for key, n in counts.items()])
        try:
            db = self._db()
            db.execute(
                "INSERT INTO counts (key, count, used) SELECT value ->> 0, value ->> 1, ? FROM json_each(?) "
                "WHERE true ON CONFLICT (key) DO UPDATE SET count = excluded.count, used = excluded.used",
                (now, payload),
            )
            self.writes += len(counts)
            if self.writes % 1024 < len(counts):  # now and then, not per write: the bound is approximate
                self._evict(db)
        except sqlite3.Error as exc:
            self._failed("write", exc)

    def _evict(self, db: sqlite3.Connection) -> None:
        (size,) = db.execute("SELECT count(*) FROM counts").fetchone()
        if size > self.max_entries * 1.1:
            db.execute("DELETE FROM counts WHERE key IN (SELECT key FROM counts ORDER BY used LIMIT ?)",
                       (size - self.max_entries,))

    def stats(self) -> dict[str, Any]:
        try:
            (entries,) = self._db().execute("SELECT count(*) FROM counts").fetchone()
        except sqlite3.Error as exc:
            self._failed("read", exc)
            entries = None
        size = sum(Path(str(self.path) + s).stat().st_size for s in ("", "-wal") if Path(str(self.path) + s).exists())
        return {"tier": self.name, "path": str(self.path), "entries": entries, "max_entries": self.max_entries,
                "bytes": size, "hits": self.hits, "misses": self.misses, "writes": self.writes}

    def clear(self) -> None:
        db = self._db()
        db.execute("DELETE FROM counts")
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def integrity(self) -> str:
        """SQLite's ``integrity_check`` of the file ("ok" when sound)."""
        return str(self._db().execute("PRAGMA integrity_check").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            connections, self._connections = self._connections, []
        for connection in connections:
            connection.close()
        self._local = threading.local()
