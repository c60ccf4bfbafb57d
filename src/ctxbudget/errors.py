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
