"""The interactive trimmer: choose which rules stay, against a live budget.

``InteractiveTrimmer`` is the state (protected rules, the prioritizer's suggestion, toggles, sessions);
``TextLayout`` writes a selection as ``fit`` does. The Textual screen (``trimmer.tui``) is imported only by
``ctxbudget trim`` when it runs on a terminal.
"""

from .engine import SORT_ORDERS, InteractiveTrimmer
from .layout import TextLayout
from .model import BudgetVisualization, RuleDisplay, TrimDecision, TrimDecisionType, TrimSession

__all__ = [
    "SORT_ORDERS", "BudgetVisualization", "InteractiveTrimmer", "RuleDisplay", "TextLayout", "TrimDecision",
    "TrimDecisionType", "TrimSession",
]
