"""Which models are counted by their provider's count-tokens API, and the backend a route gets for it.

A policy per model: ``offline`` (the default: nothing touches the network), ``api`` (the API's counts; a
failure is an error), ``api-else-offline`` (the API's counts; on a failure one warning, then the offline
counts for that model, labelled ``"<kind> (api failed)"``). A policy spec is one policy for every model
(``api``) or a comma list of ``NAME=POLICY`` entries (``claude=api,gemini=api-else-offline``), a bare policy
in the list setting the default. ``NAME`` is a provider (``anthropic`` or ``claude``, ``google`` or
``gemini``, ``openai``, ``gpt`` or ``codex``), or a model id or glob (``claude-opus-4-*``), matched against
the name counted for and the registry's canonical id. A model entry beats a provider entry, which beats the
default.

In force: ``configure(spec)`` (the CLI's ``--exact`` is ``configure("api")``), else ``CTXBUDGET_COUNT_POLICY``,
else the config file's ``count_policy:`` (``counting.routes.configured_policy``). A wrong spec from the
environment or the file is one warning, and counting stays offline.

API counts go through the persistent tiers in use (``persistent.current()``) under their own tokenizer id,
``api:<provider>:<model>``, with a memory tier in front, so a second run over the same texts sends nothing.
"""

from __future__ import annotations

import fnmatch
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import import_module
from typing import Any

from ..cache.tiers import CountTier, MemoryTier, TieredCache
from ..counting import persistent
from ..counting.routes import configured_policy, forget_configured_policy, invalidate_routes
from ..errors import ConfigError, UnknownModelError
from ..models.registry import ANTHROPIC, GOOGLE, OPENAI, ModelSpec, resolve_model
from ..tokenizers.base import TokenizerBackend
from .backend import FallbackBackend, RemoteBackend, forget_failures
from .http import Endpoint
from .settings import RemoteSettings, load_settings

log = logging.getLogger("ctxbudget.remote")

OFFLINE, API, API_ELSE_OFFLINE = "offline", "api", "api-else-offline"
POLICIES = (OFFLINE, API, API_ELSE_OFFLINE)
PROVIDER_NAMES = {"anthropic": ANTHROPIC, "claude": ANTHROPIC, "google": GOOGLE, "gemini": GOOGLE,
                  "openai": OPENAI, "gpt": OPENAI, "codex": OPENAI}
_ENDPOINTS = {ANTHROPIC: ".anthropic", GOOGLE: ".gemini", OPENAI: ".openai"}


@dataclass(frozen=True)
class CountPolicy:
    """A parsed policy spec (module docstring); ``str()`` gives it back in canonical form."""

    default: str = OFFLINE
    providers: tuple[tuple[str, str], ...] = ()
    #: (lower-case model id or glob, policy), in the spec's order
    models: tuple[tuple[str, str], ...] = ()

    def for_model(self, name: str, spec: ModelSpec) -> str:
        """The policy for counting ``name`` (a tool name or model id) whose registry spec is ``spec``."""
        key, canonical = name.strip().lower(), spec.canonical_id.lower()
        for pattern, policy in self.models:
            if fnmatch.fnmatchcase(key, pattern) or fnmatch.fnmatchcase(canonical, pattern):
                return policy
        return dict(self.providers).get(spec.provider, self.default)

    def __str__(self) -> str:
        entries = [self.default, *(f"{p}={v}" for p, v in self.providers), *(f"{m}={v}" for m, v in self.models)]
        return ",".join(entries)


def _model_patterns(name: str, where: str) -> list[str]:
    if any(c in name for c in "*?["):
        return [name]
    try:
        canonical = resolve_model(name).canonical_id.lower()
    except UnknownModelError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    return [name] if canonical == name else [name, canonical]


