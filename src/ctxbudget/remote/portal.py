"""The event loop the sync face runs on: one daemon thread per process, started on first use.

``run(coro)`` runs a coroutine there and waits for it, from any thread — also from inside another event loop,
where ``asyncio.run`` would refuse. Requests made there share one httpx client, so a run of many small
counts reuses its connections. A coroutine started on the caller's own loop (``await backend.acount(...)``)
gets a client of its own for that call instead: a client is bound to the loop it was made on.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import threading
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    import httpx

T = TypeVar("T")


def _new_client() -> httpx.AsyncClient:
    import httpx

    # the backends bound their own concurrency; the pool only keeps connections for reuse
    return httpx.AsyncClient(limits=httpx.Limits(max_connections=None, max_keepalive_connections=64),
                             follow_redirects=False, trust_env=True)


class Portal:
    """The loop thread and its shared client (module docstring)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: httpx.AsyncClient | None = None

    def _start(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                threading.Thread(target=loop.run_forever, name="ctxbudget-remote", daemon=True).start()
                self._loop = loop
            return self._loop

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        future = asyncio.run_coroutine_threadsafe(coro, self._start())
        try:
            return future.result()
        except BaseException:  # Ctrl-C while waiting: stop the requests too
            future.cancel()
            raise

    def is_current(self) -> bool:
        try:
            return asyncio.get_running_loop() is self._loop
        except RuntimeError:
            return False

    @asynccontextmanager
    async def session(self) -> AsyncIterator[httpx.AsyncClient]:
        """The client for a coroutine on the running loop: the shared one on the portal's loop, else one for
        this call, closed after it."""
        if self.is_current():
            if self._client is None:
                self._client = _new_client()
            yield self._client
            return
        async with _new_client() as client:
            yield client

    def close(self) -> None:
        """Close the shared client and stop the loop (at exit; the next ``run`` starts a new one)."""
        with self._lock:
            loop, client, self._loop, self._client = self._loop, self._client, None, None
        if loop is None:
            return
        if client is not None:
            with contextlib.suppress(Exception):  # at exit: a loop that cannot close its client is left as is
                asyncio.run_coroutine_threadsafe(client.aclose(), loop).result(timeout=5)
        loop.call_soon_threadsafe(loop.stop)

    def forget(self) -> None:
        """In a forked child: the loop thread did not come along."""
        self._lock = threading.Lock()
        self._loop = None
        self._client = None


PORTAL = Portal()
atexit.register(PORTAL.close)
os.register_at_fork(after_in_child=PORTAL.forget)


def run(coro: Coroutine[Any, Any, T]) -> T:
    return PORTAL.run(coro)
