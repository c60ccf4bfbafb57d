"""What the count-tokens clients need to know: keys, base URLs, concurrency, timeout, retries.

Keys come from the provider's variable (``ANTHROPIC_API_KEY``; ``GEMINI_API_KEY``, else ``GOOGLE_API_KEY``;
``OPENAI_API_KEY``), else from ``count_api: <provider>: api_key:`` in the config file. A key is held in a
``Secret``, whose ``repr`` and ``str`` are ``***``: it is sent in a request header and nowhere else — never
logged, never in an error or a cache. Base URLs come from ``CTXBUDGET_<PROVIDER>_BASE_URL``, else
``count_api: <provider>: base_url:``, else the provider's own; the API's path is appended to them.

The rest of ``count_api:`` (all optional): ``concurrency`` (requests in flight per backend, default 16),
``timeout`` (seconds per try, default 30), ``max_retries`` (default 3), ``backoff`` (the first retry's wait
in seconds, doubled per retry, default 0.5).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, NoReturn, Protocol

from ..config_files import count_api_settings, find_config_file
from ..errors import ConfigError

PROVIDERS = ("anthropic", "gemini", "openai")


class Secret:
    """An API key: ``reveal()`` gives it for the request header; ``repr``/``str`` show ``***``; not picklable
    (a pickle could land in a file)."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __reduce__(self) -> NoReturn:
        raise TypeError("an API key is not picklable")


class KeyedEndpoint(Protocol):
    """What settings read off an endpoint (``http.Endpoint``)."""

    @property
    def provider(self) -> str: ...

    @property
    def key_vars(self) -> tuple[str, ...]: ...

    @property
    def base_url_var(self) -> str: ...

    @property
    def default_base_url(self) -> str: ...


@dataclass(frozen=True)
class RemoteSettings:
    """The clients' settings (module docstring). ``keys`` and ``base_urls`` are the config file's, per provider
    (``anthropic``, ``gemini``, ``openai``); the variables are read when a backend asks."""

    concurrency: int = 16
    timeout: float = 30.0
    max_retries: int = 3
    backoff: float = 0.5
    #: the longest wait between two tries without a Retry-After
    max_backoff: float = 8.0
    #: a Retry-After longer than this ends the retries at once (the error says how long was asked)
    max_retry_after: float = 60.0
    keys: Mapping[str, Secret] = field(default_factory=dict)
    base_urls: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.concurrency, int) or isinstance(self.concurrency, bool) or self.concurrency < 1:
            raise ConfigError(f"count_api: concurrency must be an integer >= 1, got {self.concurrency!r}")
        if not isinstance(self.max_retries, int) or isinstance(self.max_retries, bool) or self.max_retries < 0:
            raise ConfigError(f"count_api: max_retries must be an integer >= 0, got {self.max_retries!r}")
        for name in ("timeout", "backoff", "max_backoff", "max_retry_after"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0 or (
                    name == "timeout" and value == 0):
                raise ConfigError(f"count_api: {name} must be a number of seconds > 0, got {value!r}")

    def api_key(self, endpoint: KeyedEndpoint) -> Secret | None:
        for var in endpoint.key_vars:
            value = os.environ.get(var, "").strip()
            if value:
                return Secret(value)
        return self.keys.get(endpoint.provider)

    def base_url(self, endpoint: KeyedEndpoint) -> str:
        url = os.environ.get(endpoint.base_url_var, "").strip() or self.base_urls.get(endpoint.provider, "")
        return (url or endpoint.default_base_url).rstrip("/")


_NUMBERS = {f.name for f in fields(RemoteSettings)} - {"keys", "base_urls"}


def settings_from_mapping(data: Mapping[str, Any], where: str = "count_api") -> RemoteSettings:
    """``RemoteSettings`` from a ``count_api:`` mapping; unknown keys and wrong types are ``ConfigError``."""
    numbers: dict[str, Any] = {}
    keys: dict[str, Secret] = {}
    base_urls: dict[str, str] = {}
    for name, value in data.items():
        if name in _NUMBERS:
            numbers[name] = value
        elif name in PROVIDERS:
            if not isinstance(value, Mapping):
                raise ConfigError(f"{where}: {name}: must be a mapping with api_key and/or base_url")
            for item, setting in value.items():
                if item not in ("api_key", "base_url") or not isinstance(setting, str):
                    raise ConfigError(f"{where}: {name}: only api_key and base_url (strings) are known, "
                                      f"got {item!r}")
            if value.get("api_key", "").strip():
                keys[name] = Secret(value["api_key"].strip())
            if value.get("base_url", "").strip():
                base_urls[name] = value["base_url"].strip()
        else:
            known = ", ".join(sorted(_NUMBERS | set(PROVIDERS)))
            raise ConfigError(f"{where}: unknown setting {name!r}; known: {known}")
    try:
        return RemoteSettings(**numbers, keys=keys, base_urls=base_urls)
    except ConfigError as exc:
        raise ConfigError(str(exc).replace("count_api", where, 1)) from None


def load_settings(config_file: str | os.PathLike[str] | None = None) -> RemoteSettings:
    """The settings of ``config_file``'s ``count_api:`` (default: the config file that applies)."""
    path = Path(config_file) if config_file is not None else find_config_file()
    return settings_from_mapping(count_api_settings(path), f"{path}: count_api" if path else "count_api")