def parse_policy(spec: str | Mapping[str, str] | CountPolicy | None, where: str = "count policy") -> CountPolicy:
    """A ``CountPolicy`` from a spec string, a mapping of names to policies (``*`` or ``default`` for the
    default) or a policy; None is ``offline``. A wrong spec is a ``ConfigError`` naming ``where``."""
    if spec is None:
        return CountPolicy()
    if isinstance(spec, CountPolicy):
        return spec
    if isinstance(spec, str):
        entries = [part.partition("=") for part in spec.split(",") if part.strip()]
        pairs = [(name, value) if sep else ("*", name) for name, sep, value in entries]
    else:
        pairs = list(spec.items())
    if not pairs:
        raise ConfigError(f"{where}: empty count policy; use offline, api, api-else-offline or NAME=POLICY,…")
    default, providers, models = OFFLINE, dict[str, str](), list[tuple[str, str]]()
    for raw_name, raw_value in pairs:
        name, value = str(raw_name).strip().lower(), str(raw_value).strip().lower()
        if value not in POLICIES:
            raise ConfigError(f"{where}: unknown count policy {value!r} for {name!r}; use offline, api or "
                              "api-else-offline")
        if name in ("*", "default"):
            default = value
        elif name in PROVIDER_NAMES:
            providers[PROVIDER_NAMES[name]] = value
        else:
            models += [(pattern, value) for pattern in _model_patterns(name, where)]
    return CountPolicy(default, tuple(providers.items()), tuple(models))


# --- what is in force ----------------------------------------------------------------------------------------

_override: CountPolicy | None = None
_settings: RemoteSettings | None = None
_warned: set[str] = set()


def configure(policy: str | Mapping[str, str] | CountPolicy | None = None, *,
              settings: RemoteSettings | None = None) -> CountPolicy:
    """Set the process-wide count policy (None: back to ``CTXBUDGET_COUNT_POLICY`` / ``count_policy:``, the file
    read again) and the API settings (None: the config file's ``count_api:``). Every model may try its API
    again; routes are rebuilt. Returns the policy now in force."""
    global _override, _settings
    _override = None if policy is None else parse_policy(policy)
    _settings = settings
    forget_failures()
    forget_configured_policy()
    invalidate_routes()
    return current_policy()


def current_policy() -> CountPolicy:
    """The policy in force (module docstring)."""
    if _override is not None:
        return _override
    spec = configured_policy()
    try:
        return parse_policy(spec, where="count_policy")
    except ConfigError as exc:
        text = str(exc)
        if text not in _warned:
            _warned.add(text)
            log.warning("ctxbudget: %s; counting offline", text)
        return CountPolicy()


def current_settings() -> RemoteSettings:
    return _settings if _settings is not None else load_settings()


def endpoint_for(provider: str) -> Endpoint:
    """The count-tokens API of a registry provider (``anthropic``, ``google``, ``openai``)."""
    module = _ENDPOINTS.get(provider)
    if module is None:
        raise ConfigError(f"no count-tokens API is known for provider {provider!r}")
    endpoint: Endpoint = import_module(module, __package__).ENDPOINT
    return endpoint


def api_backend(model: str | ModelSpec, settings: RemoteSettings | None = None, *,
                store: CountTier | TieredCache | None = None, concurrency: int | None = None) -> RemoteBackend:
    """The ``RemoteBackend`` of a model id or tool name (its framed counts through ``store``)."""
    spec = resolve_model(model) if isinstance(model, str) else model
    return RemoteBackend(endpoint_for(spec.provider), spec.canonical_id,
                         settings if settings is not None else current_settings(), store=store,
                         concurrency=concurrency)


def _tiers(store: CountTier | TieredCache | None) -> CountTier | TieredCache:
    # a memory tier first: a text counted again in this process is not even looked up in SQLite
    return MemoryTier() if store is None else TieredCache([MemoryTier(), store])


def policy_backend(name: str, spec: ModelSpec, offline: TokenizerBackend) -> TokenizerBackend | None:
    """The backend that counts ``name`` under the policy in force, or None when that is ``offline`` (the route
    then counts with ``offline`` as always)."""
    choice = current_policy().for_model(name, spec)
    if choice == OFFLINE:
        return None
    store: Any = persistent.current()
    tiers = _tiers(store)
    remote = api_backend(spec, store=store)
    api = persistent.PersistentBackend(remote, tiers)
    if choice == API:
        return api
    failure = None if remote.has_key else f"{remote.provider} count-tokens API: {remote.missing_key_message()}"
    return FallbackBackend(api, persistent.PersistentBackend(offline, tiers), (remote.tokenizer_id, remote.base_url),
                           remote.model, failure)
