"""Exact counts from the providers' count-tokens APIs: opt-in, cached, behind the tokenizer interface.

Nothing here is imported while the count policy is ``offline`` (the default): ``counting.routes`` imports
``policy`` only once a policy is set in code, in ``CTXBUDGET_COUNT_POLICY`` or in the config's
``count_policy:``, and httpx is imported only when a request is about to be sent. ``docs/remote.md`` is the
user's guide.

* ``policy``: which models are counted by their API (``offline``, ``api``, ``api-else-offline``), and the
  backend a route gets for it;
* ``backend``: ``RemoteBackend`` (content and framed counts, async first with a sync face) and
  ``FallbackBackend`` (``api-else-offline``);
* ``http``: the request, its timeout and retries; ``portal``: the event loop the sync face runs on;
* ``settings``: keys, base URLs, concurrency, timeout, retries;
* ``anthropic``, ``gemini``, ``openai``: each provider's request and response shape.
"""

from .backend import FallbackBackend, RemoteBackend
from .policy import CountPolicy, api_backend, configure, current_policy, parse_policy
from .settings import RemoteSettings, load_settings

__all__ = ["CountPolicy", "FallbackBackend", "RemoteBackend", "RemoteSettings", "api_backend", "configure",
           "current_policy", "load_settings", "parse_policy"]
