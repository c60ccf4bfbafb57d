"""Exception hierarchy: every error ctxbudget raises on purpose derives from CtxBudgetError."""


class CtxBudgetError(Exception):
    """Base class of ctxbudget's own errors."""


class TokenizerLoadError(CtxBudgetError, RuntimeError):
    """A tokenizer could not be loaded (missing package, missing or corrupt vocabulary)."""


class UnknownModelError(CtxBudgetError, ValueError):
    """A model id or tool name that the registry does not know."""


class ConfigError(CtxBudgetError, ValueError):
    """An invalid budget configuration value; the message names the key path."""


class BudgetNotConfiguredError(CtxBudgetError, LookupError):
    """No enabled budget applies to the requested tool/operation."""


class RemoteCountError(CtxBudgetError, RuntimeError):
    """A provider's count-tokens API gave no count: no key, an HTTP error after the last try, a timeout, or an
    answer that is not the documented shape. The message names the provider, the status and the provider's
    own message — never the key."""

    def __init__(self, provider: str, message: str, *, status: int | None = None, tries: int = 1) -> None:
        self.provider = provider
        self.status = status
        self.tries = tries
        where = f"HTTP {status}: " if status is not None else ""
        after = f" (after {tries} tries)" if tries > 1 else ""
        super().__init__(f"{provider} count-tokens API: {where}{message}{after}")
