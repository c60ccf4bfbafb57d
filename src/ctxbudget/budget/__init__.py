"""Budget allocation: strategies, compression and the TokenBudgetManager."""

from .compression import CompressionStrategy
from .manager import BudgetAllocation, TokenBudgetManager
from .strategies import AllocationStrategy

__all__ = ["AllocationStrategy", "BudgetAllocation", "CompressionStrategy", "TokenBudgetManager"]
