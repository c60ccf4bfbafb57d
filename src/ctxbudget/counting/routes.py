"""Routes: a name (tool or model id) and mode resolved to its backend and its cache namespace, remembered.

``resolve_route`` asks the tokenizer factory (which asks the model registry) once per name and mode, and
keeps the answer until something changes what counts for a name: ``MODEL_MAPPINGS``, ``set_claude_model``,
``register_backend``, ``TokenizerFactory.clear_cache``, ``persistent.configure``, ``remote.policy.configure``.
A route's backend counts through the process-wide persistent tiers when there are any (``persistent``).
Routes for ``claude`` follow the Claude model variables and are re-checked on every call. ``fast_routes`` is
what the compiled ``count_tokens`` serves without calling back into Python.

The count policy (``remote.policy``) may give a route the provider's count-tokens API instead of the offline
tokenizer. Its module is imported only once a policy is set in code, in ``CTXBUDGET_COUNT_POLICY`` or in the
config file's ``count_policy:``; until then routes are built exactly as without it.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Callable, Sized
from functools import partial
from typing import Any

from ..cache.memory import key_prefix
from ..errors import ConfigError
from ..models import registry
from ..models.registry import ModelSpec, claude_env
from ..tokenizers import factory
from ..tokenizers.base import TokenizerBackend, backend_kind, is_fast
from . import persistent
from .flight import text_flight

#: ``Route.entry``: cache namespace, the backend's ``core_encode`` or None, the count to call
Entry = tuple[str, Callable[[str], Sized] | None, Callable[[str], int]]


class Route:
    """A resolved (name, mode): the backend, the registry's spec and the cache namespace naming the tool, the
    tokenizer id and version, and the mode.

    ``entry`` is what the hot path (``_speedups.count_route``) needs: the cache namespace, the backend's
    ``core_encode`` if it has one (a C-level callable whose result's ``len()`` is the count), and the count
    to call otherwise — single-flight wrapped unless the backend counts at native speed, where waiting for
    another thread would not pay.
    """

    __slots__ = ("backend", "cacheable", "entry", "env", "key_prefix", "resolved_as", "spec", "tool", "variant")

    entry: Entry

    def __init__(
        self, tool: str, backend: TokenizerBackend, use_tokenizer: bool, env: tuple[str, ...] | None = None,
        spec: ModelSpec | None = None,
    ) -> None:
        #: for routes chosen by the Claude model variables: their values then (re-resolved when they change)
        self.env = env
        self.tool = tool
        self.backend = backend
        self.spec = spec
        self.cacheable = bool(getattr(backend, "cacheable", True))
        self.variant = f"{backend.tokenizer_id}|{'tok' if use_tokenizer else 'est'}"
        self.key_prefix = key_prefix(tool, self.variant)
        #: the (name, use_tokenizer) ``resolve_route`` resolved this route for
        self.resolved_as: tuple[str, bool] | None = None

    def __getattr__(self, name: str) -> Any:
        # only for an ``entry`` not made yet: once set, the slot is read directly (the hot path pays nothing)
        if name != "entry":
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        return self._make_entry()

    def _make_entry(self) -> Entry:
        """``entry``, made on first use: reading ``core_encode`` may build the tokenizer, which a route that
        only counts batches and long texts may never need (an accelerated ``ctxbudget count``)."""
        backend = self.backend
        count: Callable[[str], int] = backend.count
        if not is_fast(backend):
            count = partial(text_flight, self.key_prefix, backend.count)
        entry = self.entry = (self.key_prefix, getattr(backend, "core_encode", None), count)
        if self.resolved_as is not None:
            with _routes_lock:
                _learn_fast_route(*self.resolved_as, self)
        return entry

    @property
    def kind(self) -> str:
        """The provenance kind, read live: an ``api-else-offline`` backend changes it when the API fails."""
        return backend_kind(self.backend)


_ENTRY_SLOT = Route.__dict__["entry"]


def _made_entry(route: Route) -> Entry | None:
    """``route.entry`` if it has been made, else None (read from the slot, which does not make it)."""
    try:
        return _ENTRY_SLOT.__get__(route, Route)  # type: ignore[no-any-return]
    except AttributeError:
        return None


resolved_routes: dict[tuple[str, bool], Route] = {}
#: tool name -> ``Route.entry`` for the routes ``TokenCounter.count_tokens`` may serve without re-resolving
#: (real tokenizer, cacheable, not following the Claude model variables). Read by the compiled façade.
fast_routes: dict[str, Entry] = {}
_routes_lock = threading.Lock()
_MAX_ROUTES = 512
_generation = 0  # bumped by every invalidation, so a route built meanwhile is not stored


def invalidate_routes() -> None:
    """Forget every resolved route (the next call resolves again)."""
    global _generation
    with _routes_lock:
        _generation += 1
        resolved_routes.clear()
        fast_routes.clear()


registry.on_change(invalidate_routes)
factory.on_change(invalidate_routes)
persistent.on_change(invalidate_routes)


def _learn_fast_route(tool_name: str, use_tokenizer: bool, route: Route) -> None:
    """Let the compiled façade serve ``tool_name`` with ``route`` — if the route may skip re-resolution, is
    still the resolved one (an invalidation may have come in between) and has counted a short text (made its
    ``entry``, which learns it once made). Called with ``_routes_lock`` held."""
    entry = _made_entry(route)
    learnable = use_tokenizer and route.env is None and route.cacheable and type(tool_name) is str
    if entry is not None and learnable and resolved_routes.get((tool_name, use_tokenizer)) is route:
        fast_routes[tool_name] = entry


POLICY_ENV = "CTXBUDGET_COUNT_POLICY"
_POLICY_MODULE = "ctxbudget.remote.policy"
_UNSET: Any = object()
_config_policy: Any = _UNSET
log = logging.getLogger(__name__)


def configured_policy() -> str | dict[str, str] | None:
    """The count policy asked for outside the code: ``CTXBUDGET_COUNT_POLICY``, else the config file's
    ``count_policy:`` (read once per process); None when neither names one."""
    env = os.environ.get(POLICY_ENV, "").strip()
    if env:
        return env
    global _config_policy
    if _config_policy is _UNSET:
        from ..config_files import count_policy_spec, find_config_file  # not at import: tomllib

        try:
            _config_policy = count_policy_spec(find_config_file())
        except ConfigError as exc:
            log.warning("ctxbudget: %s; counting offline", exc)
            _config_policy = None
    return _config_policy  # type: ignore[no-any-return]


def forget_configured_policy() -> None:
    """Read the config file's ``count_policy:`` again on the next route (``remote.policy.configure``)."""
    global _config_policy
    _config_policy = _UNSET


def _policy_backend(tool_name: str, found: factory.Resolution, use_tokenizer: bool) -> TokenizerBackend | None:
    """The backend the count policy gives this name (``remote.policy``), or None to count offline. While no
    policy has been asked for, the remote package is not even imported."""
    if found.spec is None or not use_tokenizer or factory.registered_backend(tool_name) is not None:
        return None
    if _POLICY_MODULE not in sys.modules and configured_policy() is None:
        return None
    from ..remote.policy import policy_backend

    return policy_backend(tool_name, found.spec, found.backend)


def resolve_route(tool_name: str, use_tokenizer: bool = True) -> Route:
    """The route for a name and mode (see the module docstring)."""
    route = resolved_routes.get((tool_name, use_tokenizer))
    if route is not None and (route.env is None or route.env == claude_env()):
        if route.env is None and type(tool_name) is str and tool_name not in fast_routes and _made_entry(route):
            with _routes_lock:  # resolved under an equal str subclass, or not yet learned
                _learn_fast_route(tool_name, use_tokenizer, route)
        return route
    generation = _generation
    found = factory.resolve(tool_name, use_tokenizer)
    env = claude_env() if found.follows_claude_model else None
    backend = _policy_backend(tool_name, found, use_tokenizer) or persistent.wrap(found.backend, use_tokenizer)
    route = Route(tool_name.strip().lower(), backend, use_tokenizer, env, found.spec)
    route.resolved_as = (tool_name, use_tokenizer)
    with _routes_lock:
        if generation == _generation:  # else what counts for a name changed while this route was built
            if len(resolved_routes) >= _MAX_ROUTES:
                resolved_routes.clear()
                fast_routes.clear()
            resolved_routes[(tool_name, use_tokenizer)] = route
            _learn_fast_route(tool_name, use_tokenizer, route)
    return route
