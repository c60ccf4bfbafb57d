"""ctxbudget: token counts with provenance, a fast count cache, and token budgets for LLM context.

Re-exports only: the public names of SPEC.md importable as ``from ctxbudget import ...``.
"""

from ._util import utilization_pct
from .cache import CacheStatistics, TokenCountCache
from .claude_models import ClaudeModel
from .counter import Counter, TokenCount, TokenCounter, backend_for
from .errors import (
    BudgetNotConfiguredError,
    ConfigError,
    CtxBudgetError,
    TokenizerLoadError,
    UnknownModelError,
)
from .metrics import PerformanceMetrics
from .registry import ModelSpec, resolve_model
from .tokenizers.base import TokenizerBackend, TokenizerType
from .tokenizers.factory import MODEL_MAPPINGS, TokenizerFactory, set_claude_model
from .truncate import TruncateResult, fits, truncate

__version__ = "0.1.0"

__all__ = [
    "MODEL_MAPPINGS",
    "BudgetNotConfiguredError",
    "CacheStatistics",
    "ClaudeModel",
    "ConfigError",
    "Counter",
    "CtxBudgetError",
    "ModelSpec",
    "PerformanceMetrics",
    "TokenCount",
    "TokenCountCache",
    "TokenCounter",
    "TokenizerBackend",
    "TokenizerFactory",
    "TokenizerLoadError",
    "TokenizerType",
    "TruncateResult",
    "UnknownModelError",
    "__version__",
    "backend_for",
    "fits",
    "resolve_model",
    "set_claude_model",
    "truncate",
    "utilization_pct",
]
